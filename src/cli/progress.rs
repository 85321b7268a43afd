//! Progress bars on stderr (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use nextbest::journey::reader::{Progress, ProgressUnit};

/// A bar for `total` items of `unit`.
pub fn bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg:>12} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar
}

/// A bar that follows a reader's progress (rows for Parquet, bytes for text files).
pub fn reader_bar(progress: Progress, message: &str) -> ProgressBar {
    let total = progress.total.unwrap_or(0);
    let bar = bar(total, message);
    if progress.unit == ProgressUnit::Bytes {
        let style = ProgressStyle::with_template(
            "{msg:>12} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
    }
    bar
}

/// A spinner for work of unknown length.
pub fn spinner(message: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(message.to_string());
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}
