//! A model's reply read into an answer: the JSON object found, checked against the schema the
//! server was sent, translated from its wire form and validated against its request.

use super::super::accounting::Cause;
use super::super::schema::{from_wire, reply_schema, WireError};
use crate::engine::protocol::{ReasonAnswer, ReasonRequest, ReasonStage};
use crate::world::event::Edit;
use serde_json::Value;

/// What is wrong with a model's reply (recorded in a `reason_failed` event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("cut at max_tokens ({0})")]
    CutOff(u32),
    #[error("the reply holds no JSON object")]
    NoJson,
    #[error("the reply's JSON object is cut short")]
    CutShort,
    #[error("bad JSON: {0}")]
    BadJson(String),
    #[error("the reply is not a JSON object")]
    NotObject,
    #[error("wrong schema for {stage}: {error}")]
    WrongSchema { stage: ReasonStage, error: String },
    #[error("the proposed rules do not parse: line {0}")]
    RulesDoNotParse(String),
    /// Well-formed, but not an answer to this request.
    #[error("{0}")]
    Unfit(String),
}

impl ReplyError {
    pub fn cause(&self) -> Cause {
        match self {
            ReplyError::CutOff(_) => Cause::CutOff,
            ReplyError::NoJson | ReplyError::CutShort | ReplyError::BadJson(_) | ReplyError::NotObject => Cause::InvalidJson,
            ReplyError::WrongSchema { .. } | ReplyError::Unfit(_) => Cause::WrongShape,
            ReplyError::RulesDoNotParse(_) => Cause::RulesDoNotParse,
        }
    }
}

/// Turn a model's reply into an answer for `req`, or say what is wrong with it.
pub fn parse_reply(req: &ReasonRequest, reply: &str) -> Result<ReasonAnswer, ReplyError> {
    let stage = req.stage();
    let start = reply.find('{').ok_or(ReplyError::NoJson)?;
    let end = reply.rfind('}').filter(|e| *e > start).ok_or(ReplyError::CutShort)?;
    let v: Value = serde_json::from_str(&reply[start..=end]).map_err(|e| ReplyError::BadJson(e.to_string()))?;
    if !v.is_object() {
        return Err(ReplyError::NotObject);
    }
    // The schema the server was asked to follow is checked whether or not it did.
    let wrong = |error: String| ReplyError::WrongSchema { stage, error: crate::util::text::sanitize(&error, 240) };
    crate::util::jsonschema::check(&reply_schema(req), &v).map_err(|e| wrong(e.to_string()))?;
    let answer = from_wire(req, &v).map_err(|e| match e {
        WireError::Shape(e) => wrong(e),
        WireError::Rules(e) => ReplyError::RulesDoNotParse(crate::util::text::sanitize(&e, 240)),
    })?;
    validate(req, &answer)?;
    Ok(answer)
}

fn in_range(w: &std::collections::BTreeMap<String, f64>) -> bool {
    w.values().all(|x| x.is_finite() && (-1.0..=1.0).contains(x))
}

/// What a schema-valid reply can still get wrong. Nothing from a model is trusted beyond the edit
/// it was asked for: attributes, messages, rules and modules must be the request's own.
fn validate(req: &ReasonRequest, a: &ReasonAnswer) -> Result<(), ReplyError> {
    match (req, a) {
        (ReasonRequest::Reflect { .. }, ReasonAnswer::Reflect { user, item, .. }) if in_range(user) && in_range(item) => Ok(()),
        (ReasonRequest::Filter { messages, rules, .. }, ReasonAnswer::Filter { verdicts }) => {
            let n = crate::rules::parse_rules(rules).map(|r| r.len()).unwrap_or(0);
            for v in verdicts {
                if !messages.iter().any(|m| m.message == v.message) {
                    return Err(ReplyError::Unfit(format!("verdict for message {} that is not in the buffer", v.message)));
                }
                if v.rule.is_some_and(|r| r == 0 || r > n) {
                    return Err(ReplyError::Unfit(format!("rule {} does not exist (the agent has {n})", v.rule.unwrap_or(0))));
                }
                if !v.weight.is_finite() || !(0.0..=1.0).contains(&v.weight) {
                    return Err(ReplyError::Unfit(format!("weight {} outside 0..1", v.weight)));
                }
            }
            if verdicts.len() != messages.len() {
                return Err(ReplyError::Unfit(format!("{} verdicts for {} messages", verdicts.len(), messages.len())));
            }
            Ok(())
        }
        (ReasonRequest::Integrate { profile: old, inbox, .. }, ReasonAnswer::Integrate { profile, message, .. })
            if in_range(profile) && message.iter().all(|d| d.delta.is_finite()) =>
        {
            if let Some(k) = profile.keys().find(|k| !old.contains_key(*k) && !inbox.iter().any(|d| &d.attr == *k)) {
                return Err(ReplyError::Unfit(format!("attribute {} is neither in the profile nor the inbox", crate::util::text::sanitize(k, 40))));
            }
            Ok(())
        }
        (ReasonRequest::Credit { items, .. }, ReasonAnswer::Credit { items: answers }) => {
            if answers.len() != items.len() {
                return Err(ReplyError::Unfit(format!("{} credit answers for {} rewards", answers.len(), items.len())));
            }
            if answers.iter().flat_map(|a| &a.shares).any(|s| !s.amount.is_finite()) {
                return Err(ReplyError::Unfit("a credit share is not a number".into()));
            }
            Ok(())
        }
        (ReasonRequest::Gradient { module, .. }, ReasonAnswer::Gradient { edit, .. }) => {
            let target = match edit {
                Edit::Tighten { agent, rule } | Edit::Loosen { agent, rule, .. } | Edit::Retire { agent, rule } => {
                    Some(crate::world::rule_module(agent, *rule))
                }
                Edit::Router { router, .. } => Some(router.clone()),
                Edit::NoChange => None,
            };
            match target {
                Some(t) if &t != module => Err(ReplyError::Unfit(format!("the edit targets {}, not {module}", crate::util::text::sanitize(&t, 40)))),
                _ => Ok(()),
            }
        }
        (ReasonRequest::Optimise { rules: old, edit, .. }, ReasonAnswer::Optimise { rules, .. }) => match rules {
            Some(r) => {
                let new = crate::rules::parse_rules(r).map_err(|e| ReplyError::RulesDoNotParse(e.to_string()))?;
                one_rule_changed(old, &new)?;
                edit_applied_where_asked(old, &new, edit)
            }
            None => Ok(()),
        },
        _ => Err(ReplyError::Unfit("the answer does not fit the request".into())),
    }
}

/// The one change an optimise reply makes must be the edit the gradient asked for, at the rule
/// it named (1-based): tighten changes that rule, keeping its action and a condition; retire
/// removes it; loosen changes it or the rule before it, or inserts a conditional rule before it.
/// Anything else (a `default accept` slipped in by a prompt injection, another rule rewritten)
/// is refused and the offline edit is used.
pub(super) fn edit_applied_where_asked(old: &str, new: &[crate::rules::Rule], edit: &Edit) -> Result<(), ReplyError> {
    use crate::rules::Rule;
    let bare = |r: &Rule| Rule { comment: None, ..r.clone() };
    let old: Vec<Rule> = crate::rules::parse_rules(old).unwrap_or_default().iter().map(bare).collect();
    let new: Vec<Rule> = new.iter().map(bare).collect();
    if old == new {
        return Ok(());
    }
    let without = |v: &[Rule], i: usize| -> Vec<Rule> { v.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, r)| r.clone()).collect() };
    // Rule `i` (0-based) changed in place: same action kind, still conditional, the rest as they were.
    let changed_at = |i: usize| {
        old.len() == new.len()
            && i < old.len()
            && without(&old, i) == without(&new, i)
            && std::mem::discriminant(&old[i].action) == std::mem::discriminant(&new[i].action)
            && old[i].cond.is_some()
            && new[i].cond.is_some()
    };
    // And in the direction asked: a tightened rule matches no more than before and accepts at no
    // more weight; a loosened one matches no less and accepts at no less.
    let weight = |r: &Rule| match r.action {
        crate::rules::Action::Accept { weight } => weight,
        _ => 0.0,
    };
    let narrowed = |i: usize| {
        changed_at(i) && matches!((&new[i].cond, &old[i].cond), (Some(n), Some(o)) if crate::rules::implies(n, o)) && weight(&new[i]) <= weight(&old[i])
    };
    let widened = |i: usize| {
        changed_at(i) && matches!((&new[i].cond, &old[i].cond), (Some(n), Some(o)) if crate::rules::implies(o, n)) && weight(&new[i]) >= weight(&old[i])
    };
    let ok = match edit {
        Edit::Tighten { rule, .. } => rule.checked_sub(1).is_some_and(narrowed),
        Edit::Retire { rule, .. } => rule.checked_sub(1).is_some_and(|i| i < old.len() && new == without(&old, i)),
        Edit::Loosen { rule, .. } => rule.checked_sub(1).is_some_and(|i| {
            widened(i) || (i > 0 && widened(i - 1)) || (new.len() == old.len() + 1 && i < new.len() && without(&new, i) == old && new[i].cond.is_some())
        }),
        Edit::Router { .. } | Edit::NoChange => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ReplyError::Unfit(format!("the proposed rules do not apply the requested edit ({}) where it was asked", edit_name(edit))))
    }
}

fn edit_name(edit: &Edit) -> String {
    match edit {
        Edit::Tighten { rule, .. } => format!("tighten rule {rule}"),
        Edit::Loosen { rule, .. } => format!("loosen rule {rule}"),
        Edit::Retire { rule, .. } => format!("retire rule {rule}"),
        Edit::Router { .. } => "a router edit".into(),
        Edit::NoChange => "no change".into(),
    }
}

/// An optimise reply may change, insert or remove one rule; the rest must stay as they were
/// (comments aside, which a model may drop).
pub(super) fn one_rule_changed(old: &str, new: &[crate::rules::Rule]) -> Result<(), ReplyError> {
    let bare = |r: &crate::rules::Rule| crate::rules::Rule { comment: None, ..r.clone() };
    let old: Vec<_> = crate::rules::parse_rules(old).unwrap_or_default().iter().map(bare).collect();
    let new: Vec<_> = new.iter().map(bare).collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old.iter().rev().zip(new.iter().rev()).take_while(|(a, b)| a == b).count();
    let (changed_old, changed_new) = (old.len().saturating_sub(prefix + suffix), new.len().saturating_sub(prefix + suffix));
    // Overlapping prefix and suffix (a duplicated rule) still leaves at most one rule changed.
    if changed_old <= 1 && changed_new <= 1 {
        Ok(())
    } else {
        Err(ReplyError::Unfit(format!("the proposed rules change {} rule(s), not one", changed_old.max(changed_new))))
    }
}
