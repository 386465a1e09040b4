//! A live run in a background thread: the inspector asks for more events and never waits on the
//! engine (or a model) while drawing.

use crate::engine::{Engine, Poll};
use crate::world::event::Event;
use crate::engine::protocol::Reasoner;
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

pub enum LiveMsg {
    Events(Vec<Event>),
    Done,
    Failed(String),
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
            while let Ok(n) = want_rx.recv() {
                let mut batch = Vec::new();
                let mut finished = false;
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), String> {
                    while (batch.len() as u64) < n {
                        match engine.poll() {
                            Poll::Events(evs) => batch.extend(evs),
                            Poll::Reason(reqs) => {
                                if let Err(e) = crate::run::driver::consult(&mut engine, reasoner.as_mut(), &reqs) {
                                    if let Poll::Events(evs) = engine.poll_recorded() {
                                        batch.extend(evs);
                                    }
                                    return Err(e.to_string());
                                }
                            }
                            Poll::Done => {
                                finished = true;
                                break;
                            }
                        }
                    }
                    Ok(())
                }));
                if let Ok(Err(e)) = result {
                    let _ = got_tx.send(LiveMsg::Events(std::mem::take(&mut batch)));
                    let _ = got_tx.send(LiveMsg::Failed(e));
                    return;
                }
                if let Err(p) = result {
                    let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                    let _ = got_tx.send(LiveMsg::Failed(msg.unwrap_or_else(|| "engine stopped".into())));
                    return;
                }
                if !batch.is_empty() && got_tx.send(LiveMsg::Events(batch)).is_err() {
                    return;
                }
                if finished {
                    let _ = got_tx.send(LiveMsg::Done);
                    return;
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
