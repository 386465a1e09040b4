//! Evaluation with the AgentCF protocol: leave-one-out, ten candidates per user (the true item and
//! the first nine items of the user's `.random` line that are not it), NDCG@K and Recall@K for
//! K = 1, 5, 10, ties broken by expectation. Over several seeds, each model's mean, and for RecNet
//! against every other model a paired 95% interval over users (a user's difference is first
//! averaged over the seeds: seeds are not independent samples of users).

pub mod baselines;
pub mod diagnostics;
pub mod llm;
pub mod metrics;

use crate::engine::config::Config;
use crate::engine::Engine;
use crate::inputs::dataset::{Dataset, EvalCase};
use crate::reasoner::offline::Offline;
use baselines::{standardise, Bpr, Content, ItemKnn};
use diagnostics::Diagnostics;
use metrics::{mean_metrics, paired_interval, random_expected, tie_fair, CaseMetrics, METRIC_NAMES};
use serde::Serialize;
use std::collections::BTreeMap;

pub use metrics::{ndcg_at, KS};

/// Why an evaluation cannot run: a flag or a user at fault, the dataset or config it was given,
/// or a job that failed on the way.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The flag or user at fault, by name (`--models: unknown model …`).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Dataset(#[from] crate::inputs::dataset::DatasetError),
    #[error(transparent)]
    Config(#[from] crate::engine::config::ConfigError),
    /// The config could not be turned back into a table to layer a variant's settings on.
    #[error(transparent)]
    ConfigTable(#[from] toml::ser::Error),
    #[error("evaluation job {0} panicked")]
    Panicked(usize),
    #[error("an evaluation job did not report")]
    NotReported,
}

type Result<T> = std::result::Result<T, EvalError>;

/// Return early with `EvalError::Invalid` and a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => { return Err(EvalError::Invalid(format!($($arg)*))) };
}
pub const CANDIDATES: usize = 10;

/// One user's ranking task.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub user: String,
    pub target: String,
    /// The target and nine negatives (target first; order does not matter to the ranking).
    pub items: Vec<String>,
}

pub fn cases(ds: &Dataset, split: &str) -> Result<Vec<Case>> {
    let list: &[EvalCase] = match split {
        "test" => &ds.test,
        "valid" => &ds.valid,
        other => invalid!("--split {other}: use test or valid"),
    };
    let mut out = Vec::new();
    for c in list {
        let Some(neg) = ds.negatives.get(&c.user) else {
            let random = ds.dir.join(format!("{}.random", ds.name));
            let why = if random.exists() { "has no line in" } else { "has no candidates: there is no" };
            invalid!("user {} {why} {}", crate::util::text::sanitize(&c.user, 30), crate::util::text::sanitize(&random.display().to_string(), 200));
        };
        let mut items = vec![c.target.clone()];
        items.extend(neg.iter().filter(|i| **i != c.target).take(CANDIDATES - 1).cloned());
        if items.len() < CANDIDATES {
            invalid!("user {} has only {} candidates (need {CANDIDATES})", crate::util::text::sanitize(&c.user, 30), items.len());
        }
        out.push(Case { user: c.user.clone(), target: c.target.clone(), items });
    }
    Ok(out)
}

/// Each case's metrics under a scoring function.
pub fn score_cases(cases: &[Case], mut score: impl FnMut(&str, &str) -> f64) -> Vec<CaseMetrics> {
    cases.iter().map(|c| tie_fair(&c.items.iter().map(|i| score(&c.user, i)).collect::<Vec<_>>())).collect()
}

/// A RecNet variant: name, what it is, config overrides.
pub struct Variant {
    pub name: &'static str,
    pub description: &'static str,
    pub sets: Vec<&'static str>,
}

pub fn variants() -> Vec<Variant> {
    let v = |name, description, sets: &[&'static str]| Variant { name, description, sets: sets.to_vec() };
    vec![
        v("recnet", "full RecNet: routers, buffers, filters, backward phase", &[]),
        v("recnet-no-propagation", "interactions only: no routing, no messages", &["routers.enabled=false"]),
        v("recnet-minus-routers", "one router for everyone: propagation without communities", &["routers.count=1"]),
        v("recnet-minus-buffer", "messages read once, on arrival: nothing waits or is held", &["buffer.enabled=false"]),
        v("recnet-minus-filter", "every message assimilated at full weight", &["filter.enabled=false"]),
        v("recnet-minus-backward", "no rewards, credit or rule/router edits", &["backward.enabled=false"]),
        v("recnet-minus-evidence", "messages carry attribute moves only: no evidence of choices", &["evidence.enabled=false"]),
        v("recnet-placebo", "the same kind of messages, delivered to random members (control)", &["routers.placebo=true"]),
    ]
}

/// Train a RecNet variant on the dataset's training interactions; its scorer ranks with the
/// users' learned state against the items', and its diagnostics say what propagation did.
pub fn recnet_model(
    ds: &Dataset,
    base: &Config,
    sets: &[&str],
    rounds: u32,
    seed: u64,
    name: &str,
) -> Result<(impl Fn(&str, &str) -> f64, diagnostics::Diagnostics)> {
    let (world, diagnostics) = train_recnet(ds, base, sets, rounds, seed, name)?;
    Ok((move |u: &str, i: &str| world_score(&world, u, i), diagnostics))
}

/// A variant's config: `base` with its settings on top.
pub fn variant_config(base: &Config, sets: &[&str]) -> Result<Config> {
    let current: toml::Table = toml::Table::try_from(base)?;
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Ok(Config::from_layers(&[current], &sets)?)
}

/// The world a RecNet variant reaches on the dataset's training interactions with the offline
/// reasoner, and what propagation did on the way.
pub fn train_recnet(ds: &Dataset, base: &Config, sets: &[&str], rounds: u32, seed: u64, name: &str) -> Result<(crate::world::World, diagnostics::Diagnostics)> {
    let cfg = variant_config(base, sets)?;
    let spec = ds.world_spec(seed);
    let mut engine = Engine::new(&spec, cfg, seed, rounds);
    // Diagnosed as the run goes: the events themselves are not kept.
    let mut diagnose = diagnostics::Diagnose::new(name);
    // The offline reasoner does not fail; were it to, the model is what the run reached.
    let _ = crate::engine::drive(&mut engine, &mut Offline::new(), &mut diagnose);
    Ok((engine.world().clone(), diagnose.finish()))
}

fn world_score(world: &crate::world::World, user: &str, item: &str) -> f64 {
    match (world.client(&Dataset::user_agent(user)), world.client(&Dataset::item_agent(item))) {
        (Some(u), Some(i)) => world.rank_score(u, i),
        _ => f64::NAN,
    }
}

/// NDCG/Recall of a world's current profiles on a dataset's cases (for metrics events).
pub fn world_metrics(world: &crate::world::World, cases: &[Case]) -> BTreeMap<String, f64> {
    mean_metrics(&score_world(world, cases))
}

/// Each case's metrics under a world's current state.
pub fn score_world(world: &crate::world::World, cases: &[Case]) -> Vec<CaseMetrics> {
    score_cases(cases, |u, i| world_score(world, u, i))
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelResult {
    pub name: String,
    pub description: String,
    /// Means over users and seeds.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

/// RecNet against another model on one metric: the mean of the users' differences and its 95%
/// interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Paired {
    pub model: String,
    pub baseline: String,
    pub metric: String,
    pub mean_diff: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    pub split: String,
    pub users: usize,
    pub protocol: String,
    pub seeds: Vec<u64>,
    pub rounds: u32,
    pub config: Config,
    pub models: Vec<ModelResult>,
    pub paired: Vec<Paired>,
    /// Per RecNet variant, averaged over seeds.
    pub diagnostics: Vec<Diagnostics>,
    /// The hybrid's weight of item-kNN against content, chosen on the validation split per seed.
    pub hybrid_weights: Vec<f64>,
}

pub struct EvalOptions {
    pub split: String,
    pub rounds: u32,
    pub seeds: Vec<u64>,
    /// Only these models (empty: all). `recnet` always runs: it is every interval's reference.
    pub models: Vec<String>,
}

/// The baselines, all computed by one job.
pub const BASELINES: [&str; 6] = ["random", "pop", "item-knn", "content", "hybrid", "bpr"];

/// Which jobs a model selection runs: whether the baselines do, and which variants.
fn selection(models: &[String]) -> Result<(bool, Vec<usize>)> {
    let vs = variants();
    for m in models {
        if !BASELINES.contains(&m.as_str()) && !vs.iter().any(|v| v.name == m) {
            let known: Vec<&str> = BASELINES.iter().copied().chain(vs.iter().map(|v| v.name)).collect();
            invalid!("--models: unknown model {m:?}; known: {}", known.join(", "));
        }
    }
    let baselines = models.is_empty() || models.iter().any(|m| BASELINES.contains(&m.as_str()));
    let chosen = (0..vs.len()).filter(|&ix| models.is_empty() || ix == 0 || models.iter().any(|m| m == vs[ix].name)).collect();
    Ok((baselines, chosen))
}

/// Jobs one seed of an evaluation runs (for progress bars).
pub fn jobs_per_seed(models: &[String]) -> Result<usize> {
    let (baselines, chosen) = selection(models)?;
    Ok(usize::from(baselines) + chosen.len())
}

/// One unit of work: one seed's baselines, or one seed's RecNet variant.
enum Job {
    Baselines { seed_ix: usize },
    Recnet { seed_ix: usize, variant: usize },
}

struct JobOutput {
    /// (model, description, per-case metrics in case order)
    models: Vec<(String, String, Vec<CaseMetrics>)>,
    diagnostics: Option<Diagnostics>,
    hybrid_weight: Option<f64>,
}

const HYBRID_WEIGHTS: [f64; 7] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

fn run_baselines(ds: &Dataset, cs: &[Case], split: &str, seed: u64) -> Result<JobOutput> {
    let tested = ds.for_split(split);
    let train = &tested.train;
    let mut models = Vec::new();
    let random = random_expected(CANDIDATES);
    models.push(("random".into(), "expected value of a uniform random ranking".into(), vec![random; cs.len()]));
    let pop = baselines::popularity(train);
    models.push(("pop".into(), "training-set popularity".into(), score_cases(cs, |_, i| pop.get(i).copied().unwrap_or(0.0))));
    let knn = ItemKnn::train(train);
    models.push(("item-knn".into(), "item-based kNN over co-occurrence (cosine)".into(), score_cases(cs, |u, i| knn.score(u, i))));
    let content = Content::train(ds, train);
    models.push(("content".into(), "category overlap (TF-IDF cosine)".into(), score_cases(cs, |u, i| content.score(u, i))));
    // The hybrid's mix is chosen on the validation split, with models trained for it.
    let valid_cases = cases(ds, "valid")?;
    let (vknn, vcontent) = (ItemKnn::train(&ds.train), Content::train(ds, &ds.train));
    let mix = |knn: &ItemKnn, content: &Content, c: &Case, w: f64| -> Vec<f64> {
        let a = standardise(&c.items.iter().map(|i| content.score(&c.user, i)).collect::<Vec<_>>());
        let b = standardise(&c.items.iter().map(|i| knn.score(&c.user, i)).collect::<Vec<_>>());
        a.iter().zip(&b).map(|(x, y)| x + w * y).collect()
    };
    let mut best = (f64::NEG_INFINITY, 0.0);
    for w in HYBRID_WEIGHTS {
        let m: Vec<CaseMetrics> = valid_cases.iter().map(|c| tie_fair(&mix(&vknn, &vcontent, c, w))).collect();
        let ndcg10 = mean_metrics(&m)["ndcg@10"];
        if ndcg10 > best.0 + 1e-12 {
            best = (ndcg10, w);
        }
    }
    let w = best.1;
    models.push((
        "hybrid".into(),
        if split == "valid" {
            "content + item-kNN, standardised per user, mixed on the validation split (the split it is scored on: optimistic)".into()
        } else {
            "content + item-kNN, standardised per user, mixed on the validation split".into()
        },
        cs.iter().map(|c| tie_fair(&mix(&knn, &content, c, w))).collect(),
    ));
    let all_items: Vec<String> = ds.items.keys().cloned().collect();
    let bpr = Bpr::train(train, &all_items, 32, 60, seed);
    models.push(("bpr".into(), "BPR matrix factorisation (dim 32, 60 epochs, seeded)".into(), score_cases(cs, |u, i| bpr.score(u, i))));
    Ok(JobOutput { models, diagnostics: None, hybrid_weight: Some(w) })
}

fn run_variant(ds: &Dataset, cs: &[Case], base: &Config, v: &Variant, opts: &EvalOptions, seed: u64) -> Result<JobOutput> {
    let tested = ds.for_split(&opts.split);
    let (model, diagnostics) = recnet_model(&tested, base, &v.sets, opts.rounds, seed, v.name)?;
    Ok(JobOutput { models: vec![(v.name.into(), v.description.into(), score_cases(cs, &model))], diagnostics: Some(diagnostics), hybrid_weight: None })
}

/// Run the whole evaluation: `load` gives the dataset for a seed (a single `.inter` file samples
/// its negatives with it). Jobs run on as many threads as the machine offers.
pub fn run_eval(
    load: impl Fn(u64) -> std::result::Result<Dataset, crate::inputs::dataset::DatasetError> + Sync,
    base: &Config,
    opts: &EvalOptions,
    mut progress: impl FnMut(&str),
) -> Result<Report> {
    if opts.seeds.is_empty() {
        invalid!("--seeds must be at least 1");
    }
    let datasets: Vec<Dataset> = opts.seeds.iter().map(|s| load(*s)).collect::<std::result::Result<_, _>>()?;
    let case_lists: Vec<Vec<Case>> = datasets.iter().map(|ds| cases(ds, &opts.split)).collect::<Result<_>>()?;
    // A mean over no users is no score (it printed −0.0000 and exited 0).
    if let Some(ds) = datasets.iter().zip(&case_lists).find_map(|(ds, c)| c.is_empty().then_some(ds)) {
        invalid!("{}: no {} users to evaluate (the {} split is empty)", crate::util::text::sanitize(&ds.name, 100), opts.split, opts.split);
    }
    let vs = variants();
    let (baselines, chosen) = selection(&opts.models)?;
    let mut jobs = Vec::new();
    for seed_ix in 0..opts.seeds.len() {
        if baselines {
            jobs.push(Job::Baselines { seed_ix });
        }
        for &variant in &chosen {
            jobs.push(Job::Recnet { seed_ix, variant });
        }
    }
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(jobs.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<JobOutput>)>();
    let mut outputs: Vec<Option<Result<JobOutput>>> = (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, next, datasets, case_lists, vs) = (&jobs, &next, &datasets, &case_lists, &vs);
            scope.spawn(move || loop {
                let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(job) = jobs.get(j) else { break };
                let run = || match job {
                    Job::Baselines { seed_ix } => run_baselines(&datasets[*seed_ix], &case_lists[*seed_ix], &opts.split, opts.seeds[*seed_ix]),
                    Job::Recnet { seed_ix, variant } => {
                        run_variant(&datasets[*seed_ix], &case_lists[*seed_ix], base, &vs[*variant], opts, opts.seeds[*seed_ix])
                    }
                };
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or(Err(EvalError::Panicked(j)));
                if tx.send((j, out)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (j, out) in rx {
            let label = match &jobs[j] {
                Job::Baselines { seed_ix } => format!("baselines, seed {}", opts.seeds[*seed_ix]),
                Job::Recnet { seed_ix, variant } => format!("{}, seed {}", vs[*variant].name, opts.seeds[*seed_ix]),
            };
            progress(&label);
            outputs[j] = Some(out);
        }
    });
    // Per model, per user: metrics summed over seeds.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut per_user: BTreeMap<String, BTreeMap<String, (CaseMetrics, usize)>> = BTreeMap::new();
    let mut diag: BTreeMap<String, Vec<Diagnostics>> = BTreeMap::new();
    let mut hybrid_weights = Vec::new();
    for (job, out) in jobs.iter().zip(outputs) {
        let out = out.unwrap_or(Err(EvalError::NotReported))?;
        let seed_ix = match job {
            Job::Baselines { seed_ix } | Job::Recnet { seed_ix, .. } => *seed_ix,
        };
        for (name, description, per_case) in out.models {
            if !order.iter().any(|(n, _)| *n == name) {
                order.push((name.clone(), description));
            }
            let users = per_user.entry(name).or_default();
            for (case, m) in case_lists[seed_ix].iter().zip(per_case) {
                let e = users.entry(case.user.clone()).or_insert(([0.0; 6], 0));
                for (acc, x) in e.0.iter_mut().zip(m) {
                    *acc += x;
                }
                e.1 += 1;
            }
        }
        if let Some(d) = out.diagnostics {
            diag.entry(d.model.clone()).or_default().push(d);
        }
        hybrid_weights.extend(out.hybrid_weight);
    }
    // Baselines first, then RecNet and its variants, in the order they were listed.
    order.sort_by_key(|(n, _)| n.starts_with("recnet"));
    let user_means =
        |name: &str| -> BTreeMap<String, CaseMetrics> { per_user[name].iter().map(|(u, (sum, n))| (u.clone(), sum.map(|x| x / *n as f64))).collect() };
    let models: Vec<ModelResult> = order
        .iter()
        .map(|(name, description)| ModelResult {
            name: name.clone(),
            description: description.clone(),
            metrics: mean_metrics(&user_means(name).into_values().collect::<Vec<_>>()),
        })
        .collect();
    let mut paired = Vec::new();
    let reference = user_means("recnet");
    for (name, _) in order.iter().filter(|(n, _)| n != "recnet") {
        let other = user_means(name);
        for (slot, metric) in METRIC_NAMES.iter().enumerate().filter(|(_, m)| m.starts_with("ndcg")) {
            let users: Vec<&String> = reference.keys().filter(|u| other.contains_key(*u)).collect();
            let a: Vec<f64> = users.iter().map(|u| reference[*u][slot]).collect();
            let b: Vec<f64> = users.iter().map(|u| other[*u][slot]).collect();
            let (mean_diff, ci_low, ci_high) = paired_interval(&a, &b);
            paired.push(Paired { model: "recnet".into(), baseline: name.clone(), metric: metric.to_string(), mean_diff, ci_low, ci_high });
        }
    }
    let diagnostics = vs.iter().filter_map(|v| diag.get(v.name).map(|runs| average_diagnostics(v.name, runs))).collect();
    Ok(Report {
        dataset: datasets[0].name.clone(),
        split: opts.split.clone(),
        users: reference.len(),
        protocol: "AgentCF leave-one-out: target + first 9 non-target items of the user's .random line; NDCG/Recall@{1,5,10}; ties broken by expectation; every history item trains, and the test state has seen the validation interaction; paired 95% t intervals over users (each user's difference averaged over seeds)".into(),
        seeds: opts.seeds.clone(),
        rounds: opts.rounds,
        config: base.clone(),
        models,
        paired,
        diagnostics,
        hybrid_weights,
    })
}

/// Counts summed over seeds and divided by their number (so they read as "per run").
fn average_diagnostics(model: &str, runs: &[Diagnostics]) -> Diagnostics {
    let n = runs.len().max(1) as f64;
    let avg = |f: &dyn Fn(&Diagnostics) -> f64| runs.iter().map(f).sum::<f64>() / n;
    let round = |f: &dyn Fn(&Diagnostics) -> f64| avg(f).round() as u64;
    Diagnostics {
        model: model.to_string(),
        messages_sent: round(&|d| d.messages_sent as f64),
        deliveries_to_users: round(&|d| d.deliveries_to_users as f64),
        deliveries_to_items: round(&|d| d.deliveries_to_items as f64),
        users_reached: avg(&|d| d.users_reached as f64).round() as usize,
        users: avg(&|d| d.users as f64).round() as usize,
        accepted: round(&|d| d.accepted as f64),
        rejected: round(&|d| d.rejected as f64),
        rewards: round(&|d| d.rewards as f64),
        zero_reward_share: avg(&|d| d.zero_reward_share),
        accepted_helped: round(&|d| d.accepted_helped as f64),
        accepted_hurt: round(&|d| d.accepted_hurt as f64),
        rule_edits: round(&|d| d.rule_edits as f64),
        rule_edits_learned: round(&|d| d.rule_edits_learned as f64),
        router_edits: round(&|d| d.router_edits as f64),
        evidence_stored: round(&|d| d.evidence_stored as f64),
        gate_updates: round(&|d| d.gate_updates as f64),
        gate_mean: avg(&|d| d.gate_mean),
        gate_max: avg(&|d| d.gate_max),
        update_gate_mean: avg(&|d| d.update_gate_mean),
        update_gate_min: avg(&|d| d.update_gate_min),
        co_choice_gate_mean: avg(&|d| d.co_choice_gate_mean),
    }
}

pub fn render_table(r: &Report) -> String {
    let seeds = match r.seeds.as_slice() {
        [one] => format!("seed {one}"),
        s => format!("seeds {}–{} ({})", s[0], s[s.len() - 1], s.len()),
    };
    let mut o = format!("{} · {} split · {} users · {} · {} round(s)\n", r.dataset, r.split, r.users, seeds, r.rounds);
    o.push_str(&format!("{:<24}{:>9}{:>9}{:>9}{:>10}{:>10}{:>10}\n", "model", "NDCG@1", "NDCG@5", "NDCG@10", "Recall@1", "Recall@5", "Recall@10"));
    for m in &r.models {
        o.push_str(&metrics_row(&m.name, 24, &m.metrics));
    }
    o.push_str("\nrecnet minus each model, NDCG@10: mean difference [95% paired interval over users]\n");
    for p in r.paired.iter().filter(|p| p.metric == "ndcg@10") {
        let verdict = if p.ci_low > 0.0 {
            "recnet better"
        } else if p.ci_high < 0.0 {
            "recnet worse"
        } else {
            "no significant difference"
        };
        o.push_str(&format!("  {:<24}{:>+8.4} [{:+.4}, {:+.4}]  {verdict}\n", p.baseline, p.mean_diff, p.ci_low, p.ci_high));
    }
    o.push_str("\npropagation, per run: deliveries to users/items · users reached · rewards exactly 0 · accepted messages that helped/hurt the next choice · rule edits (learned) · router edits · evidence entries stored · evidence gates at the end (mean/max) · update gates (mean/min)\n");
    for d in &r.diagnostics {
        o.push_str(&format!(
            "  {:<24}{:>6}/{:<6} {:>4}/{:<4} {:>5.1}% {:>5}/{:<5} {:>4} ({}) {:>4} {:>6} {:.2}/{:.2} {:.2}/{:.2}\n",
            d.model,
            d.deliveries_to_users,
            d.deliveries_to_items,
            d.users_reached,
            d.users,
            100.0 * d.zero_reward_share,
            d.accepted_helped,
            d.accepted_hurt,
            d.rule_edits,
            d.rule_edits_learned,
            d.router_edits,
            d.evidence_stored,
            d.gate_mean,
            d.gate_max,
            d.update_gate_mean,
            d.update_gate_min
        ));
    }
    o
}

/// One table row: a model's name padded to `width`, then NDCG and Recall at 1, 5 and 10 (a metric
/// it lacks shows as NaN).
pub(super) fn metrics_row(name: &str, width: usize, metrics: &BTreeMap<String, f64>) -> String {
    let g = |k: &str| metrics.get(k).copied().unwrap_or(f64::NAN);
    format!(
        "{name:<width$}{:>9.4}{:>9.4}{:>9.4}{:>10.4}{:>10.4}{:>10.4}\n",
        g("ndcg@1"),
        g("ndcg@5"),
        g("ndcg@10"),
        g("recall@1"),
        g("recall@5"),
        g("recall@10")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpr_beats_random_on_planted_structure() {
        // Two groups of users, each liking one half of the items.
        let mut pairs = Vec::new();
        let mut rng = crate::util::Rng::new(3);
        let items: Vec<String> = (0..40).map(|i| format!("i{i}")).collect();
        for u in 0..60 {
            let half = u % 2;
            for _ in 0..8 {
                let i = half * 20 + rng.below(20);
                pairs.push((format!("u{u}"), items[i].clone()));
            }
        }
        let m = Bpr::train(&pairs, &items, 16, 40, 1);
        let knn = ItemKnn::train(&pairs);
        let mut cases = Vec::new();
        for u in 0..60 {
            let half = u % 2;
            let target = items[half * 20 + (u * 7) % 20].clone();
            let mut cand = vec![target.clone()];
            cand.extend((0..9).map(|k| items[(1 - half) * 20 + (u + k * 3) % 20].clone()));
            cases.push(Case { user: format!("u{u}"), target, items: cand });
        }
        let random = random_expected(CANDIDATES)[2];
        for (name, got) in [("bpr", score_cases(&cases, |u, i| m.score(u, i))), ("item-knn", score_cases(&cases, |u, i| knn.score(u, i)))] {
            let got = mean_metrics(&got);
            assert!(got["ndcg@10"] > random + 0.3, "{name}: {got:?}");
        }
    }
}
