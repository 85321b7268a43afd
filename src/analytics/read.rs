//! Parquet straight into the log: Arrow columns are checked against the contract's rules and
//! interned without building an event, and row groups decode on other threads ahead of the
//! interning.
//!
//! This is where the time of a cohort or funnel query over a big file goes, so it skips what
//! the query does not need (the text column unless asked for; channel, action and value when
//! the analysis counts event types only), reads the string columns as dictionaries, and works
//! a batch column by column: each dictionary entry is checked and interned once, the time
//! column is range-checked once and copied in one piece. A batch that does not fit that shape,
//! or might hold a bad row, goes row by row through `validate_row` (the rules every reader
//! shares), which names the first bad row exactly as it always has.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use arrow_array::{RecordBatch, RecordBatchReader};

use super::log::{Interned, LogBuilder, LogOptions, Row};
use crate::journey::arrow_columns::StrColumn;
use crate::journey::reader::row::{needs_both_ids, non_empty, validate_row};
use crate::journey::reader::{
    check_event_types, EventColumns, ParquetPlan, Progress, ProgressUnit, DEFAULT_CHUNK_ROWS,
    DICTIONARY_EVENT_COLUMNS, EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS,
};
use crate::journey::JourneyError;

/// Batches each decoding thread keeps ready ahead of the interning.
const DEPTH: usize = 4;

/// Decoding threads at most: row groups decode independently, and with the interning cheap,
/// decoding is most of the reading.
const MAX_DECODERS: usize = 4;

/// What a decoding thread hands over, row group by row group.
enum Decoded {
    Batch(RecordBatch),
    /// The row group is done.
    End,
    /// Decoding failed; the reason.
    Failed(String),
}

/// Reads a Parquet event file into `builder`; the first bad row is an error naming file, row
/// and column.
pub(super) fn read_parquet(
    path: &Path,
    options: LogOptions,
    builder: &mut LogBuilder,
    mut progress: impl FnMut(Progress),
) -> Result<(), JourneyError> {
    let wanted: Vec<&str> = EVENT_COLUMNS
        .iter()
        .copied()
        .filter(|&c| match c {
            "text" => options.text,
            "channel" | "action_id" | "value" => options.details,
            _ => true,
        })
        .collect();
    let plan = ParquetPlan::open(
        path,
        Some(&wanted),
        &REQUIRED_EVENT_COLUMNS,
        &DICTIONARY_EVENT_COLUMNS,
        DEFAULT_CHUNK_ROWS * 4,
    )?;
    check_event_types(path, &plan.reader(None)?.schema())?;
    let total = plan.total_rows;
    builder.reserve(usize::try_from(total).unwrap_or(0));
    let groups = plan.row_groups();
    let decoders = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_DECODERS)
        .min(groups.max(1));
    let mut row = 0u64;
    let mut scratch = Scratch::default();
    let outcome = std::thread::scope(|scope| {
        // Decoder `d` decodes row groups d, d + decoders, …; the groups are taken back in file
        // order, so rows are numbered and interned exactly as one reader would.
        let (receivers, decoding): (Vec<_>, Vec<_>) = (0..decoders)
            .map(|d| {
                let (sender, receiver) = sync_channel(DEPTH);
                let plan = &plan;
                let groups = (d..groups).step_by(decoders);
                (
                    receiver,
                    scope.spawn(move || decode_groups(plan, groups, &sender)),
                )
            })
            .collect();
        let read = take_groups(path, &receivers, groups, &mut row, |batch, row| {
            add_batch(path, batch, row, builder, &mut scratch)?;
            progress(Progress {
                done: *row,
                total: Some(total),
                unit: ProgressUnit::Rows,
            });
            Ok(())
        });
        // Dropping the receivers stops the decoders at their next send.
        drop(receivers);
        let failed = decoding.into_iter().any(|d| d.join().is_err());
        match read {
            Ok(()) if failed => Err(JourneyError::malformed(
                path,
                "a decoding thread failed before the end of the file",
            )),
            read => read,
        }
    });
    outcome?;
    if row == 0 {
        return Err(JourneyError::Empty {
            file: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Takes the row groups back in file order (group `g` from decoder `g % decoders`), handing each
/// batch to `add` with the count of rows before it.
fn take_groups(
    path: &Path,
    receivers: &[Receiver<Decoded>],
    groups: usize,
    row: &mut u64,
    mut add: impl FnMut(&RecordBatch, &mut u64) -> Result<(), JourneyError>,
) -> Result<(), JourneyError> {
    for group in 0..groups {
        loop {
            let batch = match receivers[group % receivers.len()].recv() {
                Ok(Decoded::Batch(batch)) => batch,
                Ok(Decoded::End) => break,
                Ok(Decoded::Failed(e)) => {
                    return Err(JourneyError::malformed(
                        path,
                        format!("cannot decode after row {row}: {e}"),
                    ))
                }
                Err(_) => {
                    return Err(JourneyError::malformed(
                        path,
                        "a decoding thread failed before the end of the file",
                    ))
                }
            };
            add(&batch, row)?;
        }
    }
    Ok(())
}

/// Decodes `groups` in order into `sender`, each followed by [`Decoded::End`]; stops at the first
/// failure, or when the receiver is gone.
fn decode_groups(
    plan: &ParquetPlan,
    groups: impl Iterator<Item = usize>,
    sender: &SyncSender<Decoded>,
) {
    for group in groups {
        let reader = match plan.reader(Some(group)) {
            Ok(reader) => reader,
            Err(e) => {
                let _ = sender.send(Decoded::Failed(e.to_string()));
                return;
            }
        };
        for batch in reader {
            let message = match batch {
                Ok(batch) => Decoded::Batch(batch),
                Err(e) => Decoded::Failed(e.to_string()),
            };
            let failed = matches!(message, Decoded::Failed(_));
            if sender.send(message).is_err() || failed {
                return;
            }
        }
        if sender.send(Decoded::End).is_err() {
            return;
        }
    }
}

fn add_batch(
    path: &Path,
    batch: &RecordBatch,
    row: &mut u64,
    builder: &mut LogBuilder,
    scratch: &mut Scratch,
) -> Result<(), JourneyError> {
    let columns = EventColumns::new(batch);
    if add_columns(&columns, batch.num_rows(), builder, scratch) {
        *row += batch.num_rows() as u64;
        return Ok(());
    }
    let [mut customers, mut types, mut channels, mut actions] =
        columns.dictionary_lens().map(KeyIndex::new);
    for i in 0..batch.num_rows() {
        *row += 1;
        let cells = columns.cells(i);
        let valid = validate_row(*row, cells.fields()).map_err(|p| p.into_error(path))?;
        let event = Row {
            customer_id: valid.customer_id,
            time: valid.timestamp.0,
            event_type: valid.event_type,
            channel: valid.channel,
            action_id: valid.action_id,
            value: valid.value,
            text: valid.text,
            anonymous_id: valid.anonymous_id,
        };
        let keys = columns.keys(i);
        // A visitor's row has no customer to key: its anonymous id decides.
        let customer_key = keys.customer_id.filter(|_| !event.customer_id.is_empty());
        let customer = customers.index(customer_key, || builder.customer_index(&event));
        let interned = Interned {
            kind: types.index(keys.event_type, || builder.type_index(event.event_type)),
            channel: channels.index(keys.channel, || builder.channel_index(event.channel)),
            action: actions.index(keys.action_id, || builder.action_index(event.action_id)),
        };
        builder.push_interned(&event, customer, interned);
    }
    Ok(())
}

/// A batch's columns as the log keeps them, reused from batch to batch.
#[derive(Default)]
struct Scratch {
    customer: Vec<u32>,
    kind: Vec<u32>,
    channel: Vec<u32>,
    action: Vec<u32>,
    value: Vec<f64>,
}

/// Adds a whole batch column by column when its columns show that every row passes the row
/// rules: the customer and event-type columns are dictionaries without nulls whose entries are
/// all non-blank (and no type is `identify`, which would need an anonymous id), the times are
/// integers without nulls and in range, the values finite; there is no text and no visitor.
/// Otherwise `false`, with the builder untouched: the row-by-row path then reads the batch.
fn add_columns(
    columns: &EventColumns<'_>,
    rows: usize,
    builder: &mut LogBuilder,
    scratch: &mut Scratch,
) -> bool {
    // Text is stored per row, and visitors need identity links.
    if columns.texts.is_some()
        || columns
            .anonymous
            .as_ref()
            .is_some_and(|c| !c.all_null(rows))
    {
        return false;
    }
    let Some(times) = columns.times.as_ref().and_then(|c| c.all_micros()) else {
        return false;
    };
    let (Some(ids), Some(types)) = (
        required(columns.ids.as_ref()),
        required(columns.types.as_ref()),
    ) else {
        return false;
    };
    if times.len() != rows || types.1.iter().any(|t| needs_both_ids(t)) {
        return false;
    }
    let details = builder.keeps_details();
    let (channels, actions) = if details {
        let (Some(channels), Some(actions)) = (
            optional(columns.channels.as_ref()),
            optional(columns.actions.as_ref()),
        ) else {
            return false;
        };
        let finite = match &columns.values {
            Some(values) => values.fill_finite(rows, &mut scratch.value),
            None => {
                scratch.value.clear();
                scratch.value.resize(rows, f64::NAN);
                true
            }
        };
        if !finite {
            return false;
        }
        (channels, actions)
    } else {
        scratch.value.clear();
        (None, None)
    };
    // Every row is valid: intern in row order, as the row-by-row path does, so every index
    // comes out the same.
    let (keys, entries) = ids;
    in_row_order(keys, entries.len(), &mut scratch.customer, |k| {
        builder.customer_id_index(entries[k])
    });
    let (keys, entries) = types;
    in_row_order(keys, entries.len(), &mut scratch.kind, |k| {
        builder.type_index(entries[k])
    });
    for (column, out, channel) in [
        (channels, &mut scratch.channel, true),
        (actions, &mut scratch.action, false),
    ] {
        out.clear();
        match column {
            _ if !details => {}
            None => out.resize(rows, 0),
            Some((keys, entries)) => {
                in_row_order(keys, entries.len(), out, |k| match entries.get(k) {
                    Some(&name) if channel => builder.channel_index(name),
                    Some(&name) => builder.action_index(name),
                    None => 0,
                })
            }
        }
    }
    builder.extend_columns(
        &scratch.customer,
        &times,
        &scratch.kind,
        (&scratch.channel, &scratch.action, &scratch.value),
    );
    true
}

/// A dictionary column's per-row keys and its entries as the row rules read them.
type Cleaned<'c, T> = (&'c [usize], Vec<T>);

/// A required string column's per-row keys and cleaned entries, when it is a dictionary
/// with no null row and no blank entry.
fn required<'c>(column: Option<&'c StrColumn<'_>>) -> Option<Cleaned<'c, &'c str>> {
    let (keys, entries) = column?.dictionary()?;
    let clean = entries
        .iter()
        .map(|e| non_empty(e.as_deref()))
        .collect::<Option<Vec<&str>>>()?;
    keys.iter()
        .all(|&k| k < clean.len())
        .then_some((keys, clean))
}

/// An optional string column's per-row keys and cleaned entries (`None`: blank): `Some(None)`
/// when the file does not have it, `None` when it is not a dictionary.
fn optional<'c>(column: Option<&'c StrColumn<'_>>) -> Option<Option<Cleaned<'c, Option<&'c str>>>> {
    let Some(column) = column else {
        return Some(None);
    };
    let (keys, entries) = column.dictionary()?;
    let clean = entries.iter().map(|e| non_empty(e.as_deref())).collect();
    Some(Some((keys, clean)))
}

/// Each row's index into `out`, looking each key up the first time a row uses it (so new
/// names are interned in row order); a key past the entries (a null row) looks up `usize::MAX`.
fn in_row_order(
    keys: &[usize],
    entries: usize,
    out: &mut Vec<u32>,
    mut lookup: impl FnMut(usize) -> u32,
) {
    const UNSEEN: u32 = u32::MAX;
    let mut index = vec![UNSEEN; entries];
    out.clear();
    out.extend(keys.iter().map(|&k| match index.get_mut(k) {
        Some(slot) => {
            if *slot == UNSEEN {
                *slot = lookup(k);
            }
            *slot
        }
        None => lookup(k),
    }));
}

/// One dictionary column of a batch: the log's index of each entry, looked up the first time a
/// row uses it. Sound because validation is a function of the cell's text, so every row with
/// the same key validates and interns to the same index.
struct KeyIndex(Vec<u32>);

impl KeyIndex {
    const UNSEEN: u32 = u32::MAX;

    fn new(entries: usize) -> Self {
        KeyIndex(vec![Self::UNSEEN; entries])
    }

    /// The index of the entry `key`, from `lookup` the first time; rows without a key (not a
    /// dictionary column, a null cell) always ask `lookup`.
    #[inline]
    fn index(&mut self, key: Option<usize>, lookup: impl FnOnce() -> u32) -> u32 {
        match key.and_then(|k| self.0.get_mut(k)) {
            Some(slot) => {
                if *slot == Self::UNSEEN {
                    *slot = lookup();
                }
                *slot
            }
            None => lookup(),
        }
    }
}
