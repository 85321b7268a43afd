//! Parquet straight into the log: Arrow columns are validated row by row with the contract's
//! rules (`validate_row`, the same as every reader) and interned without building an event, and
//! decoding runs on a second thread ahead of the interning.
//!
//! This is where the time of a cohort or funnel query over a big file goes, so it skips what
//! the query does not need (the text column unless asked for; channel, action and value when
//! the analysis counts event types only), reads the string columns as dictionaries, and
//! interns each dictionary entry once per batch rather than hashing every row's strings.

use std::path::Path;
use std::sync::mpsc::sync_channel;

use arrow_array::{RecordBatch, RecordBatchReader};

use super::log::{Interned, LogBuilder, LogOptions, Row};
use crate::journey::reader::row::validate_row;
use crate::journey::reader::{
    check_event_types, open_parquet, EventColumns, Progress, ProgressUnit, DEFAULT_CHUNK_ROWS,
    DICTIONARY_EVENT_COLUMNS, EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS,
};
use crate::journey::JourneyError;

/// Batches decoded ahead of the interning.
const DEPTH: usize = 4;

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
    let (reader, total) = open_parquet(
        path,
        Some(&wanted),
        &REQUIRED_EVENT_COLUMNS,
        &DICTIONARY_EVENT_COLUMNS,
        DEFAULT_CHUNK_ROWS * 4,
    )?;
    check_event_types(path, &reader.schema())?;
    builder.reserve(usize::try_from(total).unwrap_or(0));
    let (sender, receiver) = sync_channel(DEPTH);
    let decoder = std::thread::spawn(move || {
        for batch in reader {
            let failed = batch.is_err();
            if sender.send(batch).is_err() || failed {
                break;
            }
        }
    });
    let mut row = 0u64;
    let mut outcome = Ok(());
    for batch in receiver.iter() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                outcome = Err(JourneyError::malformed(
                    path,
                    format!("cannot decode after row {row}: {e}"),
                ));
                break;
            }
        };
        if let Err(e) = add_batch(path, &batch, &mut row, builder) {
            outcome = Err(e);
            break;
        }
        progress(Progress {
            done: row,
            total: Some(total),
            unit: ProgressUnit::Rows,
        });
    }
    // Dropping the receiver stops the decoder at its next send.
    drop(receiver);
    if decoder.join().is_err() && outcome.is_ok() {
        outcome = Err(JourneyError::malformed(
            path,
            "the decoding thread failed before the end of the file",
        ));
    }
    outcome?;
    if row == 0 {
        return Err(JourneyError::Empty {
            file: path.to_path_buf(),
        });
    }
    Ok(())
}

fn add_batch(
    path: &Path,
    batch: &RecordBatch,
    row: &mut u64,
    builder: &mut LogBuilder,
) -> Result<(), JourneyError> {
    let columns = EventColumns::new(batch);
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
