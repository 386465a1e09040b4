//! A live run in a background thread: the inspector asks for more events and never waits on the
//! engine (or a model) while drawing.

use crate::engine::protocol::{AnswerError, ReasonAnswer, ReasonRequest, Reasoner};
use crate::engine::{self, DriveError, Engine, Flow, Hooks, Outcome};
use crate::reasoner::offline::Offline;
use crate::world::event::Event;
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

pub enum LiveMsg {
    Events(Vec<Event>),
    Done,
    Failed(String),
}

/// Hooks that gather events until the inspector has what it asked for, then pause.
struct Batch {
    batch: Vec<Event>,
    want: u64,
    offline: Offline,
}

impl Hooks for Batch {
    type Error = DriveError;

    fn events(&mut self, _engine: &mut Engine, events: Vec<Event>) -> Result<Flow, DriveError> {
        self.batch.extend(events);
        Ok(if self.batch.len() as u64 >= self.want { Flow::Pause } else { Flow::Continue })
    }

    fn repair(&mut self, requests: &[ReasonRequest], answers: Vec<ReasonAnswer>, _: AnswerError) -> Result<Vec<ReasonAnswer>, DriveError> {
        Ok(self.offline.fill_in(requests, answers))
    }
}

pub struct Live {
    want: Sender<u64>,
    got: Receiver<LiveMsg>,
    pub requested: bool,
    pub done: bool,
    _thread: JoinHandle<()>,
}

impl Live {
    pub fn start(mut engine: Engine, mut reasoner: Box<dyn Reasoner + Send>) -> Live {
        let (want_tx, want_rx) = channel::<u64>();
        let (got_tx, got_rx) = channel::<LiveMsg>();
        let thread = std::thread::spawn(move || {
            let mut hooks = Batch { batch: Vec::new(), want: 0, offline: Offline::new() };
            while let Ok(n) = want_rx.recv() {
                hooks.want = n;
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine::drive(&mut engine, reasoner.as_mut(), &mut hooks)));
                let batch = std::mem::take(&mut hooks.batch);
                match result {
                    Ok(Ok(outcome)) => {
                        if !batch.is_empty() && got_tx.send(LiveMsg::Events(batch)).is_err() {
                            return;
                        }
                        if outcome == Outcome::Done {
                            let _ = got_tx.send(LiveMsg::Done);
                            return;
                        }
                    }
                    Ok(Err(e)) => {
                        let _ = got_tx.send(LiveMsg::Events(batch));
                        let _ = got_tx.send(LiveMsg::Failed(e.to_string()));
                        return;
                    }
                    Err(p) => {
                        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                        let _ = got_tx.send(LiveMsg::Failed(msg.unwrap_or_else(|| "engine stopped".into())));
                        return;
                    }
                }
            }
        });
        Live { want: want_tx, got: got_rx, requested: false, done: false, _thread: thread }
    }

    /// Ask for at least `n` more events (one request in flight at a time).
    pub fn request(&mut self, n: u64) {
        if !self.requested && !self.done && self.want.send(n).is_ok() {
            self.requested = true;
        }
    }

    /// Whatever arrived, without waiting.
    pub fn try_recv(&mut self) -> Vec<LiveMsg> {
        let mut out = Vec::new();
        loop {
            match self.got.try_recv() {
                Ok(m) => {
                    if matches!(m, LiveMsg::Done | LiveMsg::Failed(_)) {
                        self.done = true;
                    }
                    self.requested = false;
                    out.push(m);
                }
                Err(TryRecvError::Empty) => return out,
                Err(TryRecvError::Disconnected) => {
                    self.done = true;
                    return out;
                }
            }
        }
    }

    /// Wait for the answer to the request in flight (tests and scripted runs).
    pub fn recv_blocking(&mut self) -> Option<LiveMsg> {
        let m = self.got.recv().ok();
        self.requested = false;
        if matches!(m, None | Some(LiveMsg::Done) | Some(LiveMsg::Failed(_))) {
            self.done = true;
        }
        m
    }
}
