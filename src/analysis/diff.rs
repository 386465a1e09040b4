//! Differences between two sessions (a branch and its parent, at the same logical step) or two
//! steps of one session: which filter decisions, assimilations, profiles, rules and counters differ,
//! and where the logs first diverge.

use crate::world::event::{Event, EventBody};
use crate::store::timeline::Timeline;
use crate::world::World;
use crate::store::StoreError;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionChange {
    pub agent: String,
    pub message: u64,
    /// "accept (rule 2)", or "none" when that side never decided on the message.
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttrDiff {
    pub attr: String,
    pub a: f64,
    pub b: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProfileDiff {
    pub agent: String,
    pub attrs: Vec<AttrDiff>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RulesDiff {
    pub agent: String,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouterDiff {
    pub router: String,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Divergence {
    pub step: u64,
    pub a: Option<String>,
    pub b: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    /// Events compared on each side.
    pub a_events: u64,
    pub b_events: u64,
    pub first_divergence: Option<Divergence>,
    pub decisions: Vec<DecisionChange>,
    pub assimilations: (u64, u64),
    pub profiles: Vec<ProfileDiff>,
    pub rules: Vec<RulesDiff>,
    pub routers: Vec<RouterDiff>,
    pub counters: BTreeMap<String, (f64, f64)>,
    pub metrics: BTreeMap<String, (Option<f64>, Option<f64>)>,
}

fn decisions(events: &[Event]) -> (BTreeMap<(String, u64), String>, u64) {
    let mut out = BTreeMap::new();
    let mut assimilated = 0;
    for e in events {
        match &e.body {
            EventBody::FilterDecision { agent, message, decision, rule, .. } => {
                let by = rule.map(|r| format!(" (rule {r})")).unwrap_or_default();
                // The final decision on a message is what counts (a hold may resolve later).
                out.insert((agent.clone(), *message), format!("{}{by}", decision.name()));
            }
            EventBody::Assimilated { .. } => assimilated += 1,
            _ => {}
        }
    }
    (out, assimilated)
}

fn summary_of(e: &Event) -> String {
    crate::util::text::sanitize(&format!("{} {}", e.body.kind(), serde_json::to_string(&e.body).unwrap_or_default()), 160)
}

/// Where two event lists first differ (`offset`: the step of their first events).
fn divergence(a: &[Event], b: &[Event], offset: u64) -> Option<Divergence> {
    (0..a.len().max(b.len())).find_map(|i| {
        let (x, y) = (a.get(i), b.get(i));
        let same = match (x, y) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        };
        (!same).then(|| Divergence { step: offset + i as u64, a: x.map(summary_of), b: y.map(summary_of) })
    })
}

/// Compare the end states of `a[..]` and `b[..]` (already sliced to the steps to compare).
pub fn diff_events(a_name: &str, b_name: &str, a: &[Event], b: &[Event], wa: &World, wb: &World) -> DiffReport {
    let first_divergence = divergence(a, b, 0);
    let from = first_divergence.as_ref().map(|d| d.step as usize).unwrap_or(a.len().min(b.len()));
    let (da, na) = decisions(&a[from.min(a.len())..]);
    let (db, nb) = decisions(&b[from.min(b.len())..]);
    let lens = (a.len() as u64, b.len() as u64);
    report(a_name, b_name, lens, first_divergence, (da, na), (db, nb), wa, wb)
}

type Decisions = (BTreeMap<(String, u64), String>, u64);

#[allow(clippy::too_many_arguments)]
fn report(a_name: &str, b_name: &str, lens: (u64, u64), first_divergence: Option<Divergence>, (da, na): Decisions, (db, nb): Decisions, wa: &World, wb: &World) -> DiffReport {
    let mut keys: Vec<&(String, u64)> = da.keys().chain(db.keys()).collect();
    keys.sort();
    keys.dedup();
    let none = "none".to_string();
    let decisions = keys
        .into_iter()
        .filter_map(|k| {
            let (x, y) = (da.get(k).unwrap_or(&none), db.get(k).unwrap_or(&none));
            // The same decision by another rule number (rules were edited, so numbers moved) is
            // not a different decision.
            let name = |d: &str| d.split(" (rule ").next().unwrap_or(d).to_string();
            (name(x) != name(y)).then(|| DecisionChange { agent: k.0.clone(), message: k.1, a: x.clone(), b: y.clone() })
        })
        .collect();
    let (profiles, rules, routers) = diff_worlds(wa, wb);
    let ca = serde_json::to_value(wa.counters()).unwrap_or_default();
    let cb = serde_json::to_value(wb.counters()).unwrap_or_default();
    let mut counters = BTreeMap::new();
    if let (Some(ca), Some(cb)) = (ca.as_object(), cb.as_object()) {
        for (k, v) in ca {
            let (x, y) = (v.as_f64().unwrap_or(0.0), cb.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0));
            if x != y {
                counters.insert(k.clone(), (x, y));
            }
        }
    }
    let last = |w: &World| -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        for (_, split, values) in w.metrics() {
            for (k, v) in values {
                m.insert(format!("{split}/{k}"), *v);
            }
        }
        m
    };
    let (ma, mb) = (last(wa), last(wb));
    let mut metrics = BTreeMap::new();
    for k in ma.keys().chain(mb.keys()) {
        let (x, y) = (ma.get(k).copied(), mb.get(k).copied());
        if x != y {
            metrics.insert(k.clone(), (x, y));
        }
    }
    DiffReport {
        a: a_name.into(),
        b: b_name.into(),
        a_events: lens.0,
        b_events: lens.1,
        first_divergence,
        decisions,
        assimilations: (na, nb),
        profiles,
        rules,
        routers,
        counters,
        metrics,
    }
}

pub fn diff_worlds(a: &World, b: &World) -> (Vec<ProfileDiff>, Vec<RulesDiff>, Vec<RouterDiff>) {
    let mut profiles = Vec::new();
    let mut rules = Vec::new();
    for ca in a.clients() {
        let Some(cb) = b.client(&ca.id) else { continue };
        let mut attrs: Vec<AttrDiff> = Vec::new();
        // As ranking sees them: the profile with the updates kept beside it, at their gates.
        let (pa, pb) = (a.ranked_profile(ca), b.ranked_profile(cb));
        for k in pa.keys().chain(pb.keys()) {
            let (x, y) = (pa.get(k).copied().unwrap_or(0.0), pb.get(k).copied().unwrap_or(0.0));
            if (x - y).abs() > 1e-9 && !attrs.iter().any(|d| &d.attr == k) {
                attrs.push(AttrDiff { attr: k.clone(), a: x, b: y });
            }
        }
        if !attrs.is_empty() {
            attrs.sort_by(|x, y| (y.a - y.b).abs().total_cmp(&(x.a - x.b).abs()).then(x.attr.cmp(&y.attr)));
            profiles.push(ProfileDiff { agent: ca.id.clone(), attrs });
        }
        if ca.rules_text != cb.rules_text {
            rules.push(RulesDiff { agent: ca.id.clone(), a: ca.rules_text.clone(), b: cb.rules_text.clone() });
        }
    }
    let mut routers = Vec::new();
    for ra in a.routers() {
        let Some(rb) = b.router(&ra.id) else { continue };
        let show = |r: &crate::world::Router| format!("fan_out {} tau {} credit {:.3} members {}", r.fan_out, r.tau, r.credit, r.members.len());
        if show(ra) != show(rb) {
            routers.push(RouterDiff { router: ra.id.clone(), a: show(ra), b: show(rb) });
        }
    }
    (profiles, rules, routers)
}

/// Two timelines (branches) compared over their whole length.
/// The events are read a chunk at a time, never both sessions whole: memory follows the worlds.
pub fn diff_sessions(a_name: &str, b_name: &str, a: &mut Timeline, b: &mut Timeline) -> Result<DiffReport, StoreError> {
    const CHUNK: u64 = 4096;
    let (na, nb) = (a.len(), b.len());
    let mut first_divergence = None;
    let mut at = 0;
    while first_divergence.is_none() && at < na.max(nb) {
        let end = at + CHUNK;
        let (ca, cb) = (a.store.range(at.min(na), end.min(na))?, b.store.range(at.min(nb), end.min(nb))?);
        first_divergence = divergence(&ca, &cb, at);
        at = end;
    }
    let from = first_divergence.as_ref().map(|d| d.step).unwrap_or(na.min(nb));
    let decided = |tl: &Timeline, n: u64| -> Result<Decisions, StoreError> {
        let (mut all, mut assimilated) = (BTreeMap::new(), 0);
        let mut at = from.min(n);
        while at < n {
            let (d, k) = decisions(&tl.store.range(at, (at + CHUNK).min(n))?);
            // Later chunks' decisions replace earlier ones, as within one list.
            all.extend(d);
            assimilated += k;
            at += CHUNK;
        }
        Ok((all, assimilated))
    };
    let (da, db) = (decided(a, na)?, decided(b, nb)?);
    let (wa, wb) = (a.state(na)?, b.state(nb)?);
    Ok(report(a_name, b_name, (na, nb), first_divergence, da, db, &wa, &wb))
}

/// Two steps of one session: the state after `from` against the state after `to`.
pub fn diff_steps(name: &str, tl: &mut Timeline, from: u64, to: u64) -> Result<DiffReport, StoreError> {
    let (lo, hi) = (from.min(to), from.max(to));
    let wa = tl.at(lo)?;
    let wb = tl.at(hi)?;
    let between = tl.store.range(lo + 1, hi + 1)?;
    let (db, nb) = decisions(&between);
    let (profiles, rules, routers) = diff_worlds(&wa, &wb);
    let decisions = db
        .into_iter()
        .map(|((agent, message), d)| DecisionChange { agent, message, a: "none".into(), b: d })
        .collect();
    Ok(DiffReport {
        a: format!("{name}@{lo}"),
        b: format!("{name}@{hi}"),
        a_events: lo + 1,
        b_events: hi + 1,
        first_divergence: None,
        decisions,
        assimilations: (0, nb),
        profiles,
        rules,
        routers,
        counters: BTreeMap::new(),
        metrics: BTreeMap::new(),
    })
}

/// The human summary.
pub fn render(r: &DiffReport, limit: usize) -> String {
    use std::fmt::Write;
    let s = |t: &str| crate::util::text::sanitize(t, 200);
    let mut o = String::new();
    let _ = writeln!(o, "A: {} ({} events)\nB: {} ({} events)", s(&r.a), r.a_events, s(&r.b), r.b_events);
    match &r.first_divergence {
        Some(d) => {
            let _ = writeln!(o, "first divergence at step {}:", d.step);
            let _ = writeln!(o, "  A: {}", d.a.as_deref().unwrap_or("(ends)"));
            let _ = writeln!(o, "  B: {}", d.b.as_deref().unwrap_or("(ends)"));
        }
        None if r.a_events == r.b_events && r.counters.is_empty() && r.decisions.is_empty() && r.profiles.is_empty() => {
            let _ = writeln!(o, "no differences");
        }
        None => {}
    }
    let _ = writeln!(o, "filter decisions that differ: {}", r.decisions.len());
    for d in r.decisions.iter().take(limit) {
        let _ = writeln!(o, "  {} message {}: A {} → B {}", s(&d.agent), d.message, d.a, d.b);
    }
    if r.decisions.len() > limit {
        let _ = writeln!(o, "  … {} more (--format json for all)", r.decisions.len() - limit);
    }
    let _ = writeln!(o, "assimilations after the divergence: A {} / B {}", r.assimilations.0, r.assimilations.1);
    let _ = writeln!(o, "profiles that differ: {}", r.profiles.len());
    for p in r.profiles.iter().take(limit) {
        let parts: Vec<String> = p.attrs.iter().take(4).map(|a| format!("{} {:.3}→{:.3}", s(&a.attr), a.a, a.b)).collect();
        let _ = writeln!(o, "  {}: {}{}", s(&p.agent), parts.join(", "), if p.attrs.len() > 4 { ", …" } else { "" });
    }
    if r.profiles.len() > limit {
        let _ = writeln!(o, "  … {} more", r.profiles.len() - limit);
    }
    for d in &r.rules {
        let _ = writeln!(o, "rules of {} differ:\n  A: {}\n  B: {}", s(&d.agent), s(&d.a.replace('\n', " | ")), s(&d.b.replace('\n', " | ")));
    }
    for d in &r.routers {
        let _ = writeln!(o, "router {}: A {} / B {}", s(&d.router), d.a, d.b);
    }
    if !r.counters.is_empty() {
        let _ = writeln!(o, "counters:");
        for (k, (x, y)) in &r.counters {
            let _ = writeln!(o, "  {k}: {x} → {y}");
        }
    }
    for (k, (x, y)) in &r.metrics {
        let f = |v: &Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        let _ = writeln!(o, "metric {k}: {} → {}", f(x), f(y));
    }
    o
}
