//! The baselines RecNet is measured against, each scoring a (user, item) pair from the training
//! interactions alone: popularity, item-kNN over co-occurrence, content (category overlap), a hybrid
//! of the two, and BPR matrix factorisation. All are ours and deterministic.

use crate::inputs::dataset::Dataset;
use crate::util::Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Each user's training items, in order.
pub fn histories(train: &[(String, String)]) -> HashMap<String, Vec<String>> {
    let mut h: HashMap<String, Vec<String>> = HashMap::new();
    for (u, i) in train {
        h.entry(u.clone()).or_default().push(i.clone());
    }
    h
}

pub fn popularity(train: &[(String, String)]) -> HashMap<String, f64> {
    let mut pop: HashMap<String, f64> = HashMap::new();
    for (_, i) in train {
        *pop.entry(i.clone()).or_insert(0.0) += 1.0;
    }
    pop
}

/// Item-based collaborative filtering: an item scores the sum of its cosine co-occurrence with the
/// user's history (two items co-occur when one user chose both).
pub struct ItemKnn {
    /// Per item, the set of users who chose it, as a bitset over user indices.
    fans: HashMap<String, Vec<u64>>,
    counts: HashMap<String, u32>,
    histories: HashMap<String, Vec<String>>,
}

impl ItemKnn {
    pub fn train(train: &[(String, String)]) -> ItemKnn {
        let mut user_ix: HashMap<&str, usize> = HashMap::new();
        for (u, _) in train {
            let n = user_ix.len();
            user_ix.entry(u.as_str()).or_insert(n);
        }
        let words = user_ix.len().div_ceil(64).max(1);
        let mut fans: HashMap<String, Vec<u64>> = HashMap::new();
        for (u, i) in train {
            let ix = user_ix[u.as_str()];
            fans.entry(i.clone()).or_insert_with(|| vec![0; words])[ix / 64] |= 1 << (ix % 64);
        }
        let counts = fans.iter().map(|(i, b)| (i.clone(), b.iter().map(|w| w.count_ones()).sum())).collect();
        let mut histories = histories(train);
        for h in histories.values_mut() {
            let mut seen = BTreeSet::new();
            h.retain(|i| seen.insert(i.clone()));
        }
        ItemKnn { fans, counts, histories }
    }

    pub fn similarity(&self, a: &str, b: &str) -> f64 {
        let (Some(fa), Some(fb)) = (self.fans.get(a), self.fans.get(b)) else {
            return 0.0;
        };
        let both: u32 = fa.iter().zip(fb).map(|(x, y)| (x & y).count_ones()).sum();
        if both == 0 {
            return 0.0;
        }
        both as f64 / ((self.counts[a] as f64) * (self.counts[b] as f64)).sqrt()
    }

    pub fn score(&self, user: &str, item: &str) -> f64 {
        let Some(h) = self.histories.get(user) else {
            return 0.0;
        };
        h.iter().filter(|j| j.as_str() != item).map(|j| self.similarity(item, j)).sum()
    }
}

/// Content-based: the cosine between a user's category profile (the categories of the items they
/// chose, each item's categories sharing a unit of weight) and an item's categories, both weighted
/// by inverse document frequency so that a category every item has counts little.
pub struct Content {
    categories: HashMap<String, Vec<String>>,
    idf: HashMap<String, f64>,
    /// Ordered maps: sums in a fixed order give the same floating-point result on every run, so
    /// exact ties stay ties (a hash map's order would break them differently each time).
    profiles: HashMap<String, BTreeMap<String, f64>>,
}

impl Content {
    pub fn train(ds: &Dataset, train: &[(String, String)]) -> Content {
        let categories: HashMap<String, Vec<String>> = ds.items.iter().map(|(id, info)| (id.clone(), info.categories.clone())).collect();
        let n = categories.len().max(1) as f64;
        let mut df: HashMap<String, f64> = HashMap::new();
        for cats in categories.values() {
            for c in cats.iter().collect::<BTreeSet<_>>() {
                *df.entry(c.clone()).or_insert(0.0) += 1.0;
            }
        }
        let idf: HashMap<String, f64> = df.into_iter().map(|(c, d)| (c, (1.0 + n / d).ln())).collect();
        let mut profiles: HashMap<String, BTreeMap<String, f64>> = HashMap::new();
        for (u, i) in train {
            let cats = categories.get(i).map(|c| c.as_slice()).unwrap_or(&[]);
            let share = 1.0 / (cats.len().max(1) as f64);
            let p = profiles.entry(u.clone()).or_default();
            for c in cats {
                *p.entry(c.clone()).or_insert(0.0) += share * idf.get(c).copied().unwrap_or(0.0);
            }
        }
        Content { categories, idf, profiles }
    }

    pub fn score(&self, user: &str, item: &str) -> f64 {
        let (Some(p), Some(cats)) = (self.profiles.get(user), self.categories.get(item)) else {
            return 0.0;
        };
        let item_vec: BTreeMap<&str, f64> = cats.iter().map(|c| (c.as_str(), self.idf.get(c).copied().unwrap_or(0.0))).collect();
        let dot: f64 = item_vec.iter().map(|(c, w)| p.get(*c).copied().unwrap_or(0.0) * w).sum();
        let norm_i = item_vec.values().map(|w| w * w).sum::<f64>().sqrt();
        let norm_u = p.values().map(|w| w * w).sum::<f64>().sqrt();
        if norm_i == 0.0 || norm_u == 0.0 {
            0.0
        } else {
            dot / (norm_i * norm_u)
        }
    }
}

/// Standardise scores over one candidate list (so two models on different scales can be mixed).
pub fn standardise(scores: &[f64]) -> Vec<f64> {
    let n = scores.len().max(1) as f64;
    let mean = scores.iter().sum::<f64>() / n;
    let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
    scores.iter().map(|s| if sd > 1e-12 { (s - mean) / sd } else { 0.0 }).collect()
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
            _ => f64::NAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(u, i)| (u.to_string(), i.to_string())).collect()
    }

    #[test]
    fn item_knn_scores_items_chosen_with_the_users_history() {
        // a and b are chosen together twice; c goes with d.
        let t = pairs(&[("1", "a"), ("1", "b"), ("2", "a"), ("2", "b"), ("3", "c"), ("3", "d"), ("4", "a")]);
        let m = ItemKnn::train(&t);
        assert!((m.similarity("a", "b") - 2.0 / (3.0f64 * 2.0).sqrt()).abs() < 1e-12);
        assert_eq!(m.similarity("a", "c"), 0.0);
        assert!(m.score("4", "b") > m.score("4", "c"));
        assert_eq!(m.score("9", "b"), 0.0, "an unknown user scores nothing");
    }

    #[test]
    fn standardise_centres_and_scales() {
        let z = standardise(&[1.0, 2.0, 3.0]);
        assert!((z.iter().sum::<f64>()).abs() < 1e-12);
        assert!(z[2] > z[1] && z[1] > z[0]);
        assert_eq!(standardise(&[2.0, 2.0]), vec![0.0, 0.0], "a flat list stays flat");
    }
}
