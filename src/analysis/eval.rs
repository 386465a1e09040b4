//! Evaluation with the AgentCF protocol: leave-one-out, ten candidates per user (the true item and
//! the first nine items of the user's `.random` line that are not it), NDCG@K and Recall@K for
//! K = 1, 5, 10. Ties are broken pessimistically: a candidate scoring the same as the true item
//! ranks above it, so a model that cannot tell items apart gets no credit for luck, and every run
//! ranks the same way.

use crate::engine::config::Config;
use crate::inputs::dataset::{Dataset, EvalCase};
use crate::engine::Engine;
use crate::reasoner::offline::Offline;
use crate::util::Rng;
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const KS: [usize; 3] = [1, 5, 10];
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
        other => bail!("--split {other}: use test or valid"),
    };
    let mut out = Vec::new();
    for c in list {
        let Some(neg) = ds.negatives.get(&c.user) else {
            bail!("user {} has no candidate line in the .random file", crate::util::text::sanitize(&c.user, 30));
        };
        let mut items = vec![c.target.clone()];
        items.extend(neg.iter().filter(|i| **i != c.target).take(CANDIDATES - 1).cloned());
        if items.len() < CANDIDATES {
            bail!("user {} has only {} candidates (need {CANDIDATES})", crate::util::text::sanitize(&c.user, 30), items.len());
        }
        out.push(Case { user: c.user.clone(), target: c.target.clone(), items });
    }
    Ok(out)
}

/// 1-based rank of the target among the candidates' scores (target's score first), ties against
/// it counted above it.
pub fn rank(scores: &[f64]) -> usize {
    let t = scores[0];
    1 + scores[1..].iter().filter(|s| **s >= t || s.is_nan()).count()
}

pub fn ndcg_at(rank: usize, k: usize) -> f64 {
    if rank <= k {
        1.0 / ((rank as f64) + 1.0).log2()
    } else {
        0.0
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelResult {
    pub name: String,
    pub description: String,
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

/// Mean NDCG@K and Recall@K over the cases, from each case's target rank.
pub fn metrics_from_ranks(ranks: &[usize]) -> BTreeMap<String, f64> {
    let n = ranks.len().max(1) as f64;
    let mut m = BTreeMap::new();
    for k in KS {
        m.insert(format!("ndcg@{k}"), ranks.iter().map(|r| ndcg_at(*r, k)).sum::<f64>() / n);
        m.insert(format!("recall@{k}"), ranks.iter().filter(|r| **r <= k).count() as f64 / n);
    }
    m
}

/// The random ranker's exact expectation: the target is equally likely at every rank.
pub fn random_expected() -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for k in KS {
        let kk = k.min(CANDIDATES);
        m.insert(format!("ndcg@{k}"), (1..=kk).map(|r| ndcg_at(r, k)).sum::<f64>() / CANDIDATES as f64);
        m.insert(format!("recall@{k}"), kk as f64 / CANDIDATES as f64);
    }
    m
}

pub fn score_cases(cases: &[Case], mut score: impl FnMut(&str, &str) -> f64) -> BTreeMap<String, f64> {
    let ranks: Vec<usize> = cases.iter().map(|c| rank(&c.items.iter().map(|i| score(&c.user, i)).collect::<Vec<_>>())).collect();
    metrics_from_ranks(&ranks)
}

pub fn popularity(ds: &Dataset) -> HashMap<String, f64> {
    let mut pop: HashMap<String, f64> = HashMap::new();
    for (_, i) in &ds.train {
        *pop.entry(i.clone()).or_insert(0.0) += 1.0;
    }
    pop
}

/// Bayesian personalised ranking matrix factorisation, our own, seeded.
pub struct Bpr {
    users: HashMap<String, usize>,
    items: HashMap<String, usize>,
    p: Vec<f32>,
    q: Vec<f32>,
    dim: usize,
}

impl Bpr {
    pub fn train(pairs: &[(String, String)], all_items: &[String], dim: usize, epochs: usize, seed: u64) -> Bpr {
        let mut users: HashMap<String, usize> = HashMap::new();
        let mut items: HashMap<String, usize> = HashMap::new();
        for it in all_items {
            let n = items.len();
            items.entry(it.clone()).or_insert(n);
        }
        let mut seen: Vec<BTreeSet<usize>> = Vec::new();
        let mut data = Vec::with_capacity(pairs.len());
        for (u, i) in pairs {
            let nu = users.len();
            let u = *users.entry(u.clone()).or_insert(nu);
            let ni = items.len();
            let i = *items.entry(i.clone()).or_insert(ni);
            if seen.len() <= u {
                seen.resize(u + 1, BTreeSet::new());
            }
            seen[u].insert(i);
            data.push((u, i));
        }
        let mut rng = Rng::new(seed);
        let mut gauss = || {
            // Box–Muller from the seeded uniform source.
            let (a, b) = (rng.next_f64().max(1e-12), rng.next_f64());
            ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
        };
        let p: Vec<f32> = (0..users.len() * dim).map(|_| 0.1 * gauss()).collect();
        let q: Vec<f32> = (0..items.len() * dim).map(|_| 0.1 * gauss()).collect();
        let mut m = Bpr { users, items, p, q, dim };
        let (lr, reg) = (0.05f32, 0.01f32);
        let n_items = m.items.len();
        let mut order: Vec<usize> = (0..data.len()).collect();
        for _ in 0..epochs {
            for k in (1..order.len()).rev() {
                let j = rng.below(k + 1);
                order.swap(k, j);
            }
            for &x in &order {
                let (u, i) = data[x];
                let mut j = rng.below(n_items);
                let mut tries = 0;
                while seen[u].contains(&j) && tries < 20 {
                    j = rng.below(n_items);
                    tries += 1;
                }
                let (pu, qi, qj) = (u * dim, i * dim, j * dim);
                let diff: f32 = (0..dim).map(|d| m.p[pu + d] * (m.q[qi + d] - m.q[qj + d])).sum();
                let g = 1.0 / (1.0 + diff.exp());
                for d in 0..dim {
                    let (pf, qif, qjf) = (m.p[pu + d], m.q[qi + d], m.q[qj + d]);
                    m.p[pu + d] += lr * (g * (qif - qjf) - reg * pf);
                    m.q[qi + d] += lr * (g * pf - reg * qif);
                    m.q[qj + d] += lr * (-g * pf - reg * qjf);
                }
            }
        }
        m
    }

    pub fn score(&self, user: &str, item: &str) -> f64 {
        match (self.users.get(user), self.items.get(item)) {
            (Some(u), Some(i)) => (0..self.dim).map(|d| self.p[u * self.dim + d] * self.q[i * self.dim + d]).sum::<f32>() as f64,
            _ => f64::NEG_INFINITY,
        }
    }
}

/// The RecNet variants compared: name, what it is, config overrides.
pub fn variants() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        ("recnet", "full RecNet: routers, buffers, filters, backward phase", vec![]),
        ("recnet-no-propagation", "interactions only: no routing, no messages", vec!["routers.enabled=false"]),
        ("recnet-minus-routers", "one router for everyone: propagation without communities", vec!["routers.count=1"]),
        ("recnet-minus-buffer", "messages read on arrival, no buffering", vec!["buffer.enabled=false"]),
        ("recnet-minus-filter", "every message assimilated at full weight", vec!["filter.enabled=false"]),
        ("recnet-minus-backward", "no rewards, credit or rule/router edits", vec!["backward.enabled=false"]),
    ]
}

/// Train a RecNet variant on the dataset's training interactions and score candidates with the
/// users' learned weights against the items' learned attributes.
pub fn recnet_model(ds: &Dataset, base: &Config, sets: &[&str], rounds: u32, seed: u64) -> Result<impl Fn(&str, &str) -> f64> {
    let current: toml::Table = toml::Table::try_from(base)?;
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let cfg = Config::from_layers(&[current], &sets)?;
    let spec = ds.world_spec(seed);
    let mut engine = Engine::new(&spec, cfg, seed, rounds);
    engine.run_to_end(&mut Offline::new());
    let world = engine.world().clone();
    Ok(move |u: &str, i: &str| {
        let (Some(user), Some(item)) = (world.client(&Dataset::user_agent(u)), world.client(&Dataset::item_agent(i))) else {
            return f64::NEG_INFINITY;
        };
        crate::world::score(&user.attrs, &item.attrs)
    })
}

/// NDCG/Recall of a world's current profiles on a dataset's cases (for metrics events).
pub fn world_metrics(world: &crate::world::World, cases: &[Case]) -> BTreeMap<String, f64> {
    score_cases(cases, |u, i| match (world.client(&Dataset::user_agent(u)), world.client(&Dataset::item_agent(i))) {
        (Some(user), Some(item)) => crate::world::score(&user.attrs, &item.attrs),
        _ => f64::NEG_INFINITY,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    pub split: String,
    pub users: usize,
    pub protocol: String,
    pub seed: u64,
    pub rounds: u32,
    pub config: Config,
    pub models: Vec<ModelResult>,
}

pub fn run_eval(ds: &Dataset, base: &Config, split: &str, rounds: u32, seed: u64, mut progress: impl FnMut(&str)) -> Result<Report> {
    let cs = cases(ds, split)?;
    let mut models = Vec::new();
    progress("random");
    models.push(ModelResult { name: "random".into(), description: "expected value of a uniform random ranking".into(), metrics: random_expected() });
    progress("pop");
    let pop = popularity(ds);
    models.push(ModelResult {
        name: "pop".into(),
        description: "training-set popularity".into(),
        metrics: score_cases(&cs, |_, i| pop.get(i).copied().unwrap_or(0.0)),
    });
    progress("bpr");
    let all_items: Vec<String> = ds.items.keys().cloned().collect();
    let bpr = Bpr::train(&ds.train, &all_items, 32, 60, seed);
    models.push(ModelResult {
        name: "bpr".into(),
        description: "BPR matrix factorisation (dim 32, 60 epochs, seeded)".into(),
        metrics: score_cases(&cs, |u, i| bpr.score(u, i)),
    });
    // The variants are independent runs: two at a time (the machines have two cores).
    let vs = variants();
    let results: Vec<Result<BTreeMap<String, f64>>> = std::thread::scope(|scope| {
        let mut out = Vec::new();
        for pair in vs.chunks(2) {
            let handles: Vec<_> = pair
                .iter()
                .map(|(_, _, sets)| scope.spawn(|| recnet_model(ds, base, sets, rounds, seed).map(|m| score_cases(&cs, &m))))
                .collect();
            for ((name, _, _), h) in pair.iter().zip(handles) {
                progress(name);
                out.push(h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the {name} run panicked"))));
            }
        }
        out
    });
    for ((name, description, _), r) in vs.iter().zip(results) {
        models.push(ModelResult { name: (*name).into(), description: (*description).into(), metrics: r? });
    }
    Ok(Report {
        dataset: ds.name.clone(),
        split: split.into(),
        users: cs.len(),
        protocol: "AgentCF leave-one-out: target + first 9 non-target items of the user's .random line; NDCG/Recall@{1,5,10}; ties ranked against the target".into(),
        seed,
        rounds,
        config: base.clone(),
        models,
    })
}

pub fn render_table(r: &Report) -> String {
    let mut o = format!("{} · {} split · {} users · seed {} · {} round(s)\n", r.dataset, r.split, r.users, r.seed, r.rounds);
    o.push_str(&format!("{:<24}{:>9}{:>9}{:>9}{:>10}{:>10}{:>10}\n", "model", "NDCG@1", "NDCG@5", "NDCG@10", "Recall@1", "Recall@5", "Recall@10"));
    for m in &r.models {
        let g = |k: &str| m.metrics.get(k).copied().unwrap_or(f64::NAN);
        o.push_str(&format!(
            "{:<24}{:>9.4}{:>9.4}{:>9.4}{:>10.4}{:>10.4}{:>10.4}\n",
            m.name,
            g("ndcg@1"),
            g("ndcg@5"),
            g("ndcg@10"),
            g("recall@1"),
            g("recall@5"),
            g("recall@10")
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_and_recall_on_hand_made_rankings() {
        // Target ranked 1st, 3rd and 11th-or-worse (outside 10).
        let m = metrics_from_ranks(&[1, 3, 11]);
        assert!((m["ndcg@1"] - 1.0 / 3.0).abs() < 1e-12);
        assert!((m["ndcg@5"] - (1.0 + 0.5) / 3.0).abs() < 1e-12, "1/log2(4) = 0.5");
        assert!((m["recall@5"] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m["recall@10"], 2.0 / 3.0);
        assert_eq!(rank(&[0.5, 0.1, 0.9, 0.5]), 3, "ties rank above the target");
        assert_eq!(rank(&[1.0, 0.0, 0.0]), 1);
    }

    #[test]
    fn random_expected_value_matches_a_full_enumeration() {
        let e = random_expected();
        let all: Vec<usize> = (1..=CANDIDATES).collect();
        let m = metrics_from_ranks(&all);
        for k in ["ndcg@1", "ndcg@5", "ndcg@10", "recall@1", "recall@5", "recall@10"] {
            assert!((e[k] - m[k]).abs() < 1e-12, "{k}");
        }
        assert!((e["ndcg@10"] - 0.454356).abs() < 1e-5);
        assert_eq!(e["recall@10"], 1.0);
    }

    #[test]
    fn bpr_beats_random_on_planted_structure() {
        // Two groups of users, each liking one half of the items.
        let mut pairs = Vec::new();
        let mut rng = Rng::new(3);
        let items: Vec<String> = (0..40).map(|i| format!("i{i}")).collect();
        for u in 0..60 {
            let half = u % 2;
            for _ in 0..8 {
                let i = half * 20 + rng.below(20);
                pairs.push((format!("u{u}"), items[i].clone()));
            }
        }
        let m = Bpr::train(&pairs, &items, 16, 40, 1);
        let mut cases = Vec::new();
        for u in 0..60 {
            let half = u % 2;
            let target = items[half * 20 + (u * 7) % 20].clone();
            let mut cand = vec![target.clone()];
            cand.extend((0..9).map(|k| items[(1 - half) * 20 + (u + k * 3) % 20].clone()));
            cases.push(Case { user: format!("u{u}"), target, items: cand });
        }
        let got = score_cases(&cases, |u, i| m.score(u, i));
        assert!(got["ndcg@10"] > random_expected()["ndcg@10"] + 0.3, "{got:?}");
    }
}
