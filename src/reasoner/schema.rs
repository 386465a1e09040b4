//! The reply a model must give to one request, as a JSON schema built for that request, and the
//! translation between that wire form and the engine's `ReasonAnswer`.
//!
//! Every schema is closed (`additionalProperties: false`, every property required, so OpenAI's
//! `strict: true` applies) and bounded: the attribute names a reply may use are fixed keys or an
//! `enum`, filter verdicts are keyed by message id (exactly one per message), numbers carry
//! `minimum`/`maximum` and free text a `maxLength`. A model constrained by it cannot wander off
//! inventing keys until the token limit; a server that ignores it is checked against it anyway.
//!
//! Bounded numbers travel as integers in hundredths (0.35 is 35): llama.cpp's grammar enforces an
//! integer's `minimum`/`maximum` but not a number's, and a small model wrote weights of 1.5 or 80
//! that the schema then refused.

mod optimise;

use crate::engine::protocol::{CreditAnswer, FilterVerdict, ReasonAnswer, ReasonRequest};
use crate::world::event::{AttrDelta, CreditShare, Decision, Edit};
use crate::world::{parse_rule_module, rule_module};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Longest free-text reason or summary a reply may carry.
pub const REASON_CHARS: usize = 120;
/// Longest reason per item of a batch (a filter verdict, a credit entry): many share one reply.
pub const SHORT_CHARS: usize = 40;

/// `x` in hundredths, the wire form of a bounded number.
pub fn to_h(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

fn from_h(v: &Value) -> f64 {
    v.as_f64().map_or(f64::NAN, |h| h / 100.0)
}

/// Free text cut to `max` characters, as a reply may carry it.
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn text(max: usize, description: &str) -> Value {
    json!({"type": "string", "maxLength": max, "description": description})
}

/// A number from `min` to `max`, written in hundredths as an integer.
fn hundredths(min: f64, max: f64, description: &str) -> Value {
    json!({"type": "integer", "minimum": to_h(min), "maximum": to_h(max), "description": format!("{description}, in hundredths")})
}

fn closed(properties: Map<String, Value>) -> Value {
    let required: Vec<Value> = properties.keys().map(|k| json!(k)).collect();
    json!({"type": "object", "additionalProperties": false, "properties": properties, "required": required})
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    closed(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A fixed-key map of weight changes: one per attribute in `keys`, all required, each bounded
/// so that the old weight plus the change stays in -1..1. Changes, not new weights: a small model
/// that writes 0 everywhere then leaves a profile as it was instead of erasing it.
fn change_map(keys: &BTreeSet<&String>, old: &BTreeMap<String, f64>, description: &str) -> Value {
    let mut p = Map::new();
    for k in keys {
        let was = to_h(old.get(*k).copied().unwrap_or(0.0)).clamp(-100, 100);
        let d = format!("change of the weight (now {was}); 0 keeps it, in hundredths");
        p.insert((*k).clone(), json!({"type": "integer", "minimum": -100 - was, "maximum": 100 - was, "description": d}));
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
                // Not 0: a learned `accept when relevance >= 0` would let everything in.
                ("min_relevance", hundredths(0.05, 1.0, "relevance from which helpful messages get in")),
            ]));
            variants.push(obj(vec![("op", op("retire")), ("agent", agent), ("rule", rule)]));
        }
        None => {
            let step = step.abs();
            variants.push(obj(vec![
                ("op", op("router")),
                ("router", one_of(vec![json!(module)], "string")),
                ("fan_out_delta", json!({"type": "integer", "minimum": -1, "maximum": 1, "description": "-1 reach fewer, 0 same, 1 more members"})),
                ("tau_delta", hundredths(-step, step, "change of the router's similarity bar τ")),
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
                ("user", change_map(&u, user_attrs, "the change of the user's weight for each attribute")),
                ("item", change_map(&i, item_attrs, "the change of the chosen item's weight for each attribute")),
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
                    ("reason", text(SHORT_CHARS, "short")),
                ]);
                verdict["description"] = json!(crate::util::text::sanitize(&m.text, 80));
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
                deltas.insert((*k).clone(), hundredths(-1.0, 1.0, "its change; 0 if it is not worth telling"));
            }
            let mut message = closed(deltas);
            message["description"] = json!(format!("the change of each routed attribute; the {} largest are sent", max_attributes.max(&1)));
            obj(vec![
                ("profile", change_map(&all, profile, "the change of the community's weight for each attribute")),
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
                    shares.insert(m, hundredths(-bound, bound, "this module's share of the reward"));
                }
                let mut item = obj(vec![("shares", closed(shares)), ("reason", text(SHORT_CHARS, "short"))]);
                item["description"] = json!(format!("reward {} for message {} that {} decided", it.reward, it.message, it.agent));
                p.insert(credit_key(pos), item);
            }
            let mut keyed = closed(p);
            keyed["description"] = json!("one entry per reward, keyed by its 1-based position");
            obj(vec![("items", keyed)])
        }
        ReasonRequest::Gradient { module, step, .. } => obj(vec![("direction", text(REASON_CHARS, "one sentence")), ("edit", edit_schema(module, *step))]),
        ReasonRequest::Optimise { rules, edit, step, .. } => optimise::schema(rules, edit, *step),
    }
}

/// An answer in its wire form (what a model following `reply_schema(req)` would write).
pub fn to_wire(req: &ReasonRequest, answer: &ReasonAnswer) -> Value {
    // The change of each key, as the difference of the rounded weights (so that it reads back).
    let full = |keys: &BTreeSet<&String>, new: &BTreeMap<String, f64>, old: &BTreeMap<String, f64>| -> Map<String, Value> {
        let h = |m: &BTreeMap<String, f64>, k: &String| to_h(m.get(k).copied().unwrap_or(0.0));
        keys.iter().map(|k| ((*k).clone(), json!(if new.contains_key(*k) { h(new, k) - h(old, k) } else { 0 }))).collect()
    };
    match (req, answer) {
        (ReasonRequest::Reflect { user_attrs, item_attrs, negative_attrs, .. }, ReasonAnswer::Reflect { user, item, reason }) => {
            let (u, i) = reflect_keys(user_attrs, item_attrs, negative_attrs);
            json!({"user": full(&u, user, user_attrs), "item": full(&i, item, item_attrs), "reason": cut(reason, REASON_CHARS)})
        }
        (ReasonRequest::Filter { .. }, ReasonAnswer::Filter { verdicts }) => {
            let keyed: Map<String, Value> = verdicts
                .iter()
                .map(|v| {
                    let w = json!({"rule": v.rule.unwrap_or(0), "decision": v.decision.name(), "reason": cut(&v.reason, SHORT_CHARS)});
                    (v.message.to_string(), w)
                })
                .collect();
            json!({ "verdicts": keyed })
        }
        (ReasonRequest::Integrate { profile: old, inbox, .. }, ReasonAnswer::Integrate { profile, message, summary }) => {
            let (all, _) = integrate_keys(old, inbox);
            let h = |m: &BTreeMap<String, f64>, k: &String| to_h(m.get(k).copied().unwrap_or(0.0));
            let p: Map<String, Value> = all.into_iter().map(|k| (k.clone(), json!(h(profile, k) - h(old, k)))).collect();
            let mut m = Map::new();
            for d in inbox {
                m.insert(d.attr.clone(), json!(0));
            }
            for d in message {
                m.insert(d.attr.clone(), json!(to_h(d.delta)));
            }
            json!({"profile": p, "message": m, "summary": cut(summary, REASON_CHARS)})
        }
        (ReasonRequest::Credit { .. }, ReasonAnswer::Credit { items }) => {
            let keyed: Map<String, Value> = items
                .iter()
                .enumerate()
                .map(|(pos, a)| {
                    let shares: Map<String, Value> = a.shares.iter().map(|s| (s.module.clone(), json!(to_h(s.amount)))).collect();
                    (credit_key(pos), json!({"shares": shares, "reason": cut(&a.reason, SHORT_CHARS)}))
                })
                .collect();
            json!({ "items": keyed })
        }
        (ReasonRequest::Gradient { .. }, ReasonAnswer::Gradient { direction, edit }) => {
            let mut e = serde_json::to_value(edit).unwrap_or(Value::Null);
            for k in ["min_relevance", "tau_delta"] {
                if let Some(x) = e.get(k).and_then(Value::as_f64) {
                    e[k] = json!(to_h(x));
                }
            }
            json!({"direction": cut(direction, REASON_CHARS), "edit": e})
        }
        (ReasonRequest::Optimise { edit, .. }, a @ ReasonAnswer::Optimise { .. }) => optimise::to_wire(edit, a),
        _ => Value::Null,
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// What `from_wire` found wrong with a schema-valid reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// A shape the schema cannot express (an edit that does not read, a place that does not fit).
    Shape(String),
    /// An optimise reply's rule line that does not parse as one conditional rule.
    Rules(String),
}

/// Read a reply already checked against `reply_schema(req)` into an answer. Errors say what does
/// not fit (a shape the schema cannot express, e.g. the same attribute named twice).
pub fn from_wire(req: &ReasonRequest, v: &Value) -> Result<ReasonAnswer, WireError> {
    // The new weights a change map makes, for its non-zero changes (the others keep their exact
    // old weight rather than its rounding).
    let changes = |new: &Value, old: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        new.as_object()
            .into_iter()
            .flatten()
            .filter(|(_, d)| d.as_f64() != Some(0.0))
            .map(|(k, d)| (k.clone(), (to_h(old.get(k).copied().unwrap_or(0.0)) as f64 + d.as_f64().unwrap_or(f64::NAN)) / 100.0))
            .collect()
    };
    Ok(match req {
        ReasonRequest::Reflect { user_attrs, item_attrs, .. } => {
            ReasonAnswer::Reflect { user: changes(&v["user"], user_attrs), item: changes(&v["item"], item_attrs), reason: s(&v["reason"]) }
        }
        ReasonRequest::Filter { messages, rules, .. } => {
            let rules = crate::rules::parse_rules(rules).unwrap_or_default();
            let mut verdicts = Vec::new();
            for m in messages {
                let w = &v["verdicts"][m.message.to_string()];
                let decision = match w["decision"].as_str() {
                    Some("accept") => Decision::Accept,
                    Some("hold") => Decision::Hold,
                    Some("reject") => Decision::Reject,
                    _ => return Err(WireError::Shape(format!("no decision for message {}", m.message))),
                };
                let rule = w["rule"].as_f64().map(|r| r as usize).filter(|r| *r > 0);
                // An accept weighs what its rule says: not the model's to choose.
                let weight = match (decision, rule.and_then(|r| rules.get(r - 1)).map(|r| &r.action)) {
                    (Decision::Accept, Some(crate::rules::Action::Accept { weight })) => *weight,
                    _ => 0.0,
                };
                verdicts.push(FilterVerdict { message: m.message, rule, decision, weight, reason: s(&w["reason"]) });
            }
            ReasonAnswer::Filter { verdicts }
        }
        ReasonRequest::Integrate { max_attributes, profile: old, .. } => {
            // A weight repeated in hundredths keeps its exact old value.
            let mut profile = old.clone();
            profile.extend(changes(&v["profile"], old));
            profile.retain(|_, w| w.abs() >= 1e-4);
            let mut message: Vec<AttrDelta> = v["message"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, d)| AttrDelta { attr: k.clone(), delta: from_h(d) })
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
                        .map(|m| CreditShare { amount: from_h(&a["shares"][&m]), module: m })
                        .collect();
                    CreditAnswer { shares, reason: s(&a["reason"]) }
                })
                .collect(),
        },
        ReasonRequest::Gradient { .. } => {
            let mut e = v["edit"].clone();
            for k in ["min_relevance", "tau_delta"] {
                if e.get(k).is_some() {
                    e[k] = json!(from_h(&e[k]));
                }
            }
            let edit: Edit = serde_json::from_value(e).map_err(|e| WireError::Shape(format!("edit: {e}")))?;
            ReasonAnswer::Gradient { direction: s(&v["direction"]), edit }
        }
        ReasonRequest::Optimise { rules, edit, .. } => optimise::from_wire(rules, edit, v)?,
    })
}

/// The schema as text for a prompt, for servers that cannot be sent it as `response_format`.
pub fn schema_text(req: &ReasonRequest) -> String {
    reply_schema(req).to_string()
}

/// Tokens of the longest reply `schema` allows, as a model writes it (keys quoted, indented,
/// one line per value), with a margin: the `max_tokens` a request needs so that no valid reply is
/// cut short. Free text counts a token per character, the worst a tokenizer does.
pub fn reply_tokens(schema: &Value) -> u32 {
    fn est(s: &Value) -> usize {
        if let Some(vs) = s.get("anyOf").and_then(Value::as_array) {
            return vs.iter().map(est).max().unwrap_or(0);
        }
        if let Some(vs) = s.get("enum").and_then(Value::as_array) {
            return 2 + vs.iter().map(|v| v.to_string().len()).max().unwrap_or(0);
        }
        match s.get("type").and_then(Value::as_str) {
            Some("object") => {
                let props = s.get("properties").and_then(Value::as_object);
                // Per key: its quoted name, the colon, the indentation and the comma or newline.
                2 + props.into_iter().flatten().map(|(k, v)| k.chars().count() / 2 + 5 + est(v)).sum::<usize>()
            }
            Some("string") => 2 + s.get("maxLength").and_then(Value::as_u64).unwrap_or(64) as usize,
            Some("integer") => 5,
            _ => 10,
        }
    }
    let n = est(schema);
    (n + n / 4 + 16).min(u32::MAX as usize) as u32
}
