//! Drives an engine with a reasoner and writes its events: the I/O edge of a headless run. The
//! loop itself is `engine::drive`; here are its hooks for recording, sinks and repairs.

use super::signals::interrupted;
use super::writer::BackgroundWriter;
use super::RunError;
use crate::engine::config::Config;
use crate::engine::protocol::{AnswerError, ReasonAnswer, ReasonRequest, Reasoner};
use crate::engine::{self, Engine, Flow, Hooks, Poll, WorldSpec};
use crate::inputs::dataset::{load_dataset, Dataset};
use crate::inputs::scenario::load_scenario;
use crate::reasoner::offline::Offline;
use crate::store::session::{Header, SessionWriter, SourceRef};
use crate::world::event::{Event, EventBody};
use crate::world::World;
use std::collections::BTreeMap;
use std::path::Path;

type Result<T> = std::result::Result<T, RunError>;

/// What a run starts from, resolved from `--scenario` or `--dataset`.
pub struct Source {
    pub spec: WorldSpec,
    pub source: SourceRef,
    pub config_tables: Vec<toml::Table>,
    /// The dataset it came from, if any (its validation split can score each round).
    pub dataset: Option<Dataset>,
}

pub fn resolve_source(scenario: Option<&str>, dataset: Option<&Path>, seed: u64) -> Result<Source> {
    match (scenario, dataset) {
        (Some(s), None) => {
            let sc = load_scenario(s, seed)?;
            Ok(Source {
                source: SourceRef { kind: "scenario".into(), name: sc.name.clone(), path: sc.source.clone(), digest: sc.digest.clone() },
                config_tables: vec![sc.config.clone()],
                spec: sc.spec,
                dataset: None,
            })
        }
        (None, Some(d)) => {
            let ds = load_dataset(d, seed)?;
            let digest = crate::inputs::dataset::digest(d)?;
            Ok(Source {
                spec: ds.world_spec(seed),
                source: SourceRef { kind: "dataset".into(), name: ds.name.clone(), path: d.display().to_string(), digest },
                config_tables: Vec::new(),
                dataset: Some(ds),
            })
        }
        (Some(_), Some(_)) => Err(RunError::Refused("give --scenario or --dataset, not both".into())),
        (None, None) => Err(RunError::Refused("give --scenario FILE|demo or --dataset DIR".into())),
    }
}

/// Hooks that fill in ill-fitting answers offline and hand every batch to a sink.
struct Sink<F> {
    sink: F,
    offline: Offline,
}

impl<F: FnMut(&[Event]) -> Result<()>> Hooks for Sink<F> {
    type Error = RunError;

    fn events(&mut self, engine: &mut Engine, events: Vec<Event>) -> Result<Flow> {
        (self.sink)(&events)?;
        // A signal stops a fork's re-run (or a headless demo) at the next stage boundary.
        if interrupted() {
            return Err(RunError::Interrupted(format!("interrupted at step {}", engine.world().steps().saturating_sub(1))));
        }
        Ok(Flow::Continue)
    }

    fn repair(&mut self, requests: &[ReasonRequest], answers: Vec<ReasonAnswer>, _: AnswerError) -> Result<Vec<ReasonAnswer>> {
        Ok(self.offline.fill_in(requests, answers))
    }
}

/// Run an engine to its end, handing every batch to `sink` (the engine hands out events at stage
/// boundaries and before every reasoning request). Answers that do not fit are made offline.
pub fn drive(engine: &mut Engine, reasoner: &mut dyn Reasoner, sink: impl FnMut(&[Event]) -> Result<()>) -> Result<()> {
    // The sink polls the flag at every stage boundary.
    let _polled = super::signals::cooperate();
    engine::drive(engine, reasoner, &mut Sink { sink, offline: Offline::new() }).map(|_| ())
}

pub fn header_for(source: &Source, seed: u64, rounds: u32, config: &Config) -> Header {
    Header::new(source.source.clone(), seed, rounds, config.clone())
}

/// Told the engine and each batch of events it hands out (a progress bar).
pub type Progress<'a> = Box<dyn FnMut(&Engine, &[Event]) + 'a>;
/// Metrics of a world, by name.
pub type RoundMetrics<'a> = Box<dyn Fn(&World) -> BTreeMap<String, f64> + 'a>;

/// What a recorded run reports on the way; both optional.
#[derive(Default)]
pub struct RecordHooks<'a> {
    /// After every batch the engine hands out: the engine and the batch.
    pub progress: Option<Progress<'a>>,
    /// Metrics of the world at the end of each round, recorded as a `metrics` event on the
    /// validation split (dataset runs pass the evaluation's).
    pub round_metrics: Option<RoundMetrics<'a>>,
}

struct Recorder<'a> {
    /// Taken by `finish`; until then always here.
    writer: Option<BackgroundWriter>,
    pending: Vec<Event>,
    hooks: RecordHooks<'a>,
    rounds: u32,
    offline: Offline,
    /// The reasoner answers at once: events are handed over in batches of `BATCH`, not at
    /// every stage and question (each hand-over woke the writer's thread).
    batched: bool,
}

/// Events handed to the writer at once when the reasoner keeps nobody waiting.
const BATCH: usize = 2048;

impl Recorder<'_> {
    /// Hand what is pending to the writer's thread.
    fn flush(&mut self) -> Result<()> {
        match &mut self.writer {
            Some(w) => Ok(w.send(std::mem::take(&mut self.pending))?),
            None => Ok(()),
        }
    }

    /// `flush`, or when batching only once a batch is full.
    fn flush_when_due(&mut self) -> Result<()> {
        if self.batched && self.pending.len() < BATCH {
            return Ok(());
        }
        self.flush()
    }

    /// Hand over what is left, whatever stopped the run (the pending events end at a stage, so
    /// the file stays a whole prefix), and wait for the writer: it back, and the first failure.
    fn finish(mut self) -> (crate::store::session::SessionWriter, std::result::Result<(), crate::store::StoreError>) {
        let mut writer = self.writer.take().expect("a recorder is finished once");
        let sent = writer.send(std::mem::take(&mut self.pending));
        let (writer, written) = writer.finish();
        // A hand-over that failed stopped the writer already, with the error to report.
        (writer, sent.and(written))
    }

    fn metrics(&mut self, engine: &mut Engine, round: u32) -> Result<()> {
        if let Some(f) = &self.hooks.round_metrics {
            let mut values = f(engine.world());
            values.insert("round".into(), round as f64);
            engine
                .inject(EventBody::Metrics { split: "valid".into(), values })
                .map_err(|e| RunError::Drive(crate::engine::DriveError::Refused(format!("round {round}'s metrics were refused: {e}"))))?;
            if let Poll::Events(evs) = engine.poll_recorded() {
                self.pending.extend(evs);
            }
        }
        Ok(())
    }
}

/// Unwinding from a panic, what is pending is handed over too (it ends at a stage, as at
/// `finish`), and the writer's thread is joined as the `BackgroundWriter` drops.
impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        if let Some(w) = &mut self.writer {
            let _ = w.send(std::mem::take(&mut self.pending));
        }
    }
}

impl Hooks for Recorder<'_> {
    type Error = RunError;

    fn events(&mut self, engine: &mut Engine, events: Vec<Event>) -> Result<Flow> {
        // A round ends where the next begins (and at the end of the run): score it.
        let next_round = events.iter().find_map(|e| match e.body {
            EventBody::RoundStarted { index } if index > 0 => Some(index),
            _ => None,
        });
        if let Some(p) = &mut self.hooks.progress {
            p(engine, &events);
        }
        self.pending.extend(events);
        if let Some(r) = next_round {
            self.metrics(engine, r)?;
        }
        self.flush_when_due()?;
        if interrupted() {
            return Err(RunError::Interrupted(format!(
                "interrupted at step {}: the session is complete up to there",
                engine.world().steps().saturating_sub(1)
            )));
        }
        Ok(Flow::Continue)
    }

    fn recorded(&mut self, _engine: &mut Engine, events: Vec<Event>) -> Result<()> {
        // Whatever the reasoner recorded is kept, even when it then failed (`finish`).
        self.pending.extend(events);
        self.flush_when_due()
    }

    fn before_reason(&mut self, _engine: &mut Engine) -> Result<()> {
        self.flush_when_due()
    }

    fn repair(&mut self, requests: &[ReasonRequest], answers: Vec<ReasonAnswer>, _: AnswerError) -> Result<Vec<ReasonAnswer>> {
        Ok(self.offline.fill_in(requests, answers))
    }

    fn done(&mut self, engine: &mut Engine) -> Result<()> {
        self.metrics(engine, self.rounds)?;
        self.flush()
    }
}

/// Run and record a whole session to `out`. The run takes `spec` (`source.spec`, taken out by the
/// caller): the engine holds its schedule and makes its agents, so neither is held twice.
#[allow(clippy::too_many_arguments)]
pub fn record(
    source: &Source,
    spec: WorldSpec,
    config: Config,
    seed: u64,
    rounds: u32,
    out: &Path,
    reasoner: &mut dyn Reasoner,
    hooks: RecordHooks,
) -> Result<(Engine, u64)> {
    let header = header_for(source, seed, rounds, &config);
    let writer = SessionWriter::create_atomic(out, &header)?;
    record_to(spec, config, seed, rounds, writer, reasoner, hooks)
}

/// `record` into a writer already holding the header (`header_for` makes it): standard output,
/// for one. The run takes `spec`, as `record` does.
pub fn record_to(
    spec: WorldSpec,
    config: Config,
    seed: u64,
    rounds: u32,
    writer: SessionWriter,
    reasoner: &mut dyn Reasoner,
    hooks: RecordHooks,
) -> Result<(Engine, u64)> {
    // The recorder polls the flag at every stage boundary and keeps the prefix written so far,
    // up to and including putting the session in place.
    let _polled = super::signals::cooperate();
    let Some(mut engine) = Engine::from_spec_unless(spec, config, seed, rounds, &interrupted) else {
        // Nothing but the header was written.
        let kept = abandon(writer).map(|dest| format!("; {dest} is as it was")).unwrap_or_default();
        return Err(RunError::Interrupted(format!("interrupted while the world was set up, before any event was written{kept}")));
    };
    // The engine never waits on JSON or the disk, only on a writer more than a few batches behind.
    let writer = BackgroundWriter::spawn(writer)?;
    let batched = reasoner.answers_at_once();
    let mut recorder = Recorder { writer: Some(writer), pending: Vec::new(), hooks, rounds, offline: Offline::new(), batched };
    let result = engine::drive(&mut engine, reasoner, &mut recorder);
    let (writer, written_all) = recorder.finish();
    // A write that failed after the engine's last look at the writer fails the run all the same.
    let result = match (result, written_all) {
        (Ok(_), Err(e)) => Err(e.into()),
        // The failed write comes first: it is why the file is not a whole prefix.
        (Err(run), Err(write)) => Err(RunError::Stopped { error: Box::new(write.into()), note: format!("the run had also stopped: {run}") }),
        (result, _) => result,
    };
    let written = writer.events_written;
    let Err(e) = result else {
        writer.finish()?;
        return Ok((engine, written));
    };
    // A world cut off halfway through its setup is no session to keep: it has agents but no
    // routers, and nothing could be forked or evaluated from it.
    if engine.setting_up() {
        let kept = abandon(writer);
        // Not "complete up to there": the prefix of a setup is thrown away.
        if matches!(e, RunError::Interrupted(_)) {
            let kept = kept.map(|dest| format!("; {dest} is as it was")).unwrap_or_default();
            return Err(RunError::Interrupted(format!("interrupted while the world was set up: no session was written{kept}")));
        }
        let note = match kept {
            Some(dest) => format!("the world's setup was cut short: no session was written, {dest} is as it was"),
            None => "the world's setup was cut short: what was written is not a session to use".into(),
        };
        return Err(RunError::Stopped { error: Box::new(e), note });
    }
    // A stopped run (a signal, a model that gave up) keeps its valid prefix; a failed write
    // (a full disk, the file-size limit) leaves the destination as it was.
    if !writer.is_atomic() {
        return Err(e);
    }
    let (failed, dest) = (writer.failed, writer.path().to_path_buf());
    match (failed, writer.finish()) {
        (_, Ok(None)) => Err(e),
        (true, _) => Err(RunError::Stopped { error: Box::new(e), note: format!("no session was written: {} is as it was", dest.display()) }),
        (false, Ok(Some(dest))) => {
            Err(RunError::Stopped { error: Box::new(e), note: format!("the session up to the last completed stage is in {}", dest.display()) })
        }
        (false, Err(kept)) => Err(RunError::Stopped { error: Box::new(e), note: format!("and the session could not be kept: {kept}") }),
    }
}

/// Give up a session not worth keeping: an atomic output vanishes on drop and whatever was at its
/// destination stays (that destination is returned); a stream keeps what it already sent (`None`).
fn abandon(writer: SessionWriter) -> Option<String> {
    writer.is_atomic().then(|| writer.path().display().to_string())
}
