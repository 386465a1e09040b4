//! The deterministic offline reasoner: principled arithmetic on weighted attributes, no model.

use super::policy::{offline_credit, optimise_rules, router_gradient, rule_gradient};
use crate::engine::protocol::{CreditAnswer, FilterItem, FilterVerdict, ReasonAnswer, ReasonRequest, Reasoner};
use crate::rules::{evaluate, parse_rules, Action, FilterInput, Rule};
use crate::util::{clip, r4};
use crate::world::event::Edit;
use crate::world::event::{AttrDelta, Decision};
use crate::world::parse_rule_module;
use crate::world::{profile_text, score};
use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
pub struct Offline {
    /// Parsed rule sets by their text: most clients share a few.
    rules_cache: HashMap<String, Vec<Rule>>,
}

impl Offline {
    pub fn new() -> Offline {
        Offline::default()
    }

    /// Keep each answer that fits its request (same position, same stage) and answer the rest
    /// offline: how drivers repair a reasoner that answered out of shape.
    pub fn fill_in(&mut self, requests: &[ReasonRequest], answers: Vec<ReasonAnswer>) -> Vec<ReasonAnswer> {
        let mut answers = answers.into_iter();
        requests
            .iter()
            .map(|req| match answers.next() {
                Some(a) if a.stage() == req.stage() => a,
                _ => self.answer_one(req),
            })
            .collect()
    }

    pub fn answer_one(&mut self, req: &ReasonRequest) -> ReasonAnswer {
        match req {
            ReasonRequest::Reflect { user, user_attrs, item, item_attrs, negative, negative_attrs, user_rate, item_rate, margin } => {
                reflect(user, user_attrs, item, item_attrs, negative.as_deref(), negative_attrs, *user_rate, *item_rate, *margin)
            }
            ReasonRequest::Filter { attrs, rules, like_threshold, messages, .. } => {
                let parsed = self.rules_cache.entry(rules.clone()).or_insert_with(|| parse_rules(rules).unwrap_or_default());
                ReasonAnswer::Filter { verdicts: messages.iter().map(|m| filter_one(parsed, attrs, *like_threshold, m)).collect() }
            }
            ReasonRequest::Integrate { router, profile, inbox, decay, max_attributes } => integrate(router, profile, inbox, *decay, *max_attributes),
            ReasonRequest::Credit { items, router_share } => ReasonAnswer::Credit {
                items: items
                    .iter()
                    .map(|it| {
                        let (shares, reason) = offline_credit(&it.agent, it.rule, &it.router, it.decision, it.reward, *router_share);
                        CreditAnswer { shares, reason }
                    })
                    .collect(),
            },
            ReasonRequest::Gradient { module, description, evidence, threshold, step } => {
                let (direction, edit) = match parse_rule_module(module) {
                    Some((agent, ix)) => match parse_rules(description).ok().and_then(|mut r| r.pop()) {
                        Some(rule) => rule_gradient(agent, ix, &rule, evidence, *threshold),
                        None => (format!("{module}: the rule no longer parses; keep it"), Edit::NoChange),
                    },
                    None => router_gradient(module, evidence, *threshold, *step),
                };
                ReasonAnswer::Gradient { direction, edit }
            }
            ReasonRequest::Optimise { rules, edit, step, .. } => match optimise_rules(rules, edit, *step) {
                Some((rules, rule, before, after)) => ReasonAnswer::Optimise {
                    rules: Some(rules),
                    rule,
                    before,
                    after,
                    reason: "offline optimiser: one bounded step in the gradient's direction".into(),
                },
                None => ReasonAnswer::Optimise {
                    rules: None,
                    rule: 0,
                    before: String::new(),
                    after: String::new(),
                    reason: "the edit does not apply to these rules".into(),
                },
            },
        }
    }
}

impl Reasoner for Offline {
    fn answer(&mut self, requests: &[ReasonRequest]) -> Vec<ReasonAnswer> {
        requests.iter().map(|r| self.answer_one(r)).collect()
    }

    fn answers_at_once(&self) -> bool {
        true
    }
}

#[allow(clippy::too_many_arguments)]
fn reflect(
    user: &str,
    u: &BTreeMap<String, f64>,
    item: &str,
    i: &BTreeMap<String, f64>,
    negative: Option<&str>,
    n: &BTreeMap<String, f64>,
    user_rate: f64,
    item_rate: f64,
    margin: f64,
) -> ReasonAnswer {
    let s_pos = score(u, i);
    let s_neg = if negative.is_some() { score(u, n) } else { 0.0 };
    let gap = s_pos - s_neg;
    let mut new_user = BTreeMap::new();
    let mut new_item = BTreeMap::new();
    let reason = if gap < margin {
        // Move toward what the chosen item is, away from what only the rejected one is; the pull
        // is larger the more wrong the current preference was.
        let pull = user_rate * (1.0 + (margin - gap).min(1.0));
        for (a, w) in i {
            let old = u.get(a).copied().unwrap_or(0.0);
            let new = r4(clip(old + pull * w * (1.0 - old.max(0.0))));
            if new != old {
                new_user.insert(a.clone(), new);
            }
        }
        for (a, w) in n {
            if i.contains_key(a) {
                continue;
            }
            let old = u.get(a).copied().unwrap_or(0.0);
            let new = r4(clip(old - 0.5 * pull * w * (1.0 + old.min(0.0))));
            if new != old {
                new_user.insert(a.clone(), new);
            }
        }
        match negative {
            Some(neg) => format!("{user} chose {item} over {neg} but scored them {s_pos:.2} vs {s_neg:.2}: {user} moves toward {item}'s attributes"),
            None => format!("{user} chose {item} (score {s_pos:.2}): {user} moves toward its attributes"),
        }
    } else {
        // Said of the user only: the item may still change below, and one reason serves both.
        format!("{user} chose {item} as expected ({s_pos:.2} vs {s_neg:.2}): {user}'s tastes stay")
    };
    // The item takes on a little of what its fan likes most (collaborative signal).
    let mut fan: Vec<(&String, f64)> = u.iter().filter(|(_, w)| **w > 0.0).map(|(a, w)| (a, *w)).collect();
    fan.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    for (a, w) in fan.into_iter().take(3) {
        let old = i.get(a).copied().unwrap_or(0.0);
        let new = r4(clip(old + item_rate * w * (1.0 - old.max(0.0))));
        if new != old {
            new_item.insert(a.clone(), new);
        }
    }
    let reason = if new_item.is_empty() { reason } else { format!("{reason}; {item} takes on a little of what {user} likes most") };
    ReasonAnswer::Reflect { user: new_user, item: new_item, reason }
}

pub fn filter_one(rules: &[Rule], attrs: &BTreeMap<String, f64>, like_threshold: f64, m: &FilterItem) -> FilterVerdict {
    let input = FilterInput {
        relevance: m.relevance,
        topic: &m.topic,
        polarity: m.polarity,
        strength: m.strength,
        source_kind: &m.source_kind,
        source: &m.source,
        router: &m.router,
        router_credit: m.router_credit,
        support: m.support as f64,
        age: m.age as f64,
        evidence: m.evidence as f64,
        receiver_attrs: attrs,
        like_threshold,
    };
    match evaluate(rules, &input) {
        Some((ix, action)) => {
            let rule = Some(ix + 1);
            match action {
                Action::Accept { weight } => FilterVerdict {
                    message: m.message,
                    rule,
                    decision: Decision::Accept,
                    weight,
                    reason: format!("rule {} matched: relevance {:.2}, support {}", ix + 1, m.relevance, m.support),
                },
                Action::Hold { steps } => {
                    // A hold that has waited its full length expires as a rejection.
                    let expired = m.held_by == Some((ix + 1, steps)) && m.held_for >= steps as u64;
                    FilterVerdict {
                        message: m.message,
                        rule,
                        decision: if expired { Decision::Reject } else { Decision::Hold },
                        weight: 0.0,
                        reason: if expired {
                            format!("held {} step{} by rule {} without corroboration: dropped", m.held_for, if m.held_for == 1 { "" } else { "s" }, ix + 1)
                        } else {
                            format!(
                                "rule {} holds it (up to {steps} step{}): relevance {:.2}, support {}",
                                ix + 1,
                                if steps == 1 { "" } else { "s" },
                                m.relevance,
                                m.support
                            )
                        },
                    }
                }
                Action::Reject => FilterVerdict {
                    message: m.message,
                    rule,
                    decision: Decision::Reject,
                    weight: 0.0,
                    reason: format!("rule {} matched: relevance {:.2}, topic {}", ix + 1, m.relevance, m.topic),
                },
            }
        }
        None => FilterVerdict { message: m.message, rule: None, decision: Decision::Reject, weight: 0.0, reason: "no rule matched: rejected".into() },
    }
}

fn integrate(router: &str, profile: &BTreeMap<String, f64>, inbox: &[AttrDelta], decay: f64, max_attributes: usize) -> ReasonAnswer {
    let mut moved: BTreeMap<String, f64> = BTreeMap::new();
    for d in inbox {
        *moved.entry(d.attr.clone()).or_insert(0.0) += d.delta;
    }
    let mut new_profile: BTreeMap<String, f64> = profile.iter().map(|(a, w)| (a.clone(), r4(w * decay))).collect();
    for (a, d) in &moved {
        let e = new_profile.entry(a.clone()).or_insert(0.0);
        *e = r4(clip(*e + d));
    }
    new_profile.retain(|_, w| w.abs() >= 1e-4);
    let mut ranked: Vec<(&String, f64)> = moved.iter().map(|(a, d)| (a, *d)).collect();
    ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
    let message: Vec<AttrDelta> = ranked
        .iter()
        .take(max_attributes.max(1))
        .filter(|(_, d)| d.abs() > 1e-4)
        .map(|(a, d)| AttrDelta { attr: (*a).clone(), delta: r4(d.clamp(-0.5, 0.5)) })
        .collect();
    let moves: Vec<String> = message.iter().map(|d| format!("{} {}{:.2}", d.attr, if d.delta >= 0.0 { "+" } else { "" }, d.delta)).collect();
    let summary = format!(
        "{router}: community {}. This step: {}",
        profile_text(&new_profile, 4),
        if moves.is_empty() { "nothing moved".into() } else { moves.join(", ") }
    );
    ReasonAnswer::Integrate { profile: new_profile, message, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(a, v)| (a.to_string(), *v)).collect()
    }

    /// A Jazz update from u2 through R1, unheld, just arrived.
    fn jazz_message() -> FilterItem {
        FilterItem {
            message: 1,
            router: "R1".into(),
            router_credit: 0.0,
            source: "u2".into(),
            source_kind: "user".into(),
            content: vec![AttrDelta { attr: "Jazz".into(), delta: 0.2 }],
            topic: "Jazz".into(),
            polarity: crate::rules::Polarity::Up,
            strength: 0.2,
            relevance: 0.3,
            support: 0,
            age: 0,
            evidence: 0,
            text: String::new(),
            held_by: None,
            held_for: 0,
        }
    }

    #[test]
    fn a_hold_says_how_long_it_waits_in_words_that_agree() {
        let item = jazz_message();
        let reason = |rules: &str| filter_one(&crate::rules::parse_rules(rules).unwrap(), &BTreeMap::new(), 0.1, &item).reason;
        assert!(reason("hold 1 when support < 1\ndefault reject\n").contains("(up to 1 step)"));
        assert!(reason("hold 3 when support < 1\ndefault reject\n").contains("(up to 3 steps)"));
    }

    #[test]
    fn a_hold_counts_its_steps_from_when_it_began_not_from_arrival() {
        let rules = crate::rules::parse_rules("hold 2 when support < 1\ndefault reject\n").unwrap();
        // Waited five steps unread before rule 1 held it, one step ago: it still waits.
        let mut item = FilterItem { age: 6, held_by: Some((1, 2)), held_for: 1, ..jazz_message() };
        assert_eq!(filter_one(&rules, &BTreeMap::new(), 0.1, &item).decision, Decision::Hold);
        item.held_for = 2;
        let dropped = filter_one(&rules, &BTreeMap::new(), 0.1, &item);
        assert_eq!(dropped.decision, Decision::Reject);
        assert!(dropped.reason.starts_with("held 2 steps by rule 1"), "{}", dropped.reason);
    }

    #[test]
    fn wrong_choice_moves_the_user_toward_the_item() {
        let u = w(&[("Metal", 0.5)]);
        let i = w(&[("Jazz", 0.8)]);
        let n = w(&[("Metal", 0.8)]);
        let ReasonAnswer::Reflect { user, item, .. } = reflect("u1", &u, "i1", &i, Some("i2"), &n, 0.25, 0.1, 0.15) else { panic!() };
        assert!(user["Jazz"] > 0.0);
        assert!(user["Metal"] < 0.5);
        assert!(item["Metal"] > 0.0, "the item learns what its fan likes");
    }

    #[test]
    fn right_choice_with_margin_leaves_the_user() {
        let u = w(&[("Jazz", 0.9)]);
        let i = w(&[("Jazz", 0.8)]);
        let n = w(&[("Metal", 0.8)]);
        let ReasonAnswer::Reflect { user, .. } = reflect("u1", &u, "i1", &i, Some("i2"), &n, 0.25, 0.1, 0.15) else { panic!() };
        assert!(user.is_empty());
    }

    #[test]
    fn integration_decays_and_reports_the_biggest_moves() {
        let p = w(&[("Jazz", 0.5)]);
        let inbox = vec![
            AttrDelta { attr: "Bebop".into(), delta: 0.2 },
            AttrDelta { attr: "Bebop".into(), delta: 0.1 },
            AttrDelta { attr: "Swing".into(), delta: -0.05 },
        ];
        let ReasonAnswer::Integrate { profile, message, summary } = integrate("R1", &p, &inbox, 0.9, 1) else { panic!() };
        assert_eq!(profile["Jazz"], 0.45);
        assert_eq!(profile["Bebop"], 0.3);
        assert_eq!(message, vec![AttrDelta { attr: "Bebop".into(), delta: 0.3 }]);
        assert!(summary.contains("Bebop +0.30"), "{summary}");
    }
}
