//! Forks: re-run a recorded session from a time step with one thing changed.
//!
//! A fork "at step t" restarts from the beginning of the time step that contains event t: the
//! branch shares the parent's events before that point, then records the edit as an event, then
//! whatever the engine does next. The branch file is self-contained (it repeats the shared
//! prefix) and its header names the parent and the fork step.

use crate::engine::config::Config;
use crate::run::driver::resolve_source;
use crate::engine::Engine;
use crate::world::event::{Event, EventBody};
use crate::engine::protocol::Reasoner;
use crate::store::session::{Header, ParentRef};
use crate::store::timeline::Timeline;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::sync::Arc;

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
        bail!("the session has no events");
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
        .ok_or_else(|| anyhow!("the session never starts a round: nothing to re-run"))
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
    let point = fork_point(tl, at)?;
    let world = tl.state(point)?;
    let mut config: Config = header.config.clone();
    let body = match edit {
        ForkEdit::Rules { agent, rules } => {
            if world.client(agent).is_none() {
                bail!("fork: no agent {} in the session at step {point}", crate::util::text::sanitize(agent, 40));
            }
            crate::rules::parse_rules(rules).map_err(|e| anyhow!("fork: rules:{e}"))?;
            Some(EventBody::RulesReplaced { agent: agent.clone(), rules: rules.clone(), reason: "analyst edit (fork)".into() })
        }
        ForkEdit::Router { router, fan_out, tau } => {
            let r = world.router(router).with_context(|| format!("fork: no router {} at step {point}", crate::util::text::sanitize(router, 40)))?;
            let tau = tau.unwrap_or(r.tau);
            if !(0.0..=1.0).contains(&tau) {
                bail!("fork: tau {tau} must be between 0 and 1");
            }
            if *fan_out == Some(0) {
                bail!("fork: fan-out 0 would reach nobody; give at least 1");
            }
            Some(EventBody::RouterEdited {
                router: router.clone(),
                fan_out: fan_out.unwrap_or(r.fan_out),
                tau,
                reason: "analyst edit (fork)".into(),
            })
        }
        ForkEdit::Config { sets } => {
            let current: toml::Table = toml::Table::try_from(&config).context("config")?;
            config = Config::from_layers(&[current], sets)?;
            None
        }
    };
    let path = if header.source.path == "builtin:demo" { "demo".to_string() } else { header.source.path.clone() };
    let (scenario, dataset) = match header.source.kind.as_str() {
        "dataset" => (None, Some(Path::new(&path))),
        _ => (Some(path.as_str()), None),
    };
    let src = resolve_source(scenario, dataset, header.seed)
        .with_context(|| format!("fork needs the session's source {} to re-run", header.source.path))?;
    // A changed input re-runs a different world than the parent's prefix was recorded from. The
    // branch's header says which digest it ran with, so a caller who allowed it can tell.
    if !header.source.digest.is_empty() && src.source.digest != header.source.digest && !allow_changed_inputs {
        bail!(
            "fork: {} changed since the session was recorded (digest {} ≠ {}); --allow-changed-inputs re-runs it as it is now",
            crate::util::text::sanitize(&header.source.path, 200),
            src.source.digest,
            header.source.digest
        );
    }
    let mut prefix = tl.store.range(0, point)?;
    let mut engine = Engine::resume(world, Arc::new(src.spec.schedule), config.clone(), header.rounds);
    if let Some(b) = body {
        engine.inject(b);
    }
    crate::run::driver::drive(&mut engine, reasoner, |evs| {
        prefix.extend_from_slice(evs);
        Ok(())
    })?;
    let mut branch = header.clone();
    branch.config = config;
    branch.source.digest = src.source.digest.clone();
    branch.parent = Some(ParentRef {
        path: parent_path.display().to_string(),
        fork_step: point,
        edit: edit.describe(),
    });
    Ok((branch, prefix))
}
