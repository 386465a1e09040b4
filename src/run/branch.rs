//! Forks: re-run a recorded session from a time step with one thing changed.
//!
//! A fork "at step t" restarts from the beginning of the time step that contains event t: the
//! branch shares the parent's events before that point, then records the edit as an event, then
//! whatever the engine does next. The branch file is self-contained (it repeats the shared
//! prefix) and its header names the parent and the fork step.

use crate::engine::config::Config;
use crate::engine::protocol::Reasoner;
use crate::engine::Engine;
use crate::run::driver::resolve_source;
use crate::run::RunError;
use crate::store::session::{Header, ParentRef};
use crate::store::timeline::Timeline;
use crate::world::event::{Event, EventBody};
use std::path::Path;
use std::sync::Arc;

type Result<T> = std::result::Result<T, RunError>;

/// Return early with `RunError::Refused` and a formatted message.
macro_rules! refuse {
    ($($arg:tt)*) => { return Err(RunError::Refused(format!($($arg)*))) };
}

#[derive(Debug, Clone, PartialEq)]
pub enum ForkEdit {
    /// Replace an agent's whole rule list.
    Rules { agent: String, rules: String },
    /// Change a router's knobs.
    Router { router: String, fan_out: Option<usize>, tau: Option<f64> },
    /// Change config knobs (`section.key=value`) for the rest of the run.
    Config { sets: Vec<String> },
}

impl ForkEdit {
    pub fn describe(&self) -> String {
        match self {
            ForkEdit::Rules { agent, rules } => {
                format!("rules of {agent} replaced ({} rule(s))", crate::rules::parse_rules(rules).map(|r| r.len()).unwrap_or(0))
            }
            ForkEdit::Router { router, fan_out, tau } => format!(
                "router {router}:{}{}",
                fan_out.map(|f| format!(" fan_out {f}")).unwrap_or_default(),
                tau.map(|t| format!(" tau {t}")).unwrap_or_default()
            ),
            ForkEdit::Config { sets } => format!("config {}", sets.join(" ")),
        }
    }
}

/// The step at which a fork "at `at`" starts: the first event of the time step containing `at`
/// (its `round_started` when the step opens a round).
pub fn fork_point(tl: &Timeline, at: u64) -> Result<u64> {
    let n = tl.len();
    if n == 0 {
        refuse!("the session has no events");
    }
    let mut i = at.min(n - 1);
    loop {
        let ev = tl.store.get(i)?;
        match ev.body {
            EventBody::TickStarted { .. } => {
                if i > 0 && matches!(tl.store.get(i - 1)?.body, EventBody::RoundStarted { .. }) {
                    return Ok(i - 1);
                }
                return Ok(i);
            }
            EventBody::RoundStarted { .. } => return Ok(i),
            _ => {}
        }
        if i == 0 {
            break;
        }
        i -= 1;
    }
    // Before the first time step: fork right after the setup events.
    (0..n)
        .find(|i| matches!(tl.store.get(*i).map(|e| e.body), Ok(EventBody::RoundStarted { .. })))
        .ok_or_else(|| RunError::Refused("the session never starts a round: nothing to re-run".into()))
}

/// Re-run from the fork point with `edit` applied. Returns the branch header and its events
/// (the shared prefix included).
pub fn fork(
    header: &Header,
    parent_path: &Path,
    tl: &mut Timeline,
    at: u64,
    edit: &ForkEdit,
    allow_changed_inputs: bool,
    reasoner: &mut dyn Reasoner,
) -> Result<(Header, Vec<Event>)> {
    let mut branch = None;
    let mut events = Vec::new();
    fork_streamed(header, parent_path, tl, at, edit, allow_changed_inputs, reasoner, &mut |piece| {
        match piece {
            Piece::Header(h) => branch = Some(h.clone()),
            Piece::Events(evs) => events.extend_from_slice(evs),
        }
        Ok(())
    })?;
    Ok((branch.expect("the header comes first"), events))
}

/// What `fork_streamed` hands out, in order: the branch's header once, then its events.
pub enum Piece<'a> {
    Header(&'a Header),
    Events(&'a [Event]),
}

/// `fork`, handing the branch out as it is made: the shared prefix read from the parent a chunk
/// at a time, then the re-run's events stage by stage. Memory follows the world, not the length
/// of the session (a whole branch in a vector took four times the file's size). Every check that
/// can refuse the fork runs before the header is handed out.
#[allow(clippy::too_many_arguments)]
pub fn fork_streamed(
    header: &Header,
    parent_path: &Path,
    tl: &mut Timeline,
    at: u64,
    edit: &ForkEdit,
    allow_changed_inputs: bool,
    reasoner: &mut dyn Reasoner,
    sink: &mut dyn FnMut(Piece) -> Result<()>,
) -> Result<()> {
    let point = fork_point(tl, at)?;
    let world = tl.state(point)?;
    let mut config: Config = header.config.clone();
    let body = match edit {
        ForkEdit::Rules { agent, rules } => {
            if world.client(agent).is_none() {
                refuse!("fork: no agent {} in the session at step {point}", crate::util::text::sanitize(agent, 40));
            }
            crate::rules::parse_rules(rules).map_err(|e| RunError::Refused(format!("fork: rules:{e}")))?;
            Some(EventBody::RulesReplaced { agent: agent.clone(), rules: rules.clone(), reason: "analyst edit (fork)".into() })
        }
        ForkEdit::Router { router, fan_out, tau } => {
            let Some(r) = world.router(router) else { refuse!("fork: no router {} at step {point}", crate::util::text::sanitize(router, 40)) };
            let tau = tau.unwrap_or(r.tau);
            if !(0.0..=1.0).contains(&tau) {
                refuse!("fork: tau {} must be between 0 and 1", crate::util::text::number(tau));
            }
            if *fan_out == Some(0) {
                refuse!("fork: fan-out 0 would reach nobody; give at least 1");
            }
            if let Some(f) = fan_out.filter(|f| *f > crate::world::FAN_OUT_LIMIT) {
                refuse!("fork: fan-out {f} is above the limit of {}", crate::world::FAN_OUT_LIMIT);
            }
            Some(EventBody::RouterEdited { router: router.clone(), fan_out: fan_out.unwrap_or(r.fan_out), tau, reason: "analyst edit (fork)".into() })
        }
        ForkEdit::Config { sets } => {
            if let Some((key, instead)) = sets.iter().find_map(|s| crate::engine::config::set_at_setup(s)) {
                refuse!("fork --set {key}: read once, when the world was made; a branch from step {point} would keep the parent's. To change it, {instead}");
            }
            let current: toml::Table = toml::Table::try_from(&config).map_err(RunError::ConfigTable)?;
            config = Config::from_layers(&[current], sets)?;
            None
        }
    };
    let path = if header.source.path == "builtin:demo" { "demo".to_string() } else { header.source.path.clone() };
    let (scenario, dataset) = match header.source.kind.as_str() {
        "dataset" => (None, Some(Path::new(&path))),
        _ => (Some(path.as_str()), None),
    };
    let src = resolve_source(scenario, dataset, header.seed).map_err(|e| RunError::Source { path: header.source.path.clone(), source: Box::new(e) })?;
    // A changed input re-runs a different world than the parent's prefix was recorded from. The
    // branch's header says which digest it ran with, so a caller who allowed it can tell.
    if !header.source.digest.is_empty() && src.source.digest != header.source.digest && !allow_changed_inputs {
        refuse!(
            "fork: {} changed since the session was recorded (digest {} ≠ {}); --allow-changed-inputs re-runs it as it is now",
            crate::util::text::sanitize(&header.source.path, 200),
            src.source.digest,
            header.source.digest
        );
    }
    let mut branch = header.clone();
    branch.config = config.clone();
    branch.source.digest = src.source.digest.clone();
    branch.parent = Some(ParentRef { path: parent_path.display().to_string(), fork_step: point, edit: edit.describe() });
    sink(Piece::Header(&branch))?;
    const CHUNK: u64 = 4096;
    for from in (0..point).step_by(CHUNK as usize) {
        sink(Piece::Events(&tl.store.range(from, (from + CHUNK).min(point))?))?;
    }
    let mut engine = Engine::resume(world, Arc::new(src.spec.schedule), config, header.rounds);
    if let Some(b) = body {
        engine.inject(b).map_err(|e| RunError::Refused(format!("fork at step {point}: the edit was refused: {e}")))?;
    }
    crate::run::driver::drive(&mut engine, reasoner, |evs| sink(Piece::Events(evs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::session::SourceRef;
    use crate::store::timeline::EventStore;

    /// The branch is handed out as it is made: the header first, then the shared prefix a chunk
    /// at a time (never the whole session in one piece), then the re-run; together the same
    /// events `fork` collects.
    #[test]
    fn a_fork_streams_its_branch() {
        let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
        let config = Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
        let mut engine = Engine::new(&sc.spec, config.clone(), 7, 12);
        let events = engine.run_to_end(&mut crate::reasoner::offline::Offline::new());
        let n = events.len() as u64;
        assert!(n > 9000, "too short a session to see chunks: {n}");
        let source = SourceRef { kind: "scenario".into(), name: "demo".into(), path: "builtin:demo".into(), digest: String::new() };
        let header = Header::new(source, 7, 12, config);
        let edit = ForkEdit::Config { sets: vec!["filter.enabled=false".into()] };
        let mut tl = Timeline::new(EventStore::memory(events.clone()), 0);
        let (_, whole) = fork(&header, Path::new("p.jsonl"), &mut tl, n - 50, &edit, false, &mut crate::reasoner::offline::Offline::new()).unwrap();
        let mut tl = Timeline::new(EventStore::memory(events), 0);
        let (mut pieces, mut streamed, mut header_first) = (Vec::new(), Vec::new(), None);
        fork_streamed(&header, Path::new("p.jsonl"), &mut tl, n - 50, &edit, false, &mut crate::reasoner::offline::Offline::new(), &mut |p| {
            match p {
                Piece::Header(h) => header_first = Some(streamed.is_empty() && h.parent.is_some()),
                Piece::Events(evs) => {
                    pieces.push(evs.len());
                    streamed.extend_from_slice(evs);
                }
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(header_first, Some(true));
        assert!(pieces.len() > 2 && pieces.iter().all(|p| *p <= 4096), "{pieces:?}");
        assert_eq!(serde_json::to_string(&streamed).unwrap(), serde_json::to_string(&whole).unwrap());
        // The diff of parent and branch, read a chunk at a time, is the diff of the whole lists.
        let parent = tl.store.range(0, n).unwrap();
        let mut wa = crate::world::World::new();
        wa.apply_all(&parent).unwrap();
        let mut wb = crate::world::World::new();
        wb.apply_all(&whole).unwrap();
        let expected = crate::analysis::diff::diff_events("a", "b", &parent, &whole, &wa, &wb);
        let mut tb = Timeline::new(EventStore::memory(whole), 0);
        let got = crate::analysis::diff::diff_sessions("a", "b", &mut tl, &mut tb).unwrap();
        assert!(got.first_divergence.as_ref().is_some_and(|d| d.step > 4096), "{:?}", got.first_divergence);
        assert_eq!(serde_json::to_string(&got).unwrap(), serde_json::to_string(&expected).unwrap());
        // Told where the fork point is, and given the state there on both sides (as the
        // inspector's fork job does), the diff is the same.
        let point = fork_point(&tl, n - 50).unwrap();
        let shared = tl.state(point).unwrap();
        let mut tl = Timeline::new(EventStore::memory(tl.store.range(0, n).unwrap()), 0);
        tl.remember(shared.clone());
        tb.remember(shared);
        let after = crate::analysis::diff::diff_sessions_after("a", "b", &mut tl, &mut tb, point).unwrap();
        assert_eq!(serde_json::to_string(&after).unwrap(), serde_json::to_string(&expected).unwrap());
    }

    /// One round of the demo, recorded as if from the source `name` at `path`.
    fn one_demo_round(name: &str, path: &str) -> (Header, Vec<Event>) {
        let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
        let config = Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
        let events = Engine::new(&sc.spec, config.clone(), 7, 1).run_to_end(&mut crate::reasoner::offline::Offline::new());
        let source = SourceRef { kind: "scenario".into(), name: name.into(), path: path.into(), digest: String::new() };
        (Header::new(source, 7, 1, config), events)
    }

    /// A knob read only when the world was made cannot change in a branch: the fork is refused,
    /// naming the key and what does change it, rather than re-running an identical branch.
    #[test]
    fn a_fork_refuses_a_knob_read_only_at_setup_and_says_what_to_do_instead() {
        let (header, events) = one_demo_round("demo", "builtin:demo");
        let run = |sets: &[&str]| {
            let mut tl = Timeline::new(EventStore::memory(events.clone()), 0);
            let edit = ForkEdit::Config { sets: sets.iter().map(|s| s.to_string()).collect() };
            fork(&header, Path::new("p.jsonl"), &mut tl, 200, &edit, false, &mut crate::reasoner::offline::Offline::new())
        };
        let e = run(&["filter.enabled=false", " routers.tau = 0.3"]).unwrap_err().to_string();
        assert!(e.contains("fork --set routers.tau: read once, when the world was made") && e.contains("--router ID --tau X"), "{e}");
        let e = run(&["filter.default_rules=\"default reject\""]).unwrap_err().to_string();
        assert!(e.contains("filter.default_rules") && e.contains("--agent ID --rules FILE"), "{e}");
        // A knob the engine reads as it runs still forks.
        assert!(run(&["routers.behaviour_weight=0.2"]).is_ok());
    }

    /// A fork whose source is gone says so, and why, in the words the CLI prints.
    #[test]
    fn a_fork_without_its_source_names_it() {
        let (header, events) = one_demo_round("gone", "/nonexistent/gone.toml");
        let mut tl = Timeline::new(EventStore::memory(events), 0);
        let edit = ForkEdit::Config { sets: vec!["filter.enabled=false".into()] };
        let e = fork(&header, Path::new("p.jsonl"), &mut tl, 5, &edit, false, &mut crate::reasoner::offline::Offline::new()).unwrap_err();
        assert!(matches!(e, RunError::Source { .. }), "{e:?}");
        let text = crate::util::text::chain(&e);
        assert!(text.starts_with("fork needs the session's source /nonexistent/gone.toml to re-run: "), "{text}");
        assert!(text.contains("cannot read scenario"), "{text}");
    }
}
