//! Evaluation: a rule list against one buffered message, first match wins.

use super::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    Up,
    Down,
}

impl Polarity {
    pub fn of(delta: f64) -> Polarity {
        if delta >= 0.0 {
            Polarity::Up
        } else {
            Polarity::Down
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Polarity::Up => "up",
            Polarity::Down => "down",
        }
    }
}

/// What a rule can see of one buffered message and its receiver.
pub struct FilterInput<'a> {
    pub relevance: f64,
    pub topic: &'a str,
    pub polarity: Polarity,
    pub strength: f64,
    pub source_kind: &'a str,
    pub source: &'a str,
    pub router: &'a str,
    pub router_credit: f64,
    pub support: f64,
    pub age: f64,
    pub evidence: f64,
    pub receiver_attrs: &'a BTreeMap<String, f64>,
    pub like_threshold: f64,
}

impl FilterInput<'_> {
    fn num(&self, f: Field) -> f64 {
        match f {
            Field::Relevance => self.relevance,
            Field::Strength => self.strength,
            Field::RouterCredit => self.router_credit,
            Field::Support => self.support,
            Field::Age => self.age,
            Field::Evidence => self.evidence,
            _ => f64::NAN,
        }
    }
    fn text(&self, f: Field) -> &str {
        match f {
            Field::Topic => self.topic,
            Field::Polarity => self.polarity.name(),
            Field::SourceKind => self.source_kind,
            Field::Source => self.source,
            Field::Router => self.router,
            _ => "",
        }
    }
    fn in_set(&self, value: &str, set: &SetRef) -> bool {
        match set {
            SetRef::Likes => self.receiver_attrs.get(value).is_some_and(|w| *w >= self.like_threshold),
            SetRef::Dislikes => self.receiver_attrs.get(value).is_some_and(|w| *w <= -self.like_threshold),
            SetRef::List(items) => items.iter().any(|s| s.eq_ignore_ascii_case(value)),
        }
    }
}

pub fn eval_expr(e: &Expr, input: &FilterInput) -> bool {
    match e {
        Expr::Or(items) => items.iter().any(|i| eval_expr(i, input)),
        Expr::And(items) => items.iter().all(|i| eval_expr(i, input)),
        Expr::Not(inner) => !eval_expr(inner, input),
        Expr::Cmp { field, op, value } => match value {
            Value::Num(n) => {
                let v = input.num(*field);
                match op {
                    CmpOp::Eq => v == *n,
                    CmpOp::Ne => v != *n,
                    CmpOp::Lt => v < *n,
                    CmpOp::Le => v <= *n,
                    CmpOp::Gt => v > *n,
                    CmpOp::Ge => v >= *n,
                }
            }
            Value::Text(s) => {
                let eq = input.text(*field).eq_ignore_ascii_case(s);
                if *op == CmpOp::Ne {
                    !eq
                } else {
                    eq
                }
            }
        },
        Expr::In { field, set, negated } => input.in_set(input.text(*field), set) != *negated,
    }
}

/// First matching rule: its index and action.
pub fn evaluate(rules: &[Rule], input: &FilterInput) -> Option<(usize, Action)> {
    rules.iter().enumerate().find(|(_, r)| r.cond.as_ref().is_none_or(|c| eval_expr(c, input))).map(|(i, r)| (i, r.action))
}
