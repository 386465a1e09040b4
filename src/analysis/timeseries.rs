//! A session's counters over time: one row per time step (a tick of a round), built from the events
//! one at a time, so a session of any length is summarised in constant memory.

use crate::world::event::{Decision, Event, EventBody};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What happened in one time step. Setup (before the first tick) is a row of its own.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StepRow {
    pub round: u32,
    pub tick: u64,
    pub first_step: u64,
    pub last_step: u64,
    pub interactions: u64,
    pub messages_sent: u64,
    pub deliveries: u64,
    pub overflowed: u64,
    pub accepted: u64,
    pub held: u64,
    pub rejected: u64,
    pub assimilated: u64,
    pub rewards: u64,
    /// The sum of the rewards scored in this step.
    pub reward_sum: f64,
    pub credit_assigned: u64,
    pub rule_edits: u64,
    pub router_edits: u64,
    pub model_calls: u64,
    pub model_failures: u64,
    /// Evaluation metrics recorded in this step (`valid.ndcg@10`, …), when the run has them.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

/// The fixed columns, in order (the metric columns follow them).
pub const COLUMNS: &[&str] = &[
    "round",
    "tick",
    "first_step",
    "last_step",
    "interactions",
    "messages_sent",
    "deliveries",
    "overflowed",
    "accepted",
    "held",
    "rejected",
    "assimilated",
    "rewards",
    "reward_sum",
    "credit_assigned",
    "rule_edits",
    "router_edits",
    "model_calls",
    "model_failures",
];

/// Folds events into rows; `push` hands back a row when a new time step begins.
#[derive(Default)]
pub struct Steps {
    cur: Option<StepRow>,
}

/// The metric columns an event adds (`split.name`; the round marker is not a metric).
pub fn metric_names(ev: &Event) -> Vec<String> {
    match &ev.body {
        EventBody::Metrics { split, values } => values.keys().filter(|k| *k != "round").map(|k| format!("{split}.{k}")).collect(),
        _ => Vec::new(),
    }
}

impl Steps {
    pub fn push(&mut self, ev: &Event) -> Option<StepRow> {
        let done = match &self.cur {
            Some(r) if r.round != ev.round || r.tick != ev.tick => self.cur.take(),
            _ => None,
        };
        let r = self.cur.get_or_insert_with(|| StepRow { round: ev.round, tick: ev.tick, first_step: ev.step, ..Default::default() });
        r.last_step = ev.step;
        match &ev.body {
            EventBody::Interaction { .. } => r.interactions += 1,
            EventBody::MessageSent { .. } => r.messages_sent += 1,
            EventBody::MessageBuffered { .. } => r.deliveries += 1,
            EventBody::BufferOverflow { .. } => r.overflowed += 1,
            EventBody::FilterDecision { decision, .. } => match decision {
                Decision::Accept => r.accepted += 1,
                Decision::Hold => r.held += 1,
                Decision::Reject => r.rejected += 1,
            },
            EventBody::Assimilated { .. } => r.assimilated += 1,
            EventBody::Reward { reward, .. } => {
                r.rewards += 1;
                r.reward_sum += reward;
            }
            EventBody::CreditAssigned { .. } => r.credit_assigned += 1,
            EventBody::RuleEdited { .. } | EventBody::RulesReplaced { .. } => r.rule_edits += 1,
            EventBody::RouterStrategyEdited { .. } | EventBody::RouterEdited { .. } => r.router_edits += 1,
            EventBody::ReasonExchange { .. } => r.model_calls += 1,
            // The budget running out and a format fallback are notices, not failures of a reply.
            EventBody::ReasonFailed { cause, .. } if cause == "budget" || cause == "format_fallback" => {}
            EventBody::ReasonFailed { .. } => r.model_failures += 1,
            EventBody::Metrics { split, values } => {
                for (k, v) in values.iter().filter(|(k, _)| *k != "round") {
                    r.metrics.insert(format!("{split}.{k}"), *v);
                }
            }
            _ => {}
        }
        done
    }

    /// The last row, once the events have ended.
    pub fn finish(self) -> Option<StepRow> {
        self.cur
    }
}

/// The CSV header: the fixed columns, then `metrics` (found beforehand, e.g. with `metric_names`).
pub fn csv_header(metrics: &[String]) -> String {
    let mut cols: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    cols.extend(metrics.iter().map(|m| csv_name(m)));
    cols.join(",") + "\n"
}

fn csv_name(m: &str) -> String {
    let clean = crate::util::text::sanitize(m, 80);
    if clean.contains([',', '"']) {
        format!("\"{}\"", clean.replace('"', "\"\""))
    } else {
        clean
    }
}

/// One CSV line; a metric the step did not record is an empty cell.
pub fn csv_row(r: &StepRow, metrics: &[String]) -> String {
    let mut o = format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        r.round,
        r.tick,
        r.first_step,
        r.last_step,
        r.interactions,
        r.messages_sent,
        r.deliveries,
        r.overflowed,
        r.accepted,
        r.held,
        r.rejected,
        r.assimilated,
        r.rewards,
        r.reward_sum,
        r.credit_assigned,
        r.rule_edits,
        r.router_edits,
        r.model_calls,
        r.model_failures
    );
    for m in metrics {
        o.push(',');
        if let Some(v) = r.metrics.get(m) {
            let _ = write!(o, "{v}");
        }
    }
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_add_up_to_the_run_counters() {
        let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
        let cfg = crate::engine::config::Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
        let mut e = crate::engine::Engine::new(&sc.spec, cfg, 7, 2);
        let events = e.run_to_end(&mut crate::reasoner::offline::Offline::new());
        let mut steps = Steps::default();
        let mut rows: Vec<StepRow> = events.iter().filter_map(|ev| steps.push(ev)).collect();
        rows.extend(steps.finish());
        let c = e.world().counters();
        assert_eq!(rows.iter().map(|r| r.interactions).sum::<u64>(), c.interactions);
        assert_eq!(rows.iter().map(|r| r.messages_sent).sum::<u64>(), c.messages_sent);
        assert_eq!(rows.iter().map(|r| r.accepted + r.held + r.rejected).sum::<u64>(), c.accepted + c.held + c.rejected);
        assert_eq!(rows.iter().map(|r| r.rule_edits).sum::<u64>(), c.rule_edits);
        // Every step's events are contiguous and the rows cover the session.
        assert_eq!(rows[0].first_step, 0);
        assert_eq!(rows.last().unwrap().last_step + 1, events.len() as u64);
        assert!(rows.windows(2).all(|w| w[1].first_step == w[0].last_step + 1));
        assert!(rows.len() >= 5);
    }
}
