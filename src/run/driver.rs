//! Drives an engine with a reasoner and writes its events: the I/O edge of a headless run.

use crate::engine::config::Config;
use crate::inputs::dataset::load_dataset;
use crate::engine::{Engine, Poll, WorldSpec};
use crate::world::event::{Event, EventBody};
use crate::engine::protocol::Reasoner;
use crate::inputs::scenario::load_scenario;
use crate::store::session::{Header, SessionWriter, SourceRef};
use anyhow::{bail, Result};
use std::path::Path;

/// What a run starts from, resolved from `--scenario` or `--dataset`.
pub struct Source {
    pub spec: WorldSpec,
    pub source: SourceRef,
    pub config_tables: Vec<toml::Table>,
    /// Validation cases of a dataset: recorded runs write metrics events after every round.
    pub eval_cases: Option<Vec<crate::analysis::eval::Case>>,
}

pub fn resolve_source(scenario: Option<&str>, dataset: Option<&Path>, seed: u64) -> Result<Source> {
    match (scenario, dataset) {
        (Some(s), None) => {
            let sc = load_scenario(s, seed)?;
            Ok(Source {
                source: SourceRef { kind: "scenario".into(), name: sc.name.clone(), path: sc.source.clone(), digest: sc.digest.clone() },
                config_tables: vec![sc.config.clone()],
                spec: sc.spec,
                eval_cases: None,
            })
        }
        (None, Some(d)) => {
            let ds = load_dataset(d, seed)?;
            Ok(Source {
                eval_cases: crate::analysis::eval::cases(&ds, "valid").ok(),
                spec: ds.world_spec(seed),
                source: SourceRef { kind: "dataset".into(), name: ds.name.clone(), path: d.display().to_string(), digest: String::new() },
                config_tables: Vec::new(),
            })
        }
        (Some(_), Some(_)) => bail!("give --scenario or --dataset, not both"),
        (None, None) => bail!("give --scenario FILE|demo or --dataset DIR"),
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the inspector has the terminal (set by `tui::run`).
static TUI_ACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_tui_active(active: bool) {
    TUI_ACTIVE.store(active, std::sync::atomic::Ordering::SeqCst);
}

/// How long the inspector gets to leave on its own after a signal.
const TUI_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Catch SIGINT, SIGTERM and SIGHUP: runs stop at the next stage boundary with a valid session;
/// the inspector's loop sees the flag and leaves, restoring the terminal.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
        // When the terminal hangs up, crossterm 0.29 spins on the dead tty inside `poll` and
        // never returns to our loop (crossterm-rs/crossterm#793), so the inspector would burn a
        // core forever. Sessions are flushed stage by stage, so leaving here loses nothing.
        if TUI_ACTIVE.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(TUI_GRACE);
            if TUI_ACTIVE.load(std::sync::atomic::Ordering::SeqCst) {
                ratatui::restore();
                std::process::exit(130);
            }
        }
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Answer the engine's requests with `reasoner`, recording its exchanges as events first. A fatal
/// reasoner failure stops here, before anything half-done is recorded.
pub fn consult(engine: &mut Engine, reasoner: &mut dyn Reasoner, reqs: &[crate::engine::protocol::ReasonRequest]) -> Result<()> {
    let answers = reasoner.answer(reqs);
    for body in reasoner.take_exchanges() {
        engine.inject(body);
    }
    if let Some(e) = reasoner.fatal() {
        bail!("{e}");
    }
    engine.answer(answers);
    Ok(())
}

/// Run an engine to its end, writing every event and flushing at every batch boundary (the engine
/// hands out events at stage boundaries and before every reasoning request).
pub fn drive(
    engine: &mut Engine,
    reasoner: &mut dyn Reasoner,
    mut sink: impl FnMut(&[Event]) -> Result<()>,
) -> Result<()> {
    loop {
        match engine.poll() {
            Poll::Events(evs) => sink(&evs)?,
            Poll::Reason(reqs) => consult(engine, reasoner, &reqs)?,
            Poll::Done => return Ok(()),
        }
    }
}

pub fn header_for(source: &Source, seed: u64, rounds: u32, config: &Config) -> Header {
    Header::new(source.source.clone(), seed, rounds, config.clone())
}

/// Run and record a whole session to `out`.
pub fn record(
    source: &Source,
    config: Config,
    seed: u64,
    rounds: u32,
    out: &Path,
    reasoner: &mut dyn Reasoner,
    mut progress: impl FnMut(&Engine, &[Event]),
) -> Result<(Engine, u64)> {
    let header = header_for(source, seed, rounds, &config);
    let mut writer = SessionWriter::create(out, &header)?;
    let mut engine = Engine::new(&source.spec, config, seed, rounds);
    let mut pending: Vec<Event> = Vec::new();
    let metrics = |engine: &mut Engine, round: u32| {
        if let Some(cases) = &source.eval_cases {
            let mut values = crate::analysis::eval::world_metrics(engine.world(), cases);
            values.insert("round".into(), round as f64);
            engine.inject(EventBody::Metrics { split: "valid".into(), values });
        }
    };
    loop {
        match engine.poll() {
            Poll::Events(evs) => {
                // A round ends where the next begins (and at the end of the run): score it.
                let next_round = evs.iter().find_map(|e| match e.body {
                    EventBody::RoundStarted { index } if index > 0 => Some(index),
                    _ => None,
                });
                pending.extend(evs);
                if let Some(r) = next_round {
                    metrics(&mut engine, r);
                    if let Poll::Events(evs) = engine.poll_recorded() {
                        pending.extend(evs);
                    }
                }
            }
            Poll::Reason(reqs) => {
                flush(&mut writer, &mut pending)?;
                let result = consult(&mut engine, reasoner, &reqs);
                // Whatever the reasoner recorded is kept, even when it then failed.
                if let Poll::Events(evs) = engine.poll_recorded() {
                    pending.extend(evs);
                }
                flush(&mut writer, &mut pending)?;
                result?;
                continue;
            }
            Poll::Done => {
                metrics(&mut engine, rounds);
                if let Poll::Events(evs) = engine.poll_recorded() {
                    pending.extend(evs);
                }
                flush(&mut writer, &mut pending)?;
                break;
            }
        }
        progress(&engine, &pending);
        flush(&mut writer, &mut pending)?;
        if interrupted() {
            bail!(
                "interrupted at step {}: the session is complete up to there",
                engine.world().steps.saturating_sub(1)
            );
        }
    }
    Ok((engine, writer.events_written))
}

fn flush(writer: &mut SessionWriter, pending: &mut Vec<Event>) -> Result<()> {
    for ev in pending.drain(..) {
        writer.write(&ev)?;
    }
    writer.flush()
}
