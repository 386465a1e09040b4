//! Counterfactual rewards for the backward phase: how a receiver's margin for the true item moves
//! with versus without a message. Pure functions of their inputs.

use crate::util::clip;
use crate::world::event::{AttrDelta, Decision};
use crate::world::score;
use std::collections::BTreeMap;

/// How strongly `attrs` prefer the true item over the negative (or score the true item alone).
pub fn margin(attrs: &BTreeMap<String, f64>, item: &BTreeMap<String, f64>, negative: Option<&BTreeMap<String, f64>>) -> f64 {
    score(attrs, item) - negative.map(|n| score(attrs, n)).unwrap_or(0.0)
}

pub fn with_deltas(attrs: &BTreeMap<String, f64>, deltas: &[AttrDelta], scale: f64) -> BTreeMap<String, f64> {
    let mut out = attrs.clone();
    for d in deltas {
        let e = out.entry(d.attr.clone()).or_insert(0.0);
        *e = clip(*e + scale * d.delta);
    }
    out
}

/// One candidate of a counterfactual: its id and attributes.
pub type Candidate<'a> = (&'a str, &'a BTreeMap<String, f64>);

/// The real choice a counterfactual is judged on, and the negatives it is compared with.
#[derive(Clone, Copy)]
pub struct Outcome<'a> {
    pub item: Candidate<'a>,
    pub negatives: &'a [Candidate<'a>],
}

/// What a user's evidence says at one moment: for the true item, and summed over every item
/// (evidence adds only to the items it names, so its effect against a uniformly drawn negative is
/// known exactly: the total over the pool's size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceView {
    pub for_item: f64,
    pub total: f64,
    pub pool: usize,
}

impl EvidenceView {
    fn against_negatives(&self) -> f64 {
        self.for_item - self.total / self.pool.max(1) as f64
    }
    fn plus(self, for_item: f64, total: f64) -> EvidenceView {
        EvidenceView { for_item: self.for_item + for_item, total: self.total + total, ..self }
    }
}

/// How far the true item's score stands above the negatives': the profile part against the sampled
/// negatives' mean, the evidence part against the expectation over the whole pool.
pub fn ranked_margin(attrs: &BTreeMap<String, f64>, evidence: EvidenceView, item: Candidate, negatives: &[Candidate]) -> f64 {
    let profile = score(attrs, item.1) - negatives.iter().map(|n| score(attrs, n.1)).sum::<f64>() / (negatives.len().max(1)) as f64;
    let profile = if negatives.is_empty() { score(attrs, item.1) } else { profile };
    profile + evidence.against_negatives()
}

/// The exact counterfactual for a user who received a message: `(with, without)` margins. Accepted:
/// `deltas` and `evidence_added` (gated, by item) are what the message left, so "without" removes
/// them. Rejected or held: the message is imagined accepted at `probe` weight (`evidence_added`
/// is then what it would have left, already scaled).
pub fn user_counterfactual(
    attrs: &BTreeMap<String, f64>,
    deltas: &[AttrDelta],
    evidence_now: EvidenceView,
    evidence_added: &[(String, f64)],
    decision: Decision,
    probe: f64,
    outcome: Outcome,
) -> (f64, f64) {
    let Outcome { item, negatives } = outcome;
    let for_item: f64 = evidence_added.iter().filter(|(i, _)| i == item.0).map(|(_, w)| *w).sum();
    let total: f64 = evidence_added.iter().map(|(_, w)| *w).sum();
    match decision {
        Decision::Accept => (
            ranked_margin(attrs, evidence_now, item, negatives),
            ranked_margin(&with_deltas(attrs, deltas, -1.0), evidence_now.plus(-for_item, -total), item, negatives),
        ),
        _ => (
            ranked_margin(&with_deltas(attrs, deltas, probe), evidence_now.plus(for_item, total), item, negatives),
            ranked_margin(attrs, evidence_now, item, negatives),
        ),
    }
}

/// The same for an item that received a message: how the choosing user scores it.
pub fn item_counterfactual(
    user: &BTreeMap<String, f64>,
    item_attrs: &BTreeMap<String, f64>,
    deltas: &[AttrDelta],
    decision: Decision,
    probe: f64,
) -> (f64, f64) {
    match decision {
        Decision::Accept => (score(user, item_attrs), score(user, &with_deltas(item_attrs, deltas, -1.0))),
        _ => (score(user, &with_deltas(item_attrs, deltas, probe)), score(user, item_attrs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(a, v)| (a.to_string(), *v)).collect()
    }

    #[test]
    fn counterfactual_reward_by_hand() {
        // User after assimilating "Bebop +0.3": Jazz 0.5, Bebop 0.3. True item: Jazz 0.8, Bebop 0.8;
        // negative: Metal 0.8.
        let user = w(&[("Jazz", 0.5), ("Bebop", 0.3)]);
        let item = w(&[("Jazz", 0.8), ("Bebop", 0.8)]);
        let neg = w(&[("Metal", 0.8)]);
        let deltas = vec![AttrDelta { attr: "Bebop".into(), delta: 0.3 }];
        let none = EvidenceView { for_item: 0.0, total: 0.0, pool: 10 };
        let (with, without) =
            user_counterfactual(&user, &deltas, none, &[], Decision::Accept, 0.5, Outcome { item: ("i1", &item), negatives: &[("i2", &neg)] });
        // score(with) = (0.5*0.8 + 0.3*0.8) / (0.8*sqrt 2) = 0.64 / 1.1314 = 0.5657
        // score(without) = 0.4 / 1.1314 = 0.3536; the negative scores 0 either way.
        assert!((with - 0.565685).abs() < 1e-5, "{with}");
        assert!((without - 0.353553).abs() < 1e-5, "{without}");
        // Rejected instead: the probe imagines it accepted at weight 0.5 on top of Jazz 0.5 alone.
        let before = w(&[("Jazz", 0.5)]);
        let (with, without) =
            user_counterfactual(&before, &deltas, none, &[], Decision::Reject, 0.5, Outcome { item: ("i1", &item), negatives: &[("i2", &neg)] });
        assert!((with - (0.4 + 0.12) / 1.131371).abs() < 1e-5, "{with}");
        assert!((without - 0.353553).abs() < 1e-5);
    }

    #[test]
    fn evidence_counts_against_the_whole_pool() {
        let user = w(&[("Rock", 0.5)]);
        let rock = w(&[("Rock", 0.8)]);
        // Two negatives, one as rocky as the true item: the profile part is (0.5 − 0.25) = 0.25.
        let folk = w(&[("Folk", 0.8)]);
        let negatives: Vec<Candidate> = vec![("n1", &rock), ("n2", &folk)];
        // The user holds gated evidence 0.3 for the true item and 0.2 for another item, in a pool
        // of ten items; the accepted message left the 0.3.
        let now = EvidenceView { for_item: 0.3, total: 0.5, pool: 10 };
        let added = vec![("i1".to_string(), 0.3)];
        let (with, without) = user_counterfactual(&user, &[], now, &added, Decision::Accept, 0.5, Outcome { item: ("i1", &rock), negatives: &negatives });
        // with: 0.25 + 0.3 − 0.5/10 = 0.5; without: 0.25 + 0 − 0.2/10 = 0.23.
        assert!((with - 0.5).abs() < 1e-9, "{with}");
        assert!((without - 0.23).abs() < 1e-9, "{without}");
        // Evidence for another item only costs the true item its expected edge: never exactly 0.
        let elsewhere = vec![("i9".to_string(), 0.3)];
        let (with, without) = user_counterfactual(&user, &[], now, &elsewhere, Decision::Accept, 0.5, Outcome { item: ("i1", &rock), negatives: &negatives });
        assert!((with - without + 0.03).abs() < 1e-9, "{}", with - without);
    }
}
