//! Decoding on a background thread, so that decoding and the caller's work run on both cores.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{EventChunk, EventReader, Progress};
use crate::journey::error::{JourneyError, Result};

impl EventReader {
    /// Moves decoding to a background thread that stays up to `depth` chunks ahead, so that
    /// decoding and the caller's work (featurising) run on both cores.
    pub fn prefetch(self, depth: usize) -> PrefetchReader {
        let (sender, receiver) = sync_channel(depth.max(1));
        let first = self.progress();
        let done = Arc::new(AtomicU64::new(first.done));
        let shared = done.clone();
        let self_path = self.path.clone();
        let mut reader = self;
        let handle = std::thread::spawn(move || {
            while let Some(chunk) = reader.next() {
                shared.store(reader.progress().done, Ordering::Relaxed);
                if sender.send(chunk).is_err() {
                    break;
                }
            }
        });
        PrefetchReader {
            receiver,
            done,
            first,
            path: self_path,
            handle: Some(handle),
        }
    }
}

/// An [`EventReader`] running on its own thread; iterate it like the reader itself.
pub struct PrefetchReader {
    receiver: Receiver<Result<EventChunk>>,
    done: Arc<AtomicU64>,
    first: Progress,
    path: PathBuf,
    handle: Option<JoinHandle<()>>,
}

impl PrefetchReader {
    /// How far decoding has got (it may be ahead of what the caller has consumed).
    pub fn progress(&self) -> Progress {
        Progress {
            done: self.done.load(Ordering::Relaxed),
            ..self.first
        }
    }
}

impl Iterator for PrefetchReader {
    type Item = Result<EventChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.receiver.recv() {
            Ok(chunk) => Some(chunk),
            Err(_) => {
                // The channel closed: the decoder finished, or died. A death must not look like
                // the end of the file.
                match self.handle.take().map(|h| h.join()) {
                    Some(Err(_)) => Some(Err(JourneyError::malformed(
                        &self.path,
                        "the decoding thread failed before the end of the file",
                    ))),
                    _ => None,
                }
            }
        }
    }
}
