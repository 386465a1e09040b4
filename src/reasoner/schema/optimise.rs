//! The optimise stage on the wire: the model is asked for the one rule line the gradient's edit
//! changes (its `place` fixed by the edit, its text held to the rule grammar by a `pattern`), never
//! for the whole rule list. The engine splices that line in; the other rules are not the model's
//! to write, and `validate` still checks that the result applies the asked-for edit where asked.

use super::{cut, obj, one_of, text, WireError, REASON_CHARS};
use crate::engine::protocol::ReasonAnswer;
use crate::reasoner::policy::optimise_rules;
use crate::rules::{parse_rules, print_rule, print_rules, Action, Rule};
use crate::world::event::Edit;
use serde_json::{json, Value};

/// Longest rule line a reply may write.
const RULE_CHARS: usize = 160;

/// One comparison of the rule language: a field, an operator and a number, a word or a quoted
/// attribute name; or `topic in likes|dislikes`.
const CMP: &str = r#"((relevance|topic|polarity|strength|source\.kind|source|router\.credit|router|support|age|evidence) (==|!=|<=|>=|<|>) (-?[0-9]{1,3}(\.[0-9]{1,3})?|[A-Za-z][A-Za-z0-9_]{0,24}|"[A-Za-z0-9 &',/.-]{1,40}")|topic in (likes|dislikes))"#;

fn action_pattern(a: Option<&Action>) -> &'static str {
    match a {
        Some(Action::Accept { .. }) => r"accept (0\.[0-9]{1,2}|1)",
        Some(Action::Hold { .. }) => "hold [1-9]",
        Some(Action::Reject) => "reject",
        None => r"(accept (0\.[0-9]{1,2}|1)|hold [1-9]|reject)",
    }
}

/// A rule line whose action is of `a`'s kind (any action for `None`).
fn rule_line(a: Option<&Action>, description: &str) -> Value {
    let pattern = format!("^{} when {CMP}( (and|or) {CMP}){{0,4}}$", action_pattern(a));
    json!({"type": "string", "maxLength": RULE_CHARS, "pattern": pattern, "description": description})
}

/// Where the line goes: over the edited rule, over the one before it, before it, or nowhere.
fn places(rules: &str, edit: &Edit, step: f64) -> Vec<&'static str> {
    // An edit the offline optimiser cannot apply (no such rule, a default) is not asked for.
    if optimise_rules(rules, edit, step).is_none() {
        return vec!["none"];
    }
    match edit {
        Edit::Tighten { .. } => vec!["replace"],
        Edit::Loosen { rule, .. } if *rule > 1 => vec!["replace", "replace_previous", "insert"],
        Edit::Loosen { .. } => vec!["replace", "insert"],
        Edit::Retire { .. } => vec!["remove"],
        Edit::Router { .. } | Edit::NoChange => vec!["none"],
    }
}

fn edited_rule(edit: &Edit) -> usize {
    match edit {
        Edit::Tighten { rule, .. } | Edit::Loosen { rule, .. } | Edit::Retire { rule, .. } => *rule,
        Edit::Router { .. } | Edit::NoChange => 0,
    }
}

pub(super) fn schema(rules: &str, edit: &Edit, step: f64) -> Value {
    let places = places(rules, edit, step);
    let old = parse_rules(rules).unwrap_or_default();
    let n = edited_rule(edit);
    let line = match (edit, places[0]) {
        (_, "none" | "remove") => json!({"type": "string", "maxLength": 0, "description": "empty: there is no line to write"}),
        (Edit::Tighten { .. }, _) => rule_line(n.checked_sub(1).and_then(|i| old.get(i)).map(|r| &r.action), "rule N made stricter"),
        _ => rule_line(None, "the new or changed rule line"),
    };
    let place = one_of(places.iter().map(|p| json!(p)).collect(), "string");
    obj(vec![("place", place), ("line", line), ("reason", text(REASON_CHARS, "one sentence"))])
}

/// The offline answer as a model would write it.
pub(super) fn to_wire(edit: &Edit, a: &ReasonAnswer) -> Value {
    let ReasonAnswer::Optimise { rules: new, rule, before, reason, .. } = a else { return Value::Null };
    let n = edited_rule(edit);
    let place = match new {
        None => "none",
        Some(_) if matches!(edit, Edit::Retire { .. }) => "remove",
        Some(_) if before.is_empty() => "insert",
        Some(_) if *rule + 1 == n => "replace_previous",
        Some(_) => "replace",
    };
    // The line without its comment, which the model is not asked for.
    let line = new
        .as_deref()
        .and_then(|t| parse_rules(t).ok())
        .filter(|_| place != "remove")
        .and_then(|r| r.get(rule.wrapping_sub(1)).cloned())
        .map(|r| print_rule(&Rule { comment: None, ..r }))
        .unwrap_or_default();
    json!({"place": place, "line": line, "reason": cut(reason, REASON_CHARS)})
}

/// The whole new rule list the asked-for line makes, or what is wrong with it.
pub(super) fn from_wire(rules: &str, edit: &Edit, v: &Value) -> Result<ReasonAnswer, WireError> {
    let reason = v["reason"].as_str().unwrap_or_default().to_string();
    let mut list = parse_rules(rules).map_err(|e| WireError::Shape(format!("the agent's rules do not parse: {e}")))?;
    let n = edited_rule(edit);
    let place = v["place"].as_str().unwrap_or_default();
    let none = || ReasonAnswer::Optimise { rules: None, rule: 0, before: String::new(), after: String::new(), reason: reason.clone() };
    if place == "none" {
        return Ok(none());
    }
    let ix = n.checked_sub(1).filter(|i| *i < list.len()).ok_or_else(|| WireError::Shape(format!("rule {n} does not exist")))?;
    let show = |r: &Rule| print_rule(r);
    if place == "remove" {
        let before = show(&list.remove(ix));
        return Ok(ReasonAnswer::Optimise { rules: Some(print_rules(&list)), rule: n, before, after: String::new(), reason });
    }
    let line = v["line"].as_str().unwrap_or_default();
    let mut parsed = parse_rules(line).map_err(|e| WireError::Rules(e.to_string()))?;
    if parsed.len() != 1 || parsed[0].cond.is_none() {
        return Err(WireError::Rules(format!("{} rules in the line, not one conditional rule", parsed.len())));
    }
    let new = parsed.remove(0);
    let after = show(&new);
    let (at, before) = match place {
        "replace" => (ix, show(&std::mem::replace(&mut list[ix], new))),
        "replace_previous" if ix > 0 => (ix - 1, show(&std::mem::replace(&mut list[ix - 1], new))),
        "insert" => {
            list.insert(ix, new);
            (ix, String::new())
        }
        other => return Err(WireError::Shape(format!("place {} does not fit the edit", crate::util::text::sanitize(other, 20)))),
    };
    Ok(ReasonAnswer::Optimise { rules: Some(print_rules(&list)), rule: at + 1, before, after, reason })
}
