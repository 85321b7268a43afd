//! Parquet straight into the log: Arrow columns are validated row by row with the contract's
//! rules (`validate_row`, the same as every reader) and interned without building an event, and
//! decoding runs on a second thread ahead of the interning.
//!
//! This is where the time of a cohort or funnel query over a big file goes, so it skips what
//! the query does not need (the text column unless asked for).

use std::path::Path;
use std::sync::mpsc::sync_channel;

use arrow_array::{RecordBatch, RecordBatchReader};

use super::log::{LogBuilder, LogOptions, Row};
use crate::journey::arrow_columns::{NumberColumn, StrColumn, TimeColumn};
use crate::journey::reader::row::{validate_row, CellError, RawFields};
use crate::journey::reader::{
    check_event_types, open_parquet, Progress, ProgressUnit, DEFAULT_CHUNK_ROWS, EVENT_COLUMNS,
    REQUIRED_EVENT_COLUMNS,
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
        .filter(|&c| options.text || c != "text")
        .collect();
    let (reader, total) = open_parquet(
        path,
        Some(&wanted),
        &REQUIRED_EVENT_COLUMNS,
        DEFAULT_CHUNK_ROWS * 4,
    )?;
    check_event_types(path, &reader.schema())?;
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
    let column = |name: &str| batch.column_by_name(name);
    // Types were checked at open; a missing optional column is simply absent.
    let ids = column("customer_id").and_then(|c| StrColumn::new(c, true));
    let times = column("timestamp").and_then(TimeColumn::new);
    let types = column("event_type").and_then(|c| StrColumn::new(c, false));
    let channels = column("channel").and_then(|c| StrColumn::new(c, false));
    let actions = column("action_id").and_then(|c| StrColumn::new(c, true));
    let values = column("value").and_then(NumberColumn::new);
    let texts = column("text").and_then(|c| StrColumn::new(c, false));
    let anonymous = column("anonymous_id").and_then(|c| StrColumn::new(c, true));
    for i in 0..batch.num_rows() {
        *row += 1;
        let id = ids.as_ref().and_then(|c| c.get(i));
        let event_type = types.as_ref().and_then(|c| c.get(i));
        let channel = channels.as_ref().and_then(|c| c.get(i));
        let action = actions.as_ref().and_then(|c| c.get(i));
        let text = texts.as_ref().and_then(|c| c.get(i));
        let anonymous_id = anonymous.as_ref().and_then(|c| c.get(i));
        let fields = RawFields {
            customer_id: id.as_deref(),
            timestamp: times
                .as_ref()
                .map_or(Ok(None), |c| c.get(i))
                .map_err(|problem| CellError::Timestamp(problem.to_string())),
            event_type: event_type.as_deref(),
            channel: channel.as_deref(),
            action_id: action.as_deref(),
            value: Ok(values.as_ref().and_then(|c| c.get(i))),
            text: text.as_deref(),
            anonymous_id: anonymous_id.as_deref(),
        };
        let valid = validate_row(*row, fields).map_err(|p| p.into_error(path))?;
        builder.push_row(Row {
            customer_id: valid.customer_id,
            time: valid.timestamp.0,
            event_type: valid.event_type,
            channel: valid.channel,
            action_id: valid.action_id,
            value: valid.value,
            text: valid.text,
            anonymous_id: valid.anonymous_id,
        });
    }
    Ok(())
}
