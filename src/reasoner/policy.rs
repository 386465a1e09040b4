//! The offline reasoner's backward-phase policy: credit assignment, gradient analysis and module
//! optimisation. Pure functions of their inputs.

use crate::rules::{parse_rules, print_rules, Action, CmpOp, Expr, Field, Rule, Value};
use crate::util::r4;
use crate::world::event::{CreditShare, Decision, Edit, Evidence};
use crate::world::rule_module;

/// Offline credit assignment: the deciding rule gets the reward of what it accepted and the
/// negated would-be reward of what it rejected; the router gets a share of the content's worth.
pub fn offline_credit(agent: &str, rule: Option<usize>, router: &str, decision: Decision, reward: f64, router_share: f64) -> (Vec<CreditShare>, String) {
    let mut shares = Vec::new();
    if let Some(r) = rule {
        let amount = match decision {
            Decision::Accept => reward,
            _ => -reward,
        };
        shares.push(CreditShare { module: rule_module(agent, r), amount: r4(amount) });
    }
    shares.push(CreditShare { module: router.to_string(), amount: r4(reward * router_share) });
    let reason = match (decision, reward >= 0.0) {
        (Decision::Accept, true) => format!("accepting helped the true item by {reward:.3}"),
        (Decision::Accept, false) => format!("accepting hurt the true item by {:.3}", -reward),
        (_, true) => format!("rejecting lost a would-be gain of {reward:.3}"),
        (_, false) => format!("rejecting avoided a would-be loss of {:.3}", -reward),
    };
    (shares, reason)
}

fn mean_reward(evidence: &[Evidence]) -> f64 {
    evidence.iter().map(|e| e.reward).sum::<f64>() / (evidence.len() as f64).max(1.0)
}

/// Offline gradient analysis for one rule: aggregate its evidence into a direction and an edit.
pub fn rule_gradient(agent: &str, rule_ix: usize, rule: &Rule, evidence: &[Evidence], threshold: f64) -> (String, Edit) {
    let mean = mean_reward(evidence);
    match rule.action {
        Action::Accept { .. } if mean < -threshold => (
            format!("rule {rule_ix} accepted {} message(s) that hurt on average ({mean:.3}): tighten it", evidence.len()),
            Edit::Tighten { agent: agent.into(), rule: rule_ix },
        ),
        Action::Reject | Action::Hold { .. } if mean > threshold => {
            let helpful: Vec<&Evidence> = evidence.iter().filter(|e| e.reward > 0.0).collect();
            let min_rel = helpful.iter().map(|e| e.relevance).fold(f64::INFINITY, f64::min);
            let min_relevance = if min_rel.is_finite() { ((min_rel * 20.0).floor() / 20.0).max(0.05) } else { 0.3 };
            (
                format!("rule {rule_ix} rejected {} message(s) that would have helped ({mean:.3} on average): let them in", helpful.len()),
                Edit::Loosen { agent: agent.into(), rule: rule_ix, min_relevance: r4(min_relevance) },
            )
        }
        _ => (format!("mean reward {mean:.3} over {} decision(s) of rule {rule_ix}: keep it", evidence.len()), Edit::NoChange),
    }
}

/// Offline gradient analysis for a router.
pub fn router_gradient(router: &str, evidence: &[Evidence], threshold: f64, step: f64) -> (String, Edit) {
    let mean = mean_reward(evidence);
    if mean < -threshold {
        (
            format!("{router}'s updates hurt their receivers ({mean:.3} on average over {}): reach fewer, closer members", evidence.len()),
            Edit::Router { router: router.into(), fan_out_delta: -1, tau_delta: step },
        )
    } else if mean > threshold {
        (
            format!("{router}'s updates helped ({mean:.3} on average over {}): reach more members", evidence.len()),
            Edit::Router { router: router.into(), fan_out_delta: 1, tau_delta: -step },
        )
    } else {
        (format!("mean reward {mean:.3} over {} message(s) of {router}: keep its strategy", evidence.len()), Edit::NoChange)
    }
}

fn relevance_bounds(e: &mut Expr, f: &mut dyn FnMut(CmpOp, &mut f64)) {
    match e {
        Expr::Or(items) | Expr::And(items) => items.iter_mut().for_each(|i| relevance_bounds(i, f)),
        Expr::Not(inner) => relevance_bounds(inner, f),
        Expr::Cmp { field: Field::Relevance, op, value: Value::Num(n) } => f(*op, n),
        _ => {}
    }
}

/// Offline module optimisation: apply a rule edit to a rule list. Returns the new list, the
/// affected rule (1-based) and its text before and after; `None` when the edit does not apply.
pub fn optimise_rules(rules_text: &str, edit: &Edit, step: f64) -> Option<(String, usize, String, String)> {
    let mut rules = parse_rules(rules_text).ok()?;
    let show = |r: Option<&Rule>| r.map(crate::rules::print_rule).unwrap_or_default();
    match edit {
        Edit::Tighten { rule, .. } => {
            let ix = rule.checked_sub(1)?;
            let before = show(rules.get(ix));
            let r = rules.get_mut(ix)?;
            let mut moved = false;
            if let Some(cond) = r.cond.as_mut() {
                relevance_bounds(cond, &mut |op, n| {
                    if matches!(op, CmpOp::Ge | CmpOp::Gt) {
                        *n = r4((*n + step).min(0.95));
                        moved = true;
                    }
                });
            }
            if !moved {
                let bar = Expr::Cmp { field: Field::Relevance, op: CmpOp::Ge, value: Value::Num(r4(0.3 + step)) };
                r.cond = Some(match r.cond.take() {
                    Some(Expr::And(mut items)) => {
                        items.push(bar);
                        Expr::And(items)
                    }
                    Some(c) => Expr::And(vec![c, bar]),
                    None => return None,
                });
            }
            let after = show(rules.get(ix));
            (after != before).then(|| (print_rules(&rules), ix + 1, before, after))
        }
        Edit::Loosen { rule, min_relevance, .. } => {
            let ix = rule.checked_sub(1)?;
            let before = show(rules.get(ix));
            let r = rules.get_mut(ix)?;
            let mut moved = false;
            if let Some(cond) = r.cond.as_mut() {
                relevance_bounds(cond, &mut |op, n| {
                    if matches!(op, CmpOp::Lt | CmpOp::Le) && *n > 0.0 {
                        *n = r4((*n - step).max(0.0));
                        moved = true;
                    }
                });
            }
            if moved {
                let after = show(rules.get(ix));
                return Some((print_rules(&rules), ix + 1, before, after));
            }
            // A learned rule just before this one: lower its bar instead of stacking another.
            if ix > 0 && rules[ix - 1].comment.as_deref().is_some_and(|c| c.starts_with("learned")) {
                let prev_before = show(rules.get(ix - 1));
                let mut lowered = false;
                if let Some(cond) = rules[ix - 1].cond.as_mut() {
                    relevance_bounds(cond, &mut |op, n| {
                        if matches!(op, CmpOp::Ge | CmpOp::Gt) && *n > 0.05 {
                            *n = r4((*n - step).max(0.05));
                            lowered = true;
                        }
                    });
                }
                let after = show(rules.get(ix - 1));
                return lowered.then(|| (print_rules(&rules), ix, prev_before, after));
            }
            let learned = Rule {
                action: Action::Accept { weight: 0.3 },
                cond: Some(Expr::Cmp { field: Field::Relevance, op: CmpOp::Ge, value: Value::Num(*min_relevance) }),
                comment: Some(format!("learned: rule {rule} rejected messages that would have helped")),
            };
            let after = crate::rules::print_rule(&learned);
            rules.insert(ix, learned);
            Some((print_rules(&rules), ix + 1, String::new(), after))
        }
        Edit::Retire { rule, .. } => {
            let ix = rule.checked_sub(1)?;
            rules.get(ix)?.cond.as_ref()?;
            let before = show(rules.get(ix));
            rules.remove(ix);
            Some((print_rules(&rules), ix + 1, before, String::new()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_follows_the_decision() {
        let (s, _) = offline_credit("u1", Some(2), "R1", Decision::Accept, -0.2, 0.5);
        assert_eq!(s[0], CreditShare { module: "u1#2".into(), amount: -0.2 });
        assert_eq!(s[1], CreditShare { module: "R1".into(), amount: -0.1 });
        let (s, _) = offline_credit("u1", Some(3), "R1", Decision::Reject, 0.2, 0.5);
        assert_eq!(s[0].amount, -0.2, "rejecting help is debited");
        assert_eq!(crate::world::parse_rule_module("u10#3"), Some(("u10", 3)));
    }

    #[test]
    fn edits_move_thresholds_or_insert_a_learned_rule() {
        let rules = "accept 0.8 when relevance >= 0.35 and topic in likes\nreject when relevance < 0.2\ndefault reject\n";
        let (new, ix, before, after) = optimise_rules(rules, &Edit::Tighten { agent: "u1".into(), rule: 1 }, 0.05).unwrap();
        assert_eq!(ix, 1);
        assert!(before.contains(">= 0.35") && after.contains(">= 0.4"), "{after}");
        assert!(new.starts_with("accept 0.8 when relevance >= 0.4"));
        let (new, _, _, after) = optimise_rules(rules, &Edit::Loosen { agent: "u1".into(), rule: 2, min_relevance: 0.25 }, 0.05).unwrap();
        assert!(after.contains("< 0.15"), "{new}");
        let (new, ix, _, after) = optimise_rules(rules, &Edit::Loosen { agent: "u1".into(), rule: 3, min_relevance: 0.25 }, 0.05).unwrap();
        assert_eq!(ix, 3);
        assert!(after.starts_with("accept 0.3 when relevance >= 0.25"), "{after}");
        assert_eq!(parse_rules(&new).unwrap().len(), 4);
        // Loosening again lowers the learned rule rather than stacking a second one.
        let (again, ix, _, after) = optimise_rules(&new, &Edit::Loosen { agent: "u1".into(), rule: 4, min_relevance: 0.25 }, 0.05).unwrap();
        assert_eq!((ix, parse_rules(&again).unwrap().len()), (3, 4));
        assert!(after.contains(">= 0.2"), "{after}");
        let (new, _, before, _) = optimise_rules(rules, &Edit::Retire { agent: "u1".into(), rule: 2 }, 0.05).unwrap();
        assert!(before.starts_with("reject"));
        assert_eq!(parse_rules(&new).unwrap().len(), 2);
        assert!(optimise_rules(rules, &Edit::Retire { agent: "u1".into(), rule: 3 }, 0.05).is_none(), "default stays");
    }

    #[test]
    fn gradients_point_the_right_way() {
        let ev = |reward: f64, decision| Evidence { message: 1, agent: "u1".into(), decision, reward, relevance: 0.4 };
        let accept = parse_rules("accept 0.8 when relevance >= 0.35").unwrap().remove(0);
        let (_, e) = rule_gradient("u1", 1, &accept, &[ev(-0.1, Decision::Accept), ev(-0.05, Decision::Accept)], 0.01);
        assert_eq!(e, Edit::Tighten { agent: "u1".into(), rule: 1 });
        let reject = parse_rules("default reject").unwrap().remove(0);
        let (_, e) = rule_gradient("u1", 2, &reject, &[ev(0.1, Decision::Reject)], 0.01);
        assert_eq!(e, Edit::Loosen { agent: "u1".into(), rule: 2, min_relevance: 0.4 });
        let (_, e) = router_gradient("R1", &[ev(-0.2, Decision::Accept)], 0.01, 0.05);
        assert_eq!(e, Edit::Router { router: "R1".into(), fan_out_delta: -1, tau_delta: 0.05 });
    }
}
