//! A session written on a thread of its own: the engine hands over each batch of events and goes
//! on, while JSON and the disk take their time behind it. Batches are written and flushed in the
//! order they were handed over, so the file is the one a writer in line would have written.

use crate::store::session::SessionWriter;
use crate::store::StoreError;
use crate::world::event::Event;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// Batches in flight before the engine waits for the disk: enough to ride out a slow write, few
/// enough that memory stays bounded (a batch is a stage's events with a model, ~2048 events with
/// the offline reasoner).
const IN_FLIGHT: usize = 32;

type Outcome = (SessionWriter, Result<(), StoreError>);

pub struct BackgroundWriter {
    tx: Option<SyncSender<Vec<Event>>>,
    thread: Option<JoinHandle<Outcome>>,
    /// The writer, back from its thread once it stopped (on a failed write, or at `finish`).
    stopped: Option<SessionWriter>,
}

impl BackgroundWriter {
    pub fn spawn(writer: SessionWriter) -> std::io::Result<BackgroundWriter> {
        let (tx, rx) = sync_channel::<Vec<Event>>(IN_FLIGHT);
        let thread = std::thread::Builder::new().name("session-writer".into()).spawn(move || {
            let mut writer = writer;
            for batch in rx {
                // The first failure stops the thread: what follows would not be a whole prefix.
                if let Err(e) = batch.iter().try_for_each(|ev| writer.write(ev)).and_then(|_| writer.flush()) {
                    return (writer, Err(e));
                }
            }
            (writer, Ok(()))
        })?;
        Ok(BackgroundWriter { tx: Some(tx), thread: Some(thread), stopped: None })
    }

    /// Hand a batch over. Fails with the writer's error once a write has failed (the batches
    /// handed over after that one are not written).
    pub fn send(&mut self, batch: Vec<Event>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else { return Err(StoreError::Other(format!("{}: the session writer stopped", self.path_hint()))) };
        if tx.send(batch).is_ok() {
            return Ok(());
        }
        // The thread only hangs up when a write failed: its error is the one to report.
        self.stop()
    }

    fn path_hint(&self) -> String {
        self.stopped.as_ref().map(|w| w.path().display().to_string()).unwrap_or_default()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        self.tx = None;
        let Some(thread) = self.thread.take() else { return Ok(()) };
        let (writer, result) = match thread.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        self.stopped = Some(writer);
        result
    }

    /// Wait until everything handed over is written; the writer back, and the first failure if a
    /// write failed. (Dropped instead, on an unwinding panic, the writer is joined all the same, so
    /// the session is in its final state before the process goes on.)
    pub fn finish(mut self) -> Outcome {
        let result = self.stop();
        (self.stopped.take().expect("the writer is back once stopped"), result)
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
