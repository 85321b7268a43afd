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
use crate::journey::reader::row::validate_row;
use crate::journey::reader::{
    check_event_types, open_parquet, EventColumns, Progress, ProgressUnit, DEFAULT_CHUNK_ROWS,
    EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS,
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
    let columns = EventColumns::new(batch);
    for i in 0..batch.num_rows() {
        *row += 1;
        let cells = columns.cells(i);
        let valid = validate_row(*row, cells.fields()).map_err(|p| p.into_error(path))?;
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
