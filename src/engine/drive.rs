//! The one loop that drives an engine: poll, hand events to the caller, ask the reasoner, answer.
//! Everything that runs an engine (a recorded run, a fork, the inspector's live run, `run_to_end`)
//! goes through `drive` and differs only in its `Hooks`.

use super::protocol::{check_answers, AnswerError, ReasonAnswer, ReasonRequest, Reasoner};
use super::{Engine, Poll};
use crate::world::event::Event;

/// Why a drive stopped before the engine was done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriveError {
    /// The reasoner failed for good (e.g. a dead endpoint after its retries).
    #[error("{0}")]
    Fatal(String),
    /// The reasoner's answers did not fit the requests and the hooks did not repair them.
    #[error("the reasoner answered out of shape: {0}")]
    Answer(#[from] AnswerError),
    /// The engine refused an event: one of its own (a defect, it stopped there) or one handed to
    /// it (a model exchange); every event before it was handed out.
    #[error("{0}")]
    Refused(String),
}

/// Whether to keep going after a batch of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Pause,
}

/// How a drive ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A hook asked to pause; calling `drive` again carries on where it stopped.
    Paused,
}

/// What a caller does at each point of the loop. Errors are the caller's own type, so a driver
/// at the edge can stop with its I/O errors intact.
pub trait Hooks {
    type Error: From<DriveError>;

    /// Events the engine handed out (already applied to its world).
    fn events(&mut self, engine: &mut Engine, events: Vec<Event>) -> Result<Flow, Self::Error>;

    /// Events recorded while reasoning (the model exchanges, and what the answers changed).
    fn recorded(&mut self, engine: &mut Engine, events: Vec<Event>) -> Result<(), Self::Error> {
        self.events(engine, events).map(|_| ())
    }

    /// Just before the reasoner is asked, which may take long or fail.
    fn before_reason(&mut self, _engine: &mut Engine) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Answers that do not fit their requests: return ones that do, or the error to stop with.
    fn repair(&mut self, _requests: &[ReasonRequest], _answers: Vec<ReasonAnswer>, problem: AnswerError) -> Result<Vec<ReasonAnswer>, Self::Error> {
        Err(DriveError::Answer(problem).into())
    }

    /// The engine is done.
    fn done(&mut self, _engine: &mut Engine) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Drive `engine` with `reasoner` until it is done, a hook pauses, or something fails. A fatal
/// reasoner failure stops before anything half-done is answered; the exchanges it recorded are
/// still handed to `recorded` first.
pub fn drive<H: Hooks>(engine: &mut Engine, reasoner: &mut dyn Reasoner, hooks: &mut H) -> Result<Outcome, H::Error> {
    loop {
        match engine.poll() {
            Poll::Events(evs) => {
                if hooks.events(engine, evs)? == Flow::Pause {
                    return Ok(Outcome::Paused);
                }
            }
            Poll::Reason(reqs) => {
                hooks.before_reason(engine)?;
                let result = consult(engine, reasoner, hooks, &reqs);
                if let Poll::Events(evs) = engine.poll_recorded() {
                    if !evs.is_empty() {
                        hooks.recorded(engine, evs)?;
                    }
                }
                result?;
            }
            Poll::Done => {
                hooks.done(engine)?;
                return Ok(Outcome::Done);
            }
            Poll::Failed(why) => return Err(DriveError::Refused(why).into()),
        }
    }
}

fn consult<H: Hooks>(engine: &mut Engine, reasoner: &mut dyn Reasoner, hooks: &mut H, reqs: &[ReasonRequest]) -> Result<(), H::Error> {
    let mut answers = reasoner.answer(reqs);
    for body in reasoner.take_exchanges() {
        engine.inject(body).map_err(|e| DriveError::Refused(format!("a model exchange was refused: {e}")))?;
    }
    if let Some(e) = reasoner.fatal() {
        return Err(DriveError::Fatal(e).into());
    }
    if let Err(problem) = check_answers(reqs, &answers) {
        answers = hooks.repair(reqs, answers, problem)?;
    }
    engine.answer(answers).map_err(DriveError::from)?;
    Ok(())
}

/// Hooks that keep every event (`Engine::run_to_end`).
pub(super) struct Collect(pub(super) Vec<Event>);

impl Hooks for Collect {
    type Error = DriveError;

    fn events(&mut self, _engine: &mut Engine, events: Vec<Event>) -> Result<Flow, DriveError> {
        self.0.extend(events);
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::Config;
    use crate::engine::spec::{ClientSpec, Scheduled, WorldSpec};
    use crate::reasoner::offline::Offline;
    use crate::world::event::{ClientKind, EventBody};

    fn small_engine() -> Engine {
        let client = |id: &str, kind| ClientSpec { id: id.into(), kind, title: None, attrs: [("Jazz".to_string(), 0.8)].into(), rules: None };
        let spec = WorldSpec {
            name: "guard".into(),
            clients: vec![client("u1", ClientKind::User), client("u2", ClientKind::User), client("j1", ClientKind::Item), client("j2", ClientKind::Item)],
            schedule: vec![
                Scheduled { user: "u1".into(), item: "j1".into(), negative: None },
                Scheduled { user: "u2".into(), item: "j2".into(), negative: None },
            ],
        };
        Engine::new(&spec, Config::default(), 1, 1)
    }

    fn unknown_user() -> EventBody {
        EventBody::Interaction { user: "nobody".into(), item: "j1".into(), negative: None, index: 0 }
    }

    #[test]
    fn an_event_of_its_own_that_the_world_refuses_stops_the_engine_after_handing_out_the_rest() {
        let mut e = small_engine();
        let before = e.world().steps();
        e.emit(unknown_user());
        e.emit(EventBody::Metrics { split: "valid".into(), values: Default::default() });
        assert_eq!(e.world().steps(), before, "neither the refused event nor anything after it is applied");
        let mut handed = 0;
        let why = loop {
            match e.poll() {
                Poll::Events(evs) => handed += evs.len(),
                Poll::Failed(why) => break why,
                Poll::Reason(_) | Poll::Done => panic!("a faulted engine must not go on"),
            }
        };
        assert_eq!(handed as u64, before, "every event before the fault is handed out");
        assert!(why.contains("interaction") && why.contains("nobody"), "{why}");
        assert!(matches!(e.poll(), Poll::Failed(_)), "and it stays stopped");
        let err = drive(&mut e, &mut Offline::new(), &mut Collect(Vec::new())).unwrap_err();
        assert!(matches!(err, DriveError::Refused(_)), "{err:?}");
    }

    #[test]
    fn an_injected_event_the_world_refuses_is_returned_and_the_run_goes_on() {
        let mut e = small_engine();
        let before = e.world().steps();
        let err = e.inject(unknown_user()).unwrap_err();
        assert!(err.0.contains("nobody"), "{err}");
        assert_eq!(e.world().steps(), before);
        let mut all = Collect(Vec::new());
        assert_eq!(drive(&mut e, &mut Offline::new(), &mut all).unwrap(), Outcome::Done);
        assert!(all.0.iter().any(|ev| matches!(&ev.body, EventBody::Interaction { user, .. } if user == "u2")), "the run went on to its end");
    }
}
