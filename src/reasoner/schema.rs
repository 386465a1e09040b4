//! The reply a model must give to one request, as a JSON schema built for that request, and the
//! translation between that wire form and the engine's `ReasonAnswer`.
//!
//! Every schema is closed (`additionalProperties: false`, every property required, so OpenAI's
//! `strict: true` applies) and bounded: the attribute names a reply may use are fixed keys or an
//! `enum`, filter verdicts are keyed by message id (exactly one per message), numbers carry
//! `minimum`/`maximum` and free text a `maxLength`. A model constrained by it cannot wander off
//! inventing keys until the token limit; a server that ignores it is checked against it anyway.

use crate::engine::protocol::{CreditAnswer, FilterVerdict, ReasonAnswer, ReasonRequest};
use crate::world::event::{AttrDelta, CreditShare, Decision, Edit};
use crate::world::{parse_rule_module, rule_module};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Longest free-text reason or summary a reply may carry.
pub const REASON_CHARS: usize = 160;
/// Longest reason per item of a batch (a filter verdict, a credit entry): many share one reply.
pub const SHORT_CHARS: usize = 80;
/// Longest rule line in an optimise reply.
const RULE_CHARS: usize = 300;

fn text(max: usize, description: &str) -> Value {
    json!({"type": "string", "maxLength": max, "description": description})
}

fn number(min: f64, max: f64, description: &str) -> Value {
    json!({"type": "number", "minimum": min, "maximum": max, "description": description})
}

fn closed(properties: Map<String, Value>) -> Value {
    let required: Vec<Value> = properties.keys().map(|k| json!(k)).collect();
    json!({"type": "object", "additionalProperties": false, "properties": properties, "required": required})
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    closed(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A fixed-key weight map: one number per attribute in `keys`, all required.
fn weight_map(keys: &BTreeSet<&String>, description: &str) -> Value {
    let mut p = Map::new();
    for k in keys {
        p.insert((*k).clone(), number(-1.0, 1.0, "weight from -1 (strong dislike) to 1 (strong like)"));
    }
    let mut v = closed(p);
    v["description"] = json!(description);
    v
}

fn reflect_keys<'a>(
    user_attrs: &'a BTreeMap<String, f64>,
    item_attrs: &'a BTreeMap<String, f64>,
    negative_attrs: &'a BTreeMap<String, f64>,
) -> (BTreeSet<&'a String>, BTreeSet<&'a String>) {
    let user = user_attrs.keys().chain(item_attrs.keys()).chain(negative_attrs.keys()).collect();
    let item = item_attrs.keys().chain(user_attrs.keys()).collect();
    (user, item)
}

fn integrate_keys<'a>(profile: &'a BTreeMap<String, f64>, inbox: &'a [AttrDelta]) -> (BTreeSet<&'a String>, BTreeSet<&'a String>) {
    let moved: BTreeSet<&String> = inbox.iter().map(|d| &d.attr).collect();
    (profile.keys().chain(moved.iter().copied()).collect(), moved)
}

fn rule_count(rules: &str) -> usize {
    crate::rules::parse_rules(rules).map(|r| r.len()).unwrap_or(0)
}

/// The modules a credit item's reward may be spread over: its deciding rule and its router.
fn credit_modules(agent: &str, rule: Option<usize>, router: &str) -> Vec<String> {
    rule.map(|r| rule_module(agent, r)).into_iter().chain(std::iter::once(router.to_string())).collect()
}

fn credit_key(position: usize) -> String {
    (position + 1).to_string()
}

fn one_of(values: Vec<Value>, ty: &str) -> Value {
    json!({"type": ty, "enum": values})
}

/// The edits a gradient for `module` may propose: one variant per kind, naming only that module.
fn edit_schema(module: &str, step: f64) -> Value {
    let op = |name: &str| one_of(vec![json!(name)], "string");
    let mut variants = Vec::new();
    match parse_rule_module(module) {
        Some((agent, rule)) => {
            let (agent, rule) = (one_of(vec![json!(agent)], "string"), one_of(vec![json!(rule)], "integer"));
            variants.push(obj(vec![("op", op("tighten")), ("agent", agent.clone()), ("rule", rule.clone())]));
            variants.push(obj(vec![
                ("op", op("loosen")),
                ("agent", agent.clone()),
                ("rule", rule.clone()),
                ("min_relevance", number(0.0, 1.0, "relevance from which helpful messages get in")),
            ]));
            variants.push(obj(vec![("op", op("retire")), ("agent", agent), ("rule", rule)]));
        }
        None => {
            let step = step.abs();
            variants.push(obj(vec![
                ("op", op("router")),
                ("router", one_of(vec![json!(module)], "string")),
                ("fan_out_delta", json!({"type": "integer", "minimum": -1, "maximum": 1, "description": "-1 reach fewer, 0 same, 1 more members"})),
                ("tau_delta", number(-step, step, "change of the router's similarity bar τ")),
            ]));
        }
    }
    variants.push(obj(vec![("op", op("no_change"))]));
    json!({"anyOf": variants, "description": "one structured edit"})
}

/// The schema a reply to `req` must match.
pub fn reply_schema(req: &ReasonRequest) -> Value {
    match req {
        ReasonRequest::Reflect { user_attrs, item_attrs, negative_attrs, .. } => {
            let (u, i) = reflect_keys(user_attrs, item_attrs, negative_attrs);
            obj(vec![
                ("user", weight_map(&u, "the user's new weight for each attribute (unchanged ones repeat their weight)")),
                ("item", weight_map(&i, "the chosen item's new weight for each attribute")),
                ("reason", text(REASON_CHARS, "one sentence")),
            ])
        }
        ReasonRequest::Filter { rules, messages, .. } => {
            let n = rule_count(rules);
            let mut p = Map::new();
            for m in messages {
                let mut verdict = obj(vec![
                    ("rule", json!({"type": "integer", "minimum": 0, "maximum": n, "description": "the 1-based rule that decided; 0 if none"})),
                    ("decision", one_of(vec![json!("accept"), json!("hold"), json!("reject")], "string")),
                    ("weight", number(0.0, 1.0, "the accepting rule's weight; 0 unless accepted")),
                    ("reason", text(SHORT_CHARS, "short")),
                ]);
                verdict["description"] = json!(crate::util::text::sanitize(&m.text, 120));
                p.insert(m.message.to_string(), verdict);
            }
            let mut verdicts = closed(p);
            verdicts["description"] = json!("one verdict per buffered message, keyed by its id");
            obj(vec![("verdicts", verdicts)])
        }
        ReasonRequest::Integrate { profile, inbox, max_attributes, .. } => {
            let (all, moved) = integrate_keys(profile, inbox);
            // One change per inbox attribute, as fixed keys (an array let a small model name the
            // same attribute twice); the message keeps the largest `max_attributes` of them.
            let mut deltas = Map::new();
            for k in &moved {
                deltas.insert((*k).clone(), number(-1.0, 1.0, "its change; 0 if it is not worth telling"));
            }
            let mut message = closed(deltas);
            message["description"] = json!(format!("the change of each routed attribute; the {} largest are sent", max_attributes.max(&1)));
            obj(vec![
                ("profile", weight_map(&all, "the community's new weight for each attribute (0 drops it)")),
                ("message", message),
                ("summary", text(REASON_CHARS, "one sentence")),
            ])
        }
        ReasonRequest::Credit { items, .. } => {
            let mut p = Map::new();
            for (pos, it) in items.iter().enumerate() {
                let bound = it.reward.abs().max(1.0);
                let mut shares = Map::new();
                for m in credit_modules(&it.agent, it.rule, &it.router) {
                    shares.insert(m, number(-bound, bound, "this module's share of the reward"));
                }
                let mut item = obj(vec![("shares", closed(shares)), ("reason", text(SHORT_CHARS, "short"))]);
                item["description"] = json!(format!("reward {} for message {} that {} decided", it.reward, it.message, it.agent));
                p.insert(credit_key(pos), item);
            }
            let mut keyed = closed(p);
            keyed["description"] = json!("one entry per reward, keyed by its 1-based position");
            obj(vec![("items", keyed)])
        }
        ReasonRequest::Gradient { module, step, .. } => {
            obj(vec![("direction", text(REASON_CHARS, "one sentence")), ("edit", edit_schema(module, *step))])
        }
        ReasonRequest::Optimise { rules, .. } => {
            let n = rule_count(rules);
            obj(vec![
                ("rules", text(rules.chars().count() + RULE_CHARS, "the whole new rule list; empty if the edit does not apply")),
                ("rule", json!({"type": "integer", "minimum": 0, "maximum": n + 1, "description": "the 1-based rule changed"})),
                ("before", text(RULE_CHARS, "old rule")),
                ("after", text(RULE_CHARS, "new rule")),
                ("reason", text(REASON_CHARS, "one sentence")),
            ])
        }
    }
}

/// An answer in its wire form (what a model following `reply_schema(req)` would write).
pub fn to_wire(req: &ReasonRequest, answer: &ReasonAnswer) -> Value {
    let full = |keys: &BTreeSet<&String>, new: &BTreeMap<String, f64>, old: &BTreeMap<String, f64>| -> Map<String, Value> {
        keys.iter().map(|k| ((*k).clone(), json!(new.get(*k).or(old.get(*k)).copied().unwrap_or(0.0)))).collect()
    };
    match (req, answer) {
        (ReasonRequest::Reflect { user_attrs, item_attrs, negative_attrs, .. }, ReasonAnswer::Reflect { user, item, reason }) => {
            let (u, i) = reflect_keys(user_attrs, item_attrs, negative_attrs);
            json!({"user": full(&u, user, user_attrs), "item": full(&i, item, item_attrs), "reason": reason})
        }
        (ReasonRequest::Filter { .. }, ReasonAnswer::Filter { verdicts }) => {
            let keyed: Map<String, Value> = verdicts
                .iter()
                .map(|v| {
                    let w = json!({"rule": v.rule.unwrap_or(0), "decision": v.decision.name(), "weight": v.weight, "reason": v.reason});
                    (v.message.to_string(), w)
                })
                .collect();
            json!({ "verdicts": keyed })
        }
        (ReasonRequest::Integrate { profile: old, inbox, .. }, ReasonAnswer::Integrate { profile, message, summary }) => {
            let (all, _) = integrate_keys(old, inbox);
            let mut p = Map::new();
            for k in all {
                p.insert(k.clone(), json!(profile.get(k).copied().unwrap_or(0.0)));
            }
            let mut m = Map::new();
            for d in inbox {
                m.insert(d.attr.clone(), json!(0.0));
            }
            for d in message {
                m.insert(d.attr.clone(), json!(d.delta));
            }
            json!({"profile": p, "message": m, "summary": summary})
        }
        (ReasonRequest::Credit { .. }, ReasonAnswer::Credit { items }) => {
            let keyed: Map<String, Value> = items
                .iter()
                .enumerate()
                .map(|(pos, a)| {
                    let shares: Map<String, Value> = a.shares.iter().map(|s| (s.module.clone(), json!(s.amount))).collect();
                    (credit_key(pos), json!({"shares": shares, "reason": a.reason}))
                })
                .collect();
            json!({ "items": keyed })
        }
        (ReasonRequest::Gradient { .. }, ReasonAnswer::Gradient { direction, edit }) => json!({"direction": direction, "edit": edit}),
        (ReasonRequest::Optimise { .. }, ReasonAnswer::Optimise { rules, rule, before, after, reason }) => json!({
            "rules": rules.clone().unwrap_or_default(), "rule": rule, "before": before, "after": after, "reason": reason,
        }),
        _ => Value::Null,
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Read a reply already checked against `reply_schema(req)` into an answer. Errors say what does
/// not fit (a shape the schema cannot express, e.g. the same attribute named twice).
pub fn from_wire(req: &ReasonRequest, v: &Value) -> Result<ReasonAnswer, String> {
    // The changes a fixed-key map makes: entries that differ from the old weight.
    let changes = |new: &Value, old: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        new.as_object()
            .into_iter()
            .flatten()
            .map(|(k, w)| (k.clone(), f(w)))
            .filter(|(k, w)| (w - old.get(k).copied().unwrap_or(0.0)).abs() > 1e-9)
            .collect()
    };
    Ok(match req {
        ReasonRequest::Reflect { user_attrs, item_attrs, .. } => ReasonAnswer::Reflect {
            user: changes(&v["user"], user_attrs),
            item: changes(&v["item"], item_attrs),
            reason: s(&v["reason"]),
        },
        ReasonRequest::Filter { messages, .. } => {
            let mut verdicts = Vec::new();
            for m in messages {
                let w = &v["verdicts"][m.message.to_string()];
                let decision = match w["decision"].as_str() {
                    Some("accept") => Decision::Accept,
                    Some("hold") => Decision::Hold,
                    Some("reject") => Decision::Reject,
                    _ => return Err(format!("no decision for message {}", m.message)),
                };
                let rule = w["rule"].as_f64().map(|r| r as usize).filter(|r| *r > 0);
                verdicts.push(FilterVerdict { message: m.message, rule, decision, weight: f(&w["weight"]), reason: s(&w["reason"]) });
            }
            ReasonAnswer::Filter { verdicts }
        }
        ReasonRequest::Integrate { max_attributes, .. } => {
            let profile = v["profile"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, w)| (k.clone(), f(w)))
                .filter(|(_, w)| w.abs() >= 1e-4)
                .collect();
            let mut message: Vec<AttrDelta> = v["message"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, d)| AttrDelta { attr: k.clone(), delta: f(d) })
                .filter(|d| d.delta.abs() > 1e-4)
                .collect();
            // The largest moves first, as the offline integrator orders them.
            message.sort_by(|a, b| b.delta.abs().total_cmp(&a.delta.abs()).then(a.attr.cmp(&b.attr)));
            message.truncate((*max_attributes).max(1));
            ReasonAnswer::Integrate { profile, message, summary: s(&v["summary"]) }
        }
        ReasonRequest::Credit { items, .. } => ReasonAnswer::Credit {
            items: items
                .iter()
                .enumerate()
                .map(|(pos, it)| {
                    let a = &v["items"][credit_key(pos)];
                    let shares = credit_modules(&it.agent, it.rule, &it.router)
                        .into_iter()
                        .map(|m| CreditShare { amount: f(&a["shares"][&m]), module: m })
                        .collect();
                    CreditAnswer { shares, reason: s(&a["reason"]) }
                })
                .collect(),
        },
        ReasonRequest::Gradient { .. } => {
            let edit: Edit = serde_json::from_value(v["edit"].clone()).map_err(|e| format!("edit: {e}"))?;
            ReasonAnswer::Gradient { direction: s(&v["direction"]), edit }
        }
        ReasonRequest::Optimise { .. } => {
            let rules = s(&v["rules"]);
            ReasonAnswer::Optimise {
                rules: (!rules.trim().is_empty()).then_some(rules),
                rule: v["rule"].as_f64().unwrap_or(0.0) as usize,
                before: s(&v["before"]),
                after: s(&v["after"]),
                reason: s(&v["reason"]),
            }
        }
    })
}

/// The schema as text for a prompt, for servers that cannot be sent it as `response_format`.
pub fn schema_text(req: &ReasonRequest) -> String {
    reply_schema(req).to_string()
}
