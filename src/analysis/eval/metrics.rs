//! Ranking metrics with ties broken by expectation, and paired confidence intervals.
//!
//! A tied group of candidates shares the mean gain of the positions it spans: the only rule under
//! which a model that cannot tell items apart gets neither a penalty nor a gift. An unscorable
//! candidate (NaN) ranks last.

use std::collections::BTreeMap;

pub const KS: [usize; 3] = [1, 5, 10];
/// The metric names, in the order of a [`CaseMetrics`] array.
pub const METRIC_NAMES: [&str; 6] = ["ndcg@1", "ndcg@5", "ndcg@10", "recall@1", "recall@5", "recall@10"];
/// One case's NDCG@1/5/10 and Recall@1/5/10.
pub type CaseMetrics = [f64; 6];

pub fn ndcg_at(rank: usize, k: usize) -> f64 {
    if rank <= k {
        1.0 / ((rank as f64) + 1.0).log2()
    } else {
        0.0
    }
}

fn comparable(x: f64) -> f64 {
    if x.is_nan() {
        f64::NEG_INFINITY
    } else {
        x
    }
}

/// The target's metrics from the candidates' scores (the target's score first): the target is
/// equally likely at each position its tied group spans.
pub fn tie_fair(scores: &[f64]) -> CaseMetrics {
    let Some((&target, others)) = scores.split_first() else {
        return [0.0; 6];
    };
    let t = comparable(target);
    let better = others.iter().filter(|s| comparable(**s) > t).count();
    let tied = others.iter().filter(|s| comparable(**s) == t).count();
    let positions = (better + 1)..=(better + tied + 1);
    let share = 1.0 / (tied + 1) as f64;
    let mut m = [0.0; 6];
    for (slot, k) in KS.iter().enumerate() {
        m[slot] = positions.clone().map(|p| ndcg_at(p, *k)).sum::<f64>() * share;
        m[slot + 3] = positions.clone().filter(|p| p <= k).count() as f64 * share;
    }
    m
}

/// Means over cases, by metric name.
pub fn mean_metrics(per_case: &[CaseMetrics]) -> BTreeMap<String, f64> {
    let n = per_case.len().max(1) as f64;
    METRIC_NAMES.iter().enumerate().map(|(slot, name)| (name.to_string(), per_case.iter().map(|m| m[slot]).sum::<f64>() / n)).collect()
}

/// The random ranker's exact expectation over `candidates` positions.
pub fn random_expected(candidates: usize) -> CaseMetrics {
    tie_fair(&vec![0.0; candidates])
}

/// Two-sided 95% quantile of Student's t with `dof` degrees of freedom (Cornish–Fisher expansion
/// around the normal quantile, within 0.004 of the exact value from 5 degrees of freedom and 1e-3
/// from 9; a table below that).
pub fn t95(dof: usize) -> f64 {
    let z: f64 = 1.959_963_984_540_054;
    // Exact below 5 degrees of freedom, where the expansion is poor.
    const SMALL: [f64; 5] = [f64::INFINITY, 12.706_205, 4.302_653, 3.182_446, 2.776_445];
    if dof < SMALL.len() {
        return SMALL[dof];
    }
    let v = dof as f64;
    let g1 = (z.powi(3) + z) / 4.0;
    let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
    let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
    let g4 = (79.0 * z.powi(9) + 776.0 * z.powi(7) + 1482.0 * z.powi(5) - 1920.0 * z.powi(3) - 945.0 * z) / 92160.0;
    z + g1 / v + g2 / v.powi(2) + g3 / v.powi(3) + g4 / v.powi(4)
}

/// Mean of the paired differences `a - b` and its 95% t interval: each element is one user's
/// difference (already averaged over seeds, which are not independent samples of users).
pub fn paired_interval(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len();
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::NEG_INFINITY, f64::INFINITY);
    }
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t95(n - 1) * (var / n as f64).sqrt();
    (mean, mean - half, mean + half)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn distinct_scores_rank_plainly() {
        // Target third: two candidates above it.
        let m = tie_fair(&[0.5, 0.9, 0.7, 0.1]);
        assert!(close(m[0], 0.0));
        assert!(close(m[1], 0.5), "1/log2(4)");
        assert!(close(m[4], 1.0) && close(m[3], 0.0));
    }

    #[test]
    fn a_tie_shares_the_mean_gain_of_its_positions() {
        // Target tied with one other at the top: positions 1 and 2, each with probability 1/2.
        let m = tie_fair(&[0.5, 0.5, 0.1]);
        assert!(close(m[0], 0.5), "NDCG@1 = P(first) = 1/2, got {}", m[0]);
        assert!(close(m[1], (1.0 + 1.0 / 3f64.log2()) / 2.0));
        assert!(close(m[3], 0.5) && close(m[4], 1.0));
        // A model that scores everything the same is exactly random, not worst.
        let flat = tie_fair(&[0.0; 10]);
        let all: Vec<CaseMetrics> = (0..10)
            .map(|p| {
                tie_fair(
                    &(0..10)
                        .map(|i| {
                            if i == 0 {
                                0.0
                            } else if i <= p {
                                1.0
                            } else {
                                -1.0
                            }
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let expected = mean_metrics(&all);
        for (slot, name) in METRIC_NAMES.iter().enumerate() {
            assert!(close(flat[slot], expected[*name]), "{name}");
        }
        assert!((flat[2] - 0.454356).abs() < 1e-5);
    }

    #[test]
    fn nan_ranks_last() {
        let m = tie_fair(&[f64::NAN, 0.1, 0.2]);
        assert!(close(m[3], 0.0) && close(m[4], 1.0));
        assert!(close(m[1], 0.5), "third of three");
        let m = tie_fair(&[0.0, f64::NAN]);
        assert!(close(m[0], 1.0));
    }

    #[test]
    fn t_quantiles_match_tables() {
        for (dof, exact, tolerance) in
            [(1, 12.706205, 1e-5), (3, 3.182446, 1e-5), (5, 2.570582, 4e-3), (9, 2.262157, 1e-3), (30, 2.042272, 1e-4), (99, 1.984217, 1e-5)]
        {
            assert!((t95(dof) - exact).abs() < tolerance, "dof {dof}: {} vs {exact}", t95(dof));
        }
    }

    #[test]
    fn paired_interval_covers_a_planted_difference() {
        let a: Vec<f64> = (0..50).map(|i| 0.5 + 0.01 * ((i * 7) % 11) as f64).collect();
        let b: Vec<f64> = a.iter().enumerate().map(|(i, x)| x - 0.1 + 0.002 * ((i % 5) as f64 - 2.0)).collect();
        let (mean, lo, hi) = paired_interval(&a, &b);
        assert!(close(mean, 0.1));
        assert!(lo > 0.09 && hi < 0.11 && lo < 0.1 && hi > 0.1, "[{lo}, {hi}]");
        let (_, lo, hi) = paired_interval(&a, &a);
        assert!(close(lo, 0.0) && close(hi, 0.0), "no difference, no width");
    }
}
