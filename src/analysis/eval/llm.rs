//! RecNet evaluated with a model doing the reasoning for a seeded subset of users, against the
//! offline reasoner on the same users (`recnet eval --llm-url URL --users N`). Running the model
//! (its calls, the session it records) is the caller's job: this module picks the users, scores
//! both trained worlds on their cases and writes the report, without I/O.

use super::metrics::{mean_metrics, paired_interval, CaseMetrics, METRIC_NAMES};
use super::{score_world, Case, ModelResult, Paired};
use crate::reasoner::accounting::{Accounting, StageRow};
use crate::util::text::sanitize;
use crate::world::World;
use serde::Serialize;

/// `n` of the cases (all of them if there are fewer), chosen by `seed`, in their original order.
pub fn pick_users(cases: &[Case], n: usize, seed: u64) -> Vec<Case> {
    let mut ix: Vec<usize> = (0..cases.len()).collect();
    let mut rng = crate::util::Rng::new(seed);
    // A partial Fisher–Yates: the first n places are a uniform sample.
    for k in 0..n.min(ix.len()) {
        let j = k + rng.below(ix.len() - k);
        ix.swap(k, j);
    }
    ix.truncate(n);
    ix.sort_unstable();
    ix.into_iter().map(|i| cases[i].clone()).collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct LlmReport {
    pub dataset: String,
    pub split: String,
    pub seed: u64,
    pub rounds: u32,
    /// The model as the server named it.
    pub model: String,
    /// The users whose reasoning the model did, and how many the split has.
    pub users: Vec<String>,
    pub split_users: usize,
    /// The offline reasoner's row, then the model's.
    pub rows: Vec<ModelResult>,
    /// The model's run minus the offline one, per NDCG cut-off, paired over the chosen users.
    pub paired: Vec<Paired>,
    /// Per stage and in total: calls, valid replies, fallbacks by cause, budget, tokens, latency.
    pub accounting: Vec<StageRow>,
    pub cut_at_limit: u64,
    /// Notices that are not failures of a reply (the budget spent, a response_format fallback).
    pub notes: Vec<String>,
    /// Replies taken from an earlier run's session instead of calling the model.
    pub reused: usize,
    /// Wall-clock seconds of the model's run.
    pub model_seconds: f64,
    /// Where the model's run was recorded, if it was.
    pub session: Option<String>,
}

/// What the caller ran, to be turned into a report.
pub struct LlmRun<'a> {
    pub dataset: &'a str,
    pub split: &'a str,
    pub seed: u64,
    pub rounds: u32,
    pub model: &'a str,
    pub split_users: usize,
    pub cases: &'a [Case],
    pub offline: &'a World,
    pub with_model: &'a World,
    pub accounting: &'a Accounting,
    pub reused: usize,
    pub model_seconds: f64,
    pub session: Option<String>,
}

pub fn report(run: LlmRun) -> LlmReport {
    let offline = score_world(run.offline, run.cases);
    let model = score_world(run.with_model, run.cases);
    // A local server names its model by the weights' path: the file name says which.
    let short = run.model.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or(run.model);
    let model_name = format!("recnet, {}", sanitize(short, 60));
    let row = |name: &str, description: &str, m: &[CaseMetrics]| ModelResult {
        name: name.to_string(),
        description: description.to_string(),
        metrics: mean_metrics(m),
    };
    let paired = METRIC_NAMES
        .iter()
        .enumerate()
        .filter(|(_, m)| m.starts_with("ndcg"))
        .map(|(slot, metric)| {
            let a: Vec<f64> = model.iter().map(|m| m[slot]).collect();
            let b: Vec<f64> = offline.iter().map(|m| m[slot]).collect();
            let (mean_diff, ci_low, ci_high) = paired_interval(&a, &b);
            Paired { model: model_name.clone(), baseline: "recnet, offline".into(), metric: metric.to_string(), mean_diff, ci_low, ci_high }
        })
        .collect();
    LlmReport {
        dataset: run.dataset.to_string(),
        split: run.split.to_string(),
        seed: run.seed,
        rounds: run.rounds,
        model: run.model.to_string(),
        users: run.cases.iter().map(|c| c.user.clone()).collect(),
        split_users: run.split_users,
        rows: vec![
            row("recnet, offline", "every stage answered by the offline reasoner", &offline),
            row(&model_name, "the chosen users' reasoning answered by the model, the rest offline", &model),
        ],
        paired,
        accounting: run.accounting.rows(),
        cut_at_limit: run.accounting.cut_at_limit,
        notes: run.accounting.notes.clone(),
        reused: run.reused,
        model_seconds: run.model_seconds,
        session: run.session,
    }
}

pub fn render(r: &LlmReport) -> String {
    let mut o =
        format!("{} · {} split · {} of {} users (seed {}) · {} round(s)\n", sanitize(&r.dataset, 100), r.split, r.users.len(), r.split_users, r.seed, r.rounds);
    o.push_str("The model answers these users' reasoning (reflection, their filters, credit for their decisions, their rules' gradients and edits); every other request, and the whole offline row, is the offline reasoner's.\n");
    o.push_str(&format!("{:<42}{:>9}{:>9}{:>9}{:>10}{:>10}{:>10}\n", "reasoner", "NDCG@1", "NDCG@5", "NDCG@10", "Recall@1", "Recall@5", "Recall@10"));
    for m in &r.rows {
        o.push_str(&super::metrics_row(&sanitize(&m.name, 41), 42, &m.metrics));
    }
    o.push_str(&format!("\nmodel minus offline: mean difference [95% paired interval over the {} users]\n", r.users.len()));
    for p in &r.paired {
        let verdict = if p.ci_low > 0.0 {
            "the model better"
        } else if p.ci_high < 0.0 {
            "the model worse"
        } else {
            "no significant difference"
        };
        o.push_str(&format!("  {:<10}{:>+8.4} [{:+.4}, {:+.4}]  {verdict}\n", p.metric.replace("ndcg", "NDCG"), p.mean_diff, p.ci_low, p.ci_high));
    }
    let all = r.accounting.iter().find(|s| s.stage == "all");
    let (calls, valid, cached, tin, tout) = all.map_or((0, 0, 0, 0, 0), |a| (a.calls, a.valid, a.cached, a.tokens_in, a.tokens_out));
    let refused = all.and_then(|a| a.fell_back.get("http_error")).copied().unwrap_or(0);
    o.push_str(&format!(
        "\nmodel {}: {calls} replies, {valid} valid, {} fell back, {} ran to max_tokens, {refused} requests refused by the server; {cached} answered from the cache ({} reused from an earlier run's session); {tin} tokens in, {tout} out; {:.1}s\n",
        sanitize(&r.model, 80),
        calls - valid.min(calls),
        r.cut_at_limit,
        r.reused,
        r.model_seconds
    ));
    for line in crate::reasoner::accounting::table(&r.accounting) {
        o.push_str(&format!("  {line}\n"));
    }
    for note in &r.notes {
        o.push_str(&format!("  note: {}\n", sanitize(note, 200)));
    }
    if let Some(s) = &r.session {
        o.push_str(&format!("session: {}\n", sanitize(s, 0)));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(u: usize) -> Case {
        Case { user: format!("{u}"), target: "t".into(), items: vec!["t".into()] }
    }

    #[test]
    fn the_chosen_users_depend_on_the_seed_alone_and_keep_their_order() {
        let cases: Vec<Case> = (0..100).map(case).collect();
        let a = pick_users(&cases, 20, 1);
        assert_eq!(a.len(), 20);
        assert_eq!(a, pick_users(&cases, 20, 1));
        assert_ne!(a, pick_users(&cases, 20, 2));
        let ids: Vec<usize> = a.iter().map(|c| c.user.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(pick_users(&cases[..5], 20, 1).len(), 5, "fewer users than asked: all of them");
    }
}
