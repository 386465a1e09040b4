//! Differences between two sessions (a branch and its parent, at the same logical step) or two
//! steps of one session: which filter decisions, assimilations, profiles, rules and counters differ,
//! and where the logs first diverge.

use crate::store::timeline::Timeline;
use crate::store::StoreError;
use crate::world::event::{Decision, Event, EventBody};
use crate::world::World;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionChange {
    pub agent: String,
    pub message: u64,
    /// "accept 0.8 (rule 2)", "reject (rule 3)", or "none" when that side never decided on the message.
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
    /// Each side's event on one line, cut at 160 characters.
    pub a: Option<String>,
    pub b: Option<String>,
    /// The fields in which the two events differ, each side's value whole (up to
    /// `FIELD_LIMIT` characters): the one-line summaries could cut off the very difference.
    pub fields: Vec<FieldChange>,
}

/// One field of the first differing events: its JSON on each side (`None`: that side has no
/// such field, or no event).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// How much of a differing field's value the report keeps: bounds a hostile session's line.
const FIELD_LIMIT: usize = 20_000;

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
    /// What the difference came to: "did my edit help?".
    pub outcome: Outcome,
}

/// The rewards one side earned after the divergence (before it both sides ran the same events).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RewardTotals {
    pub count: u64,
    pub sum: f64,
}

impl RewardTotals {
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outcome {
    pub rewards: (RewardTotals, RewardTotals),
    /// Agents whose summed reward after the divergence is higher on B (helped) or lower (hurt).
    pub helped: u64,
    pub hurt: u64,
    /// Every evaluation metric at each side's last evaluation (NDCG on dataset runs), equal or not.
    pub metrics: BTreeMap<String, (Option<f64>, Option<f64>)>,
}

/// What one side did after the divergence: final decisions, assimilations, rewards by agent.
#[derive(Default)]
struct Tally {
    decided: BTreeMap<(String, u64), String>,
    assimilated: u64,
    rewards: BTreeMap<String, RewardTotals>,
}

impl Tally {
    /// Later events' decisions replace earlier ones (a hold may resolve later).
    fn merge(&mut self, later: Tally) {
        self.decided.extend(later.decided);
        self.assimilated += later.assimilated;
        for (agent, r) in later.rewards {
            let t = self.rewards.entry(agent).or_default();
            t.count += r.count;
            t.sum += r.sum;
        }
    }

    fn reward_totals(&self) -> RewardTotals {
        self.rewards.values().fold(RewardTotals::default(), |a, r| RewardTotals { count: a.count + r.count, sum: a.sum + r.sum })
    }
}

fn decisions(events: &[Event]) -> Tally {
    let mut out = Tally::default();
    for e in events {
        match &e.body {
            EventBody::FilterDecision { agent, message, decision, rule, weight, .. } => {
                let by = rule.map(|r| format!(" (rule {r})")).unwrap_or_default();
                // An accept at another weight is another decision: it moves the profile by more or less.
                let what = match decision {
                    Decision::Accept => format!("accept {weight}"),
                    other => other.name().to_string(),
                };
                // The final decision on a message is what counts (a hold may resolve later).
                out.decided.insert((agent.clone(), *message), format!("{what}{by}"));
            }
            EventBody::Assimilated { .. } => out.assimilated += 1,
            EventBody::Reward { agent, reward, .. } => {
                let t = out.rewards.entry(agent.clone()).or_default();
                t.count += 1;
                t.sum += reward;
            }
            _ => {}
        }
    }
    out
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
        (!same).then(|| Divergence { step: offset + i as u64, a: x.map(summary_of), b: y.map(summary_of), fields: field_changes(x, y) })
    })
}

/// Empty unless both sides have an event of the same kind there: a different kind, or no event,
/// differs in every field, and the summaries say so.
fn field_changes(x: Option<&Event>, y: Option<&Event>) -> Vec<FieldChange> {
    if !matches!((x, y), (Some(x), Some(y)) if x.body.kind() == y.body.kind()) {
        return Vec::new();
    }
    let fields = |e: Option<&Event>| match e.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (fields(x), fields(y));
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show = |v: &serde_json::Value| crate::util::text::sanitize(&v.to_string(), FIELD_LIMIT);
    names
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange { field: crate::util::text::sanitize(k, 80), a: a.get(k).map(show), b: b.get(k).map(show) })
        .collect()
}

/// Compare the end states of `a[..]` and `b[..]` (already sliced to the steps to compare).
pub fn diff_events(a_name: &str, b_name: &str, a: &[Event], b: &[Event], wa: &World, wb: &World) -> DiffReport {
    let first_divergence = divergence(a, b, 0);
    let from = first_divergence.as_ref().map(|d| d.step as usize).unwrap_or(a.len().min(b.len()));
    let ta = decisions(&a[from.min(a.len())..]);
    let tb = decisions(&b[from.min(b.len())..]);
    let lens = (a.len() as u64, b.len() as u64);
    report(a_name, b_name, lens, first_divergence, ta, tb, wa, wb)
}

#[allow(clippy::too_many_arguments)]
fn report(a_name: &str, b_name: &str, lens: (u64, u64), first_divergence: Option<Divergence>, ta: Tally, tb: Tally, wa: &World, wb: &World) -> DiffReport {
    let (da, db) = (&ta.decided, &tb.decided);
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
    let all_metrics: BTreeMap<String, (Option<f64>, Option<f64>)> =
        ma.keys().chain(mb.keys()).map(|k| (k.clone(), (ma.get(k).copied(), mb.get(k).copied()))).collect();
    let metrics = all_metrics.iter().filter(|(_, (x, y))| x != y).map(|(k, v)| (k.clone(), *v)).collect();
    let outcome = outcome(&ta, &tb, all_metrics);
    let (na, nb) = (ta.assimilated, tb.assimilated);
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
        outcome,
    }
}

fn outcome(ta: &Tally, tb: &Tally, metrics: BTreeMap<String, (Option<f64>, Option<f64>)>) -> Outcome {
    let (mut helped, mut hurt) = (0, 0);
    for agent in ta.rewards.keys().chain(tb.rewards.keys().filter(|k| !ta.rewards.contains_key(*k))) {
        let sum = |t: &Tally| t.rewards.get(agent).map(|r| r.sum).unwrap_or(0.0);
        let d = sum(tb) - sum(ta);
        // Below float noise the two sides earned the same.
        if d > 1e-9 {
            helped += 1;
        } else if d < -1e-9 {
            hurt += 1;
        }
    }
    Outcome { rewards: (ta.reward_totals(), tb.reward_totals()), helped, hurt, metrics }
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
    diff_sessions_after(a_name, b_name, a, b, 0)
}

/// `diff_sessions` for two sessions known to share their first `same` events (a fork and its
/// parent): the search for where they part starts there.
pub fn diff_sessions_after(a_name: &str, b_name: &str, a: &mut Timeline, b: &mut Timeline, same: u64) -> Result<DiffReport, StoreError> {
    const CHUNK: u64 = 4096;
    let (na, nb) = (a.len(), b.len());
    let mut first_divergence = None;
    let mut at = same.min(na).min(nb);
    while first_divergence.is_none() && at < na.max(nb) {
        let end = at + CHUNK;
        let (ca, cb) = (a.store.range(at.min(na), end.min(na))?, b.store.range(at.min(nb), end.min(nb))?);
        first_divergence = divergence(&ca, &cb, at);
        at = end;
    }
    let from = first_divergence.as_ref().map(|d| d.step).unwrap_or(na.min(nb));
    let decided = |tl: &Timeline, n: u64| -> Result<Tally, StoreError> {
        let mut all = Tally::default();
        let mut at = from.min(n);
        while at < n {
            all.merge(decisions(&tl.store.range(at, (at + CHUNK).min(n))?));
            at += CHUNK;
        }
        Ok(all)
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
    let tb = decisions(&between);
    let (profiles, rules, routers) = diff_worlds(&wa, &wb);
    let nb = tb.assimilated;
    let outcome = outcome(&Tally::default(), &tb, BTreeMap::new());
    let decisions = tb.decided.into_iter().map(|((agent, message), d)| DecisionChange { agent, message, a: "none".into(), b: d }).collect();
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
        outcome,
    })
}

/// The human summary. Each side's rules are listed one to a line, whole: joined on one line and
/// cut, they hid the very rule that differed.
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
            for f in &d.fields {
                let _ = writeln!(o, "  in {}: A {} · B {}", f.field, f.a.as_deref().unwrap_or("(none)"), f.b.as_deref().unwrap_or("(none)"));
            }
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
    // As ranking sees them: a profile weight plus the updates kept beside it can pass 1.
    let _ = writeln!(o, "profiles that differ (weights as ranked: profile + updates beside): {}", r.profiles.len());
    for p in r.profiles.iter().take(limit) {
        let parts: Vec<String> = p.attrs.iter().take(4).map(|a| format!("{} {}", s(&a.attr), apart(a.a, a.b))).collect();
        let _ = writeln!(o, "  {}: {}{}", s(&p.agent), parts.join(", "), if p.attrs.len() > 4 { ", …" } else { "" });
    }
    if r.profiles.len() > limit {
        let _ = writeln!(o, "  … {} more", r.profiles.len() - limit);
    }
    for d in &r.rules {
        let _ = writeln!(o, "rules of {} differ:", s(&d.agent));
        for (side, text) in [("A", &d.a), ("B", &d.b)] {
            let _ = writeln!(o, "  {side}:");
            for (i, rule) in text.lines().enumerate() {
                let _ = writeln!(o, "    {:<3}{}", i + 1, crate::util::text::sanitize(rule, 0));
            }
        }
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
    render_outcome(&mut o, &r.outcome);
    o
}

/// The last section, so "did my edit help?" is answered where the reading ends.
/// `a→b` with three decimals, or as many more (up to six) as it takes to tell them apart: a change
/// of 0.0004 read "-0.382→-0.382".
fn apart(a: f64, b: f64) -> String {
    let digits = (3..=6).find(|d| format!("{a:.d$}", d = *d) != format!("{b:.d$}", d = *d)).unwrap_or(6);
    format!("{a:.d$}→{b:.d$}", d = digits)
}

fn render_outcome(o: &mut String, out: &Outcome) {
    use std::fmt::Write;
    let (a, b) = &out.rewards;
    let _ = writeln!(o, "outcome:");
    let _ = writeln!(
        o,
        "  rewards after the divergence: A {:+.3} over {} (mean {:+.3}) · B {:+.3} over {} (mean {:+.3}) · B − A {:+.3}",
        a.sum,
        a.count,
        a.mean(),
        b.sum,
        b.count,
        b.mean(),
        b.sum - a.sum
    );
    let _ = writeln!(o, "  agents with more reward on B: {} · with less: {}", out.helped, out.hurt);
    if out.metrics.is_empty() {
        let _ = writeln!(o, "  no evaluation metrics in these sessions (a dataset run evaluated with `recnet eval` records NDCG)");
    }
    for (k, (x, y)) in &out.metrics {
        let f = |v: &Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        let delta = match (x, y) {
            (Some(x), Some(y)) => format!(" ({:+.4})", y - x),
            _ => String::new(),
        };
        let _ = writeln!(o, "  {}: A {} → B {}{delta}", crate::util::text::sanitize(k, 60), f(x), f(y));
    }
    let verdict = match (b.sum - a.sum, out.metrics.iter().find(|(k, _)| k.contains("ndcg"))) {
        (_, Some((k, (Some(x), Some(y))))) if (y - x).abs() > 1e-12 => {
            format!("{} {} on B", crate::util::text::sanitize(k, 60), if y > x { "rose" } else { "fell" })
        }
        (d, _) if d > 1e-9 => "B earned more reward".to_string(),
        (d, _) if d < -1e-9 => "B earned less reward".to_string(),
        _ => "no difference in reward".to_string(),
    };
    let _ = writeln!(o, "  in short: {verdict}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::event::Decision;

    fn ev(step: u64, body: EventBody) -> Event {
        Event { step, round: 0, tick: 1, body }
    }

    fn reward(step: u64, agent: &str, message: u64, reward: f64) -> Event {
        let body = EventBody::Reward {
            agent: agent.into(),
            message,
            router: "R1".into(),
            rule: Some(1),
            decision: Decision::Accept,
            item: "i1".into(),
            negative: None,
            with: reward,
            without: 0.0,
            reward,
        };
        ev(step, body)
    }

    fn decide(step: u64, agent: &str, message: u64, rule: usize, decision: Decision) -> Event {
        let body = EventBody::FilterDecision {
            agent: agent.into(),
            message,
            router: "R1".into(),
            rule: Some(rule),
            rule_text: String::new(),
            decision,
            weight: 1.0,
            relevance: 0.5,
            support: 1,
            age: 0,
            reason: String::new(),
        };
        ev(step, body)
    }

    #[test]
    fn the_first_divergence_names_the_fields_that_differ_whole() {
        let long_reason = |end: &str| format!("{}{end}", "because ".repeat(40));
        let with_reason = |reason: String| {
            let Event { body: EventBody::FilterDecision { agent, message, router, rule, rule_text, decision, weight, relevance, support, age, .. }, .. } =
                decide(0, "u1", 7, 2, Decision::Accept)
            else {
                unreachable!()
            };
            ev(0, EventBody::FilterDecision { agent, message, router, rule, rule_text, decision, weight, relevance, support, age, reason })
        };
        // The two events differ only far past where their one-line summaries are cut.
        let a = vec![with_reason(long_reason("A"))];
        let b = vec![with_reason(long_reason("B"))];
        let r = diff_events("main", "branch", &a, &b, &World::new(), &World::new());
        let d = r.first_divergence.as_ref().unwrap();
        assert_eq!(d.a.as_ref().unwrap().chars().count(), d.b.as_ref().unwrap().chars().count(), "both summaries are cut alike");
        assert_eq!(d.fields.len(), 1, "{:?}", d.fields);
        assert_eq!(d.fields[0].field, "reason");
        assert!(d.fields[0].a.as_deref().unwrap().ends_with("A\""), "{:?}", d.fields[0].a);
        assert!(render(&r, 10).contains("  in reason: A \""), "{}", render(&r, 10));
        // One side ended, or has another kind of event: the summaries name both, no field list.
        let r = diff_events("main", "branch", &a, &[], &World::new(), &World::new());
        let text = render(&r, 10);
        assert!(text.contains("B: (ends)") && !text.contains("  in reason:"), "{text}");
        let r = diff_events("main", "branch", &a, &[reward(0, "u1", 7, 0.5)], &World::new(), &World::new());
        assert!(r.first_divergence.as_ref().unwrap().fields.is_empty());
    }

    #[test]
    fn rules_that_differ_are_listed_whole_one_to_a_line() {
        let mut r = diff_events("main", "branch", &[], &[], &World::new(), &World::new());
        let long = format!("accept 0.5 when topic == \"{}\"", "x".repeat(300));
        r.rules.push(RulesDiff { agent: "u1".into(), a: format!("{long}\ndefault reject"), b: "default reject".into() });
        let text = render(&r, 10);
        assert!(text.contains(&format!("  A:\n    1  {long}\n    2  default reject\n  B:\n    1  default reject\n")), "{text}");
    }

    #[test]
    fn the_outcome_sums_rewards_after_the_divergence_and_counts_who_gained() {
        let shared = reward(0, "u1", 1, 0.5);
        let a = vec![shared.clone(), reward(1, "u1", 2, 0.1), reward(2, "u2", 3, 0.4)];
        let b = vec![shared, reward(1, "u1", 2, 0.3), reward(2, "u2", 3, 0.2), reward(3, "u3", 4, 0.1)];
        let r = diff_events("main", "branch", &a, &b, &World::new(), &World::new());
        let (ra, rb) = &r.outcome.rewards;
        // The shared first reward is before the divergence: not counted on either side.
        assert_eq!((ra.count, rb.count), (2, 3));
        assert!((ra.sum - 0.5).abs() < 1e-12 && (rb.sum - 0.6).abs() < 1e-12, "{ra:?} {rb:?}");
        assert!((rb.mean() - 0.2).abs() < 1e-12);
        assert_eq!((r.outcome.helped, r.outcome.hurt), (2, 1), "u1 and u3 gained, u2 lost");
        let text = render(&r, 10);
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        assert!(tail.iter().any(|l| l.contains("B − A +0.100")), "{text}");
        assert!(tail.iter().any(|l| l.contains("more reward on B: 2 · with less: 1")), "{text}");
        assert!(text.trim_end().ends_with("in short: B earned more reward"), "{text}");
    }

    #[test]
    fn the_outcome_shows_ndcg_of_both_sides_even_when_equal() {
        let metrics = |v: f64| {
            let mut w = World::new();
            let body = EventBody::Metrics { split: "test".into(), values: [("ndcg@10".to_string(), v)].into_iter().collect() };
            w.apply(&ev(0, body)).unwrap();
            w
        };
        let r = diff_events("main", "branch", &[], &[], &metrics(0.25), &metrics(0.3));
        assert_eq!(r.outcome.metrics.get("test/ndcg@10"), Some(&(Some(0.25), Some(0.3))));
        let text = render(&r, 10);
        assert!(text.contains("test/ndcg@10: A 0.2500 → B 0.3000 (+0.0500)"), "{text}");
        assert!(text.trim_end().ends_with("in short: test/ndcg@10 rose on B"), "{text}");
        let same = diff_events("main", "branch", &[], &[], &metrics(0.25), &metrics(0.25));
        assert!(same.metrics.is_empty() && same.outcome.metrics.len() == 1, "equal metrics are shown in the outcome only");
    }

    #[test]
    fn a_decision_by_another_rule_number_is_not_a_different_decision() {
        let a = vec![reward(0, "u9", 9, 0.0), decide(1, "u1", 5, 1, Decision::Accept), decide(2, "u1", 6, 1, Decision::Accept)];
        let b = vec![reward(0, "u9", 9, 0.0), decide(1, "u1", 5, 2, Decision::Accept), decide(2, "u1", 6, 2, Decision::Reject)];
        let r = diff_events("main", "branch", &a, &b, &World::new(), &World::new());
        assert_eq!(r.decisions.len(), 1, "{:?}", r.decisions);
        assert_eq!((r.decisions[0].message, r.decisions[0].b.as_str()), (6, "reject (rule 2)"));
    }

    #[test]
    fn a_small_change_is_shown_with_the_digits_that_tell_it() {
        assert_eq!(super::apart(-0.382, -0.274), "-0.382→-0.274");
        assert_eq!(super::apart(-0.3821, -0.3824), "-0.3821→-0.3824");
        assert_eq!(super::apart(0.5, 0.5000000001), "0.500000→0.500000");
    }

    /// Renumbered and at another weight (a rule inserted above that accepts more strongly): the
    /// analyst needs it listed to see why the profile moved differently.
    #[test]
    fn an_accept_at_another_weight_is_a_different_decision() {
        let weighed = |step: u64, rule: usize, w: f64| {
            let mut e = decide(step, "u3", 10, rule, Decision::Accept);
            if let EventBody::FilterDecision { weight, .. } = &mut e.body {
                *weight = w;
            }
            e
        };
        let a = vec![reward(0, "u9", 9, 0.0), weighed(1, 5, 0.5)];
        let b = vec![reward(0, "u9", 9, 0.1), weighed(1, 1, 1.0)];
        let r = diff_events("main", "branch", &a, &b, &World::new(), &World::new());
        assert_eq!(r.decisions.len(), 1, "{:?}", r.decisions);
        assert_eq!((r.decisions[0].a.as_str(), r.decisions[0].b.as_str()), ("accept 0.5 (rule 5)", "accept 1 (rule 1)"));
    }
}
