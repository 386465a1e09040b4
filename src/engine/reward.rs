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

/// The exact counterfactual for a user who received a message: `(with, without)` margins.
/// Accepted: `deltas` are what assimilation changed, so "without" removes them. Rejected: the
/// message is imagined accepted at `probe` weight.
pub fn user_counterfactual(
    attrs: &BTreeMap<String, f64>,
    deltas: &[AttrDelta],
    decision: Decision,
    probe: f64,
    item: &BTreeMap<String, f64>,
    negative: Option<&BTreeMap<String, f64>>,
) -> (f64, f64) {
    match decision {
        Decision::Accept => (margin(attrs, item, negative), margin(&with_deltas(attrs, deltas, -1.0), item, negative)),
        _ => (margin(&with_deltas(attrs, deltas, probe), item, negative), margin(attrs, item, negative)),
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
        let (with, without) = user_counterfactual(&user, &deltas, Decision::Accept, 0.5, &item, Some(&neg));
        // score(with) = (0.5*0.8 + 0.3*0.8) / (0.8*sqrt 2) = 0.64 / 1.1314 = 0.5657
        // score(without) = 0.4 / 1.1314 = 0.3536; the negative scores 0 either way.
        assert!((with - 0.565685).abs() < 1e-5, "{with}");
        assert!((without - 0.353553).abs() < 1e-5, "{without}");
        // Rejected instead: the probe imagines it accepted at weight 0.5 on top of Jazz 0.5 alone.
        let before = w(&[("Jazz", 0.5)]);
        let (with, without) = user_counterfactual(&before, &deltas, Decision::Reject, 0.5, &item, Some(&neg));
        assert!((with - (0.4 + 0.12) / 1.131371).abs() < 1e-5, "{with}");
        assert!((without - 0.353553).abs() < 1e-5);
    }
}
