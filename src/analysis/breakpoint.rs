//! Conditional breakpoints on semantic events, as a small expression language:
//!
//! ```text
//! kind == filter_decision and agent == u7 and decision == reject
//! router == R2 and target.kind == item
//! kind == reward and reward < -0.05
//! ```
//! A path names a field of the event as written in the session (`agent`, `rule`, `edit.op`, …);
//! `target` is the agent(s) the event is about (a message's recipients included), so
//! `target.kind` and `target` compare against their kinds and ids. Comparisons with a missing field
//! are false. Errors carry the column.

use crate::rules::CmpOp;
use crate::world::event::{Event, EventBody};
use crate::world::World;
use serde_json::Value;

const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>),
    Cmp { path: String, op: Op, value: Lit },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Num(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakError {
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for BreakError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "col {}: {}", self.col, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(f64),
    Str(String),
    Op(Op),
    LParen,
    RParen,
}

/// The rules' lexer, in the breakpoint dialect (`#` is part of a word, words may hold any
/// letter), with the tokens this language has no use for refused where they stand.
fn lex(s: &str) -> Result<Vec<(Tok, usize)>, BreakError> {
    use crate::rules::lex::{lex_with, Dialect, Tok as RuleTok};
    const BREAKPOINTS: Dialect = Dialect { comments: false, unicode_words: true };
    let (toks, _) = lex_with(s, 1, &BREAKPOINTS).map_err(|e| BreakError { col: e.col, message: e.message })?;
    toks.into_iter()
        .map(|t| {
            let tok = match t.tok {
                RuleTok::Ident(w) => Tok::Word(w),
                RuleTok::Num(n) => Tok::Num(n),
                RuleTok::Str(x) => Tok::Str(x),
                RuleTok::Op(op) => Tok::Op(match op {
                    CmpOp::Eq => Op::Eq,
                    CmpOp::Ne => Op::Ne,
                    CmpOp::Lt => Op::Lt,
                    CmpOp::Le => Op::Le,
                    CmpOp::Gt => Op::Gt,
                    CmpOp::Ge => Op::Ge,
                }),
                RuleTok::LParen => Tok::LParen,
                RuleTok::RParen => Tok::RParen,
                RuleTok::LBracket | RuleTok::RBracket | RuleTok::Comma => {
                    let c = s.chars().nth(t.col - 1).unwrap_or('?');
                    return Err(BreakError { col: t.col, message: format!("unexpected {}", crate::util::text::sanitize(&c.to_string(), 4)) });
                }
            };
            Ok((tok, t.col))
        })
        .collect()
}

struct P {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
    /// Each comparison's field and value with their columns, for `parse_checked`.
    spans: Vec<(String, usize, Lit, usize)>,
}

impl P {
    fn err(&self, m: impl Into<String>) -> BreakError {
        BreakError { col: self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.end), message: m.into() }
    }
    fn word(&mut self, w: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some((Tok::Word(x), _)) if x == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Cond, BreakError> {
        let mut v = vec![self.and()?];
        while self.word("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { Cond::Or(v) })
    }
    fn and(&mut self) -> Result<Cond, BreakError> {
        let mut v = vec![self.unary()?];
        while self.word("and") {
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { Cond::And(v) })
    }
    fn unary(&mut self) -> Result<Cond, BreakError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let r = if self.word("not") {
            Cond::Not(Box::new(self.unary()?))
        } else if matches!(self.toks.get(self.pos), Some((Tok::LParen, _))) {
            self.pos += 1;
            let c = self.or()?;
            if !matches!(self.toks.get(self.pos), Some((Tok::RParen, _))) {
                return Err(self.err("expected `)`"));
            }
            self.pos += 1;
            c
        } else {
            let path_col = self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.end);
            let path = match self.toks.get(self.pos) {
                Some((Tok::Word(w), _)) if !matches!(w.as_str(), "and" | "or" | "not") => w.clone(),
                _ => return Err(self.err("expected a field such as kind, agent, router, decision")),
            };
            self.pos += 1;
            let op = match self.toks.get(self.pos) {
                Some((Tok::Op(o), _)) => *o,
                _ => return Err(self.err("expected == != < <= > >=")),
            };
            self.pos += 1;
            let value_col = self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.end);
            let value = match self.toks.get(self.pos) {
                Some((Tok::Num(n), _)) => Lit::Num(*n),
                Some((Tok::Word(w), _)) => Lit::Text(w.clone()),
                Some((Tok::Str(s), _)) => Lit::Text(s.clone()),
                _ => return Err(self.err("expected a value")),
            };
            self.pos += 1;
            self.spans.push((path.clone(), path_col, value.clone(), value_col));
            Cond::Cmp { path, op, value }
        };
        self.depth -= 1;
        Ok(r)
    }
}

pub fn parse(s: &str) -> Result<Cond, BreakError> {
    parse_spanned(s).map(|(c, _)| c)
}

type Spans = Vec<(String, usize, Lit, usize)>;

fn parse_spanned(s: &str) -> Result<(Cond, Spans), BreakError> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err(BreakError { col: 1, message: "empty breakpoint".into() });
    }
    let mut p = P { toks, pos: 0, end: s.chars().count() + 1, depth: 0, spans: Vec::new() };
    let c = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err("unexpected text after the condition"));
    }
    Ok((c, p.spans))
}

/// Every event kind, as written in a session (`EventBody::kind`).
pub use crate::world::event::KINDS;

/// Every field an event has at the top level, over all kinds (and `edit.*` of a gradient);
/// a test keeps this in step with the event types.
pub const FIELDS: &[&str] = &[
    "step",
    "round",
    "tick",
    "kind",
    "dim",
    "vocabulary",
    "evidence_memory",
    "agent",
    "agent_kind",
    "title",
    "attrs",
    "rules",
    "router",
    "attributes",
    "profile",
    "members",
    "fan_out",
    "tau",
    "summary",
    "gate",
    "index",
    "interactions",
    "user",
    "item",
    "negative",
    "changes",
    "reason",
    "text",
    "changed",
    "joined",
    "attr",
    "delta",
    "similarity",
    "inbox",
    "new_attributes",
    "keep_choices",
    "message",
    "sources",
    "source_kind",
    "content",
    "topic",
    "polarity",
    "recipients",
    "evidence",
    "relevance",
    "policy",
    "buffered",
    "rule",
    "rule_text",
    "decision",
    "weight",
    "support",
    "age",
    "entries",
    "with",
    "without",
    "reward",
    "shares",
    "module",
    "direction",
    "edit",
    "edit.op",
    "edit.agent",
    "edit.rule",
    "edit.min_relevance",
    "edit.router",
    "edit.fan_out_delta",
    "edit.tau_delta",
    "before",
    "after",
    "fan_out_from",
    "fan_out_to",
    "tau_from",
    "tau_to",
    "from",
    "to",
    "gradient",
    "stage",
    "model",
    "prompt",
    "reply",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "cache_hit",
    "error",
    "fallback",
    "split",
    "values",
    "target",
    "target.kind",
    "target.id",
    "update_gate",
    "into",
    "channel",
    "finish_reason",
    "cause",
    "community",
    "precision",
];

/// Fields that are maps from names to numbers: `values.ndcg`, `attrs.Jazz`.
const MAP_FIELDS: &[&str] = &["attrs", "profile", "values"];

/// Fields whose value is a number: compared with a word they could never match.
const NUMERIC: &[&str] = &[
    "step",
    "round",
    "tick",
    "dim",
    "fan_out",
    "tau",
    "gate",
    "index",
    "interactions",
    "delta",
    "similarity",
    "inbox",
    "keep_choices",
    "message",
    "relevance",
    "buffered",
    "rule",
    "weight",
    "support",
    "age",
    "with",
    "without",
    "reward",
    "edit.rule",
    "edit.min_relevance",
    "edit.fan_out_delta",
    "edit.tau_delta",
    "fan_out_from",
    "fan_out_to",
    "tau_from",
    "tau_to",
    "from",
    "to",
    "gradient",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "update_gate",
    "precision",
];

/// Fields that hold a client's id, and those that hold a router's.
const AGENT_FIELDS: &[&str] = &["agent", "user", "item", "negative", "target", "target.id", "edit.agent"];
const ROUTER_FIELDS: &[&str] = &["router", "edit.router"];

fn is_numeric(path: &str) -> bool {
    NUMERIC.contains(&path) || MAP_FIELDS.iter().any(|m| path.strip_prefix(m).is_some_and(|r| r.starts_with('.')))
}

/// The closed sets of values some fields take.
const VALUES: &[(&str, &[&str])] = &[
    ("decision", &["accept", "hold", "reject"]),
    ("agent_kind", &["user", "item"]),
    ("source_kind", &["user", "item"]),
    ("target.kind", &["user", "item"]),
    ("polarity", &["up", "down"]),
    ("edit.op", &["tighten", "loosen", "retire", "router", "no_change"]),
];

/// `parse`, then every field, kind and closed-set value checked against the event format: a
/// misspelt name is an error at its column instead of a query that silently matches nothing.
pub fn parse_checked(s: &str) -> Result<Cond, BreakError> {
    parse_known(s, &|_| true, &|_| true)
}

/// `parse_checked`, and an agent or router id that is not in the world is an error at its
/// column (the inspector knows the world; `u99` would otherwise never stop anything).
pub fn parse_in(s: &str, world: &World) -> Result<Cond, BreakError> {
    let agent = |id: &str| world.client(id).is_some() || world.router(id).is_some();
    let router = |id: &str| world.router(id).is_some();
    parse_known(s, &agent, &router)
}

fn parse_known(s: &str, is_agent: &dyn Fn(&str) -> bool, is_router: &dyn Fn(&str) -> bool) -> Result<Cond, BreakError> {
    let (cond, spans) = parse_spanned(s)?;
    for (path, path_col, value, value_col) in spans {
        if let (true, Lit::Text(t)) = (is_numeric(&path), &value) {
            return Err(BreakError {
                col: value_col,
                message: format!("{path} is a number: compare it with a number, not {}", crate::util::text::sanitize(t, 40)),
            });
        }
        if let Lit::Text(t) = &value {
            let (what, known) = if AGENT_FIELDS.contains(&path.as_str()) {
                ("agent", is_agent(t))
            } else if ROUTER_FIELDS.contains(&path.as_str()) {
                ("router", is_router(t))
            } else {
                ("", true)
            };
            if !known {
                return Err(BreakError { col: value_col, message: format!("no {what} {} in this world", crate::util::text::sanitize(t, 40)) });
            }
        }
        let known = FIELDS.contains(&path.as_str()) || MAP_FIELDS.iter().any(|m| path.strip_prefix(m).is_some_and(|r| r.starts_with('.')));
        if !known {
            let hint = crate::util::text::nearest(&path, FIELDS).map(|f| format!(" (did you mean {f}?)")).unwrap_or_default();
            return Err(BreakError { col: path_col, message: format!("unknown field {}{hint}", crate::util::text::sanitize(&path, 40)) });
        }
        let allowed = if path == "kind" { Some(KINDS) } else { VALUES.iter().find(|(f, _)| *f == path).map(|(_, v)| *v) };
        if let (Some(allowed), Lit::Text(t)) = (allowed, &value) {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(t)) {
                let shown = if allowed.len() > 8 { format!("{}, …", allowed[..8].join(", ")) } else { allowed.join(", ") };
                return Err(BreakError { col: value_col, message: format!("{path} has no value {} (one of: {shown})", crate::util::text::sanitize(t, 40)) });
            }
        }
    }
    Ok(cond)
}

/// The agents an event is about (for `target`): its agent, or a message's recipients.
fn targets(ev: &Event) -> Vec<&str> {
    match &ev.body {
        EventBody::MessageSent { recipients, .. } => recipients.iter().map(|r| r.agent.as_str()).collect(),
        EventBody::Interaction { user, item, .. } => vec![user.as_str(), item.as_str()],
        _ => crate::analysis::export::event_refs(ev).0.into_iter().collect(),
    }
}

fn cmp_values(v: &Value, op: Op, lit: &Lit) -> bool {
    match (v, lit) {
        (Value::Number(n), Lit::Num(x)) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            match op {
                Op::Eq => n == *x,
                Op::Ne => n != *x,
                Op::Lt => n < *x,
                Op::Le => n <= *x,
                Op::Gt => n > *x,
                Op::Ge => n >= *x,
            }
        }
        (Value::String(s), Lit::Text(t)) => match op {
            Op::Eq => s.eq_ignore_ascii_case(t),
            Op::Ne => !s.eq_ignore_ascii_case(t),
            _ => false,
        },
        (Value::Bool(b), Lit::Text(t)) => {
            let eq = b.to_string() == t.to_ascii_lowercase();
            match op {
                Op::Eq => eq,
                Op::Ne => !eq,
                _ => false,
            }
        }
        (Value::Null, _) => op == Op::Ne,
        _ => op == Op::Ne,
    }
}

/// Does the event (with the world it applies to, for agent kinds) satisfy the condition?
pub fn matches(c: &Cond, ev: &Event, json: &Value, world: &World) -> bool {
    match c {
        Cond::Or(v) => v.iter().any(|c| matches(c, ev, json, world)),
        Cond::And(v) => v.iter().all(|c| matches(c, ev, json, world)),
        Cond::Not(c) => !matches(c, ev, json, world),
        Cond::Cmp { path, op, value } => {
            if path == "target" || path == "target.kind" || path == "target.id" {
                let ts = targets(ev);
                let vals: Vec<Value> = ts
                    .iter()
                    .map(|t| {
                        if path == "target.kind" {
                            world.client(t).map(|c| Value::String(c.kind.name().into())).unwrap_or(Value::Null)
                        } else {
                            Value::String(t.to_string())
                        }
                    })
                    .collect();
                // Equality holds if any target matches; inequality if none does.
                return match op {
                    Op::Ne => !vals.iter().any(|v| cmp_values(v, Op::Eq, value)),
                    _ => vals.iter().any(|v| cmp_values(v, *op, value)),
                };
            }
            let mut v = json;
            for part in path.split('.') {
                match v.get(part) {
                    Some(x) => v = x,
                    None => return *op == Op::Ne,
                }
            }
            cmp_values(v, *op, value)
        }
    }
}

#[cfg(test)]
mod tests;
