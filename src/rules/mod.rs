//! The filter-rule language: one rule a line, first match wins.
//!
//! ```text
//! accept 0.8 when relevance >= 0.35 and topic in likes   # because: matches what I like
//! reject when topic in dislikes
//! hold 2 when relevance >= 0.2 and support < 1
//! default reject
//! ```
//! Parsing reports `line:col: message`; `print_rules` is the canonical form, and
//! `parse(print(rules)) == rules` holds for every rule set.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Deeper nesting than this is refused, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub action: Action,
    /// `None` is the catch-all `default` rule.
    pub cond: Option<Expr>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    Accept { weight: f64 },
    Hold { steps: u32 },
    Reject,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Accept { .. } => "accept",
            Action::Hold { .. } => "hold",
            Action::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp { field: Field, op: CmpOp, value: Value },
    In { field: Field, set: SetRef, negated: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    Relevance,
    Topic,
    Polarity,
    Strength,
    SourceKind,
    Source,
    Router,
    RouterCredit,
    Support,
    Age,
}

pub const FIELDS: &[(&str, Field, &str)] = &[
    ("relevance", Field::Relevance, "cosine of the message and the receiver's profile"),
    ("topic", Field::Topic, "the attribute the message is mostly about"),
    ("polarity", Field::Polarity, "up (more liked) or down (less liked)"),
    ("strength", Field::Strength, "size of the topic's change, 0..1"),
    ("source.kind", Field::SourceKind, "user or item: who first changed"),
    ("source", Field::Source, "id of the client whose change started it"),
    ("router", Field::Router, "id of the router that sent it"),
    ("router.credit", Field::RouterCredit, "the sending router's credit so far"),
    ("support", Field::Support, "other buffered messages agreeing on topic and polarity"),
    ("age", Field::Age, "steps the message has waited in the buffer"),
];

impl Field {
    pub fn name(self) -> &'static str {
        FIELDS.iter().find(|f| f.1 == self).map(|f| f.0).unwrap_or("?")
    }
    fn from_name(s: &str) -> Option<Field> {
        match s {
            "attribute" => Some(Field::Topic),
            _ => FIELDS.iter().find(|f| f.0 == s).map(|f| f.1),
        }
    }
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Field::Relevance | Field::Strength | Field::RouterCredit | Field::Support | Field::Age
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Num(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetRef {
    Likes,
    Dislikes,
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for RuleError {}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

#[derive(Debug, Clone)]
struct Spanned {
    tok: Tok,
    col: usize,
}

/// Show text from a rule file safely inside an error message.
fn visible(s: &str) -> String {
    crate::util::text::sanitize(s, 40)
}

fn lex(line: &str, line_no: usize) -> Result<(Vec<Spanned>, Option<String>), RuleError> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let err = |col: usize, message: String| RuleError { line: line_no, col, message };
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c == ' ' || c == '\t' || c == '\r' {
            i += 1;
        } else if c == '#' {
            let text: String = chars[i + 1..].iter().collect();
            let text = text.trim();
            return Ok((toks, (!text.is_empty()).then(|| text.to_string())));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | ':'))
            {
                i += 1;
            }
            toks.push(Spanned { tok: Tok::Ident(chars[start..i].iter().collect()), col });
        } else if c.is_ascii_digit()
            || ((c == '-' || c == '.') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == '.'))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n: f64 = text
                .parse()
                .map_err(|_| err(col, format!("bad number {}", visible(&text))))?;
            if !n.is_finite() {
                return Err(err(col, format!("bad number {}", visible(&text))));
            }
            toks.push(Spanned { tok: Tok::Num(n), col });
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(err(col, "unterminated string".into())),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some('"') => s.push('"'),
                            Some('\\') => s.push('\\'),
                            _ => return Err(err(i + 1, "only \\\" and \\\\ escapes are allowed".into())),
                        }
                        i += 2;
                    }
                    Some(ch) if ch.is_control() => {
                        return Err(err(i + 1, format!("control character {} in string", ch.escape_unicode())))
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            toks.push(Spanned { tok: Tok::Str(s), col });
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (tok, len) = match two.as_str() {
                "==" => (Tok::Op(CmpOp::Eq), 2),
                "!=" => (Tok::Op(CmpOp::Ne), 2),
                "<=" => (Tok::Op(CmpOp::Le), 2),
                ">=" => (Tok::Op(CmpOp::Ge), 2),
                _ => match c {
                    '<' => (Tok::Op(CmpOp::Lt), 1),
                    '>' => (Tok::Op(CmpOp::Gt), 1),
                    '=' => (Tok::Op(CmpOp::Eq), 1),
                    '(' => (Tok::LParen, 1),
                    ')' => (Tok::RParen, 1),
                    '[' => (Tok::LBracket, 1),
                    ']' => (Tok::RBracket, 1),
                    ',' => (Tok::Comma, 1),
                    _ => {
                        return Err(err(col, format!("unexpected character {}", visible(&c.to_string()))))
                    }
                },
            };
            toks.push(Spanned { tok, col });
            i += len;
        }
    }
    Ok((toks, None))
}

// ---------------------------------------------------------------- parser

struct Parser<'a> {
    toks: &'a [Spanned],
    pos: usize,
    line: usize,
    end_col: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> RuleError {
        let col = self.toks.get(self.pos).map(|t| t.col).unwrap_or(self.end_col);
        RuleError { line: self.line, col, message: message.into() }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn describe(&self) -> String {
        match self.peek() {
            None => "end of line".into(),
            Some(Tok::Ident(s)) => format!("`{}`", visible(s)),
            Some(Tok::Num(n)) => format!("number {n}"),
            Some(Tok::Str(s)) => format!("string \"{}\"", visible(s)),
            Some(Tok::Op(o)) => format!("`{}`", o.symbol()),
            Some(Tok::LParen) => "`(`".into(),
            Some(Tok::RParen) => "`)`".into(),
            Some(Tok::LBracket) => "`[`".into(),
            Some(Tok::RBracket) => "`]`".into(),
            Some(Tok::Comma) => "`,`".into(),
        }
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn rule(&mut self) -> Result<Rule, RuleError> {
        let is_default = self.keyword("default");
        let action = self.action()?;
        let cond = if is_default {
            None
        } else if self.keyword("when") {
            Some(self.or_expr()?)
        } else {
            return Err(self.err(format!(
                "expected `when` after `{}`, found {} (a catch-all rule is written `default {}`)",
                action.name(),
                self.describe(),
                action.name()
            )));
        };
        if self.peek().is_some() {
            return Err(self.err(format!("unexpected {} after the rule", self.describe())));
        }
        Ok(Rule { action, cond, comment: None })
    }

    fn action(&mut self) -> Result<Action, RuleError> {
        if self.keyword("accept") {
            let weight = match self.peek() {
                Some(Tok::Num(n)) => {
                    let n = *n;
                    if !(0.0..=1.0).contains(&n) {
                        return Err(self.err(format!("accept weight {n} must be between 0 and 1")));
                    }
                    self.pos += 1;
                    n
                }
                _ => 1.0,
            };
            Ok(Action::Accept { weight })
        } else if self.keyword("hold") {
            match self.peek() {
                Some(Tok::Num(n)) if n.fract() == 0.0 && *n >= 1.0 && *n <= 1000.0 => {
                    let steps = *n as u32;
                    self.pos += 1;
                    Ok(Action::Hold { steps })
                }
                _ => Err(self.err(format!(
                    "`hold` needs a whole number of steps (1..1000), found {}",
                    self.describe()
                ))),
            }
        } else if self.keyword("reject") {
            Ok(Action::Reject)
        } else {
            Err(self.err(format!("expected accept, hold, reject or default, found {}", self.describe())))
        }
    }

    fn or_expr(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.and_expr()?];
        while self.keyword("or") {
            items.push(self.and_expr()?);
        }
        Ok(flatten_or(items))
    }

    fn and_expr(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.unary()?];
        while self.keyword("and") {
            items.push(self.unary()?);
        }
        Ok(flatten_and(items))
    }

    fn enter(&mut self) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("expression nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        self.enter()?;
        let e = if self.keyword("not") {
            Expr::Not(Box::new(self.unary()?))
        } else if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = self.or_expr()?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(self.err(format!("expected `)`, found {}", self.describe())));
            }
            self.pos += 1;
            inner
        } else {
            self.comparison()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn comparison(&mut self) -> Result<Expr, RuleError> {
        let field = match self.peek() {
            Some(Tok::Ident(name)) => match Field::from_name(name) {
                Some(f) => f,
                None => {
                    let known: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
                    return Err(self.err(format!(
                        "unknown field `{}` (fields: {})",
                        visible(name),
                        known.join(", ")
                    )));
                }
            },
            _ => return Err(self.err(format!("expected a field, found {}", self.describe()))),
        };
        self.pos += 1;
        let negated = if self.keyword("not") {
            if !matches!(self.peek(), Some(Tok::Ident(s)) if s == "in") {
                return Err(self.err(format!("expected `in` after `not`, found {}", self.describe())));
            }
            true
        } else {
            false
        };
        if self.keyword("in") {
            if field.is_numeric() {
                self.pos -= 1;
                return Err(self.err(format!("`in` needs a text field; `{}` is a number", field.name())));
            }
            let set = self.set()?;
            return Ok(Expr::In { field, set, negated });
        }
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            _ => {
                return Err(self.err(format!(
                    "expected a comparison (== != < <= > >=) or `in`, found {}",
                    self.describe()
                )))
            }
        };
        self.pos += 1;
        let value = match self.peek() {
            Some(Tok::Num(n)) => Value::Num(*n),
            Some(Tok::Str(s)) => Value::Text(s.clone()),
            Some(Tok::Ident(s)) if !is_keyword(s) => Value::Text(s.clone()),
            _ => return Err(self.err(format!("expected a value, found {}", self.describe()))),
        };
        match (&value, field.is_numeric()) {
            (Value::Text(_), true) => {
                return Err(self.err(format!("`{}` is a number; compare it with a number", field.name())))
            }
            (Value::Num(_), false) => {
                return Err(self.err(format!("`{}` is text; compare it with a word or \"text\"", field.name())))
            }
            _ => {}
        }
        if !field.is_numeric() && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            self.pos -= 1;
            return Err(self.err(format!("`{}` is text: use == or !=", field.name())));
        }
        self.pos += 1;
        Ok(Expr::Cmp { field, op, value })
    }

    fn set(&mut self) -> Result<SetRef, RuleError> {
        if self.keyword("likes") {
            return Ok(SetRef::Likes);
        }
        if self.keyword("dislikes") {
            return Ok(SetRef::Dislikes);
        }
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(SetRef::List(vec![s]))
            }
            Some(Tok::LBracket) => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    match self.peek().cloned() {
                        Some(Tok::Str(s)) => items.push(s),
                        Some(Tok::Ident(s)) if !is_keyword(&s) => items.push(s),
                        _ => return Err(self.err(format!("expected a word or \"text\" in the list, found {}", self.describe()))),
                    }
                    self.pos += 1;
                    match self.peek() {
                        Some(Tok::Comma) => self.pos += 1,
                        Some(Tok::RBracket) => {
                            self.pos += 1;
                            return Ok(SetRef::List(items));
                        }
                        _ => return Err(self.err(format!("expected `,` or `]`, found {}", self.describe()))),
                    }
                }
            }
            _ => Err(self.err(format!(
                "expected likes, dislikes, \"text\" or [list], found {}",
                self.describe()
            ))),
        }
    }
}

const KEYWORDS: &[&str] =
    &["accept", "hold", "reject", "default", "when", "and", "or", "not", "in", "likes", "dislikes"];

fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

fn flatten_and(items: Vec<Expr>) -> Expr {
    let mut out = Vec::new();
    for e in items {
        match e {
            Expr::And(inner) => out.extend(inner),
            e => out.push(e),
        }
    }
    if out.len() == 1 {
        out.pop().expect("one item")
    } else {
        Expr::And(out)
    }
}

fn flatten_or(items: Vec<Expr>) -> Expr {
    let mut out = Vec::new();
    for e in items {
        match e {
            Expr::Or(inner) => out.extend(inner),
            e => out.push(e),
        }
    }
    if out.len() == 1 {
        out.pop().expect("one item")
    } else {
        Expr::Or(out)
    }
}

/// Parse one line; `Ok(None)` for a blank or comment-only line.
pub fn parse_rule_line(line: &str, line_no: usize) -> Result<Option<Rule>, RuleError> {
    let (toks, comment) = lex(line, line_no)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let end_col = line.chars().count() + 1;
    let mut p = Parser { toks: &toks, pos: 0, line: line_no, end_col, depth: 0 };
    let mut rule = p.rule()?;
    rule.comment = comment;
    Ok(Some(rule))
}

/// Parse a rule file; stops at the first error.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RuleError> {
    let (rules, mut errors) = parse_rules_all(text);
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors.remove(0))
    }
}

/// Parse every line, collecting every error (a linter wants them all).
pub fn parse_rules_all(text: &str) -> (Vec<Rule>, Vec<RuleError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_rule_line(line, i + 1) {
            Ok(Some(r)) => rules.push(r),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    (rules, errors)
}

/// Warnings about rules that parse but can never match.
pub fn lint(rules: &[Rule]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    if let Some(i) = rules.iter().position(|r| r.cond.is_none()) {
        for (j, _) in rules.iter().enumerate().skip(i + 1) {
            out.push((j, format!("rule {} is never reached: rule {} (default) matches everything", j + 1, i + 1)));
        }
    }
    out
}

// ---------------------------------------------------------------- printer

fn print_text(s: &str) -> String {
    let plain = !s.is_empty()
        && !is_keyword(s)
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'))
        && Field::from_name(s).is_none();
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn print_expr(e: &Expr, out: &mut String) {
    match e {
        Expr::Or(items) => {
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" or ");
                }
                print_expr(it, out);
            }
        }
        Expr::And(items) => {
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" and ");
                }
                if matches!(it, Expr::Or(_)) {
                    out.push('(');
                    print_expr(it, out);
                    out.push(')');
                } else {
                    print_expr(it, out);
                }
            }
        }
        Expr::Not(inner) => {
            out.push_str("not ");
            if matches!(**inner, Expr::Or(_) | Expr::And(_)) {
                out.push('(');
                print_expr(inner, out);
                out.push(')');
            } else {
                print_expr(inner, out);
            }
        }
        Expr::Cmp { field, op, value } => {
            out.push_str(field.name());
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            match value {
                Value::Num(n) => out.push_str(&format!("{n}")),
                Value::Text(s) => out.push_str(&print_text(s)),
            }
        }
        Expr::In { field, set, negated } => {
            out.push_str(field.name());
            out.push_str(if *negated { " not in " } else { " in " });
            match set {
                SetRef::Likes => out.push_str("likes"),
                SetRef::Dislikes => out.push_str("dislikes"),
                SetRef::List(items) => {
                    out.push('[');
                    let parts: Vec<String> = items.iter().map(|s| print_text(s)).collect();
                    out.push_str(&parts.join(", "));
                    out.push(']');
                }
            }
        }
    }
}

pub fn print_rule(r: &Rule) -> String {
    let mut out = String::new();
    if r.cond.is_none() {
        out.push_str("default ");
    }
    match r.action {
        Action::Accept { weight } => out.push_str(&format!("accept {weight}")),
        Action::Hold { steps } => out.push_str(&format!("hold {steps}")),
        Action::Reject => out.push_str("reject"),
    }
    if let Some(c) = &r.cond {
        out.push_str(" when ");
        print_expr(c, &mut out);
    }
    if let Some(c) = &r.comment {
        out.push_str("  # ");
        out.push_str(c);
    }
    out
}

pub fn print_rules(rules: &[Rule]) -> String {
    let mut s = String::new();
    for r in rules {
        s.push_str(&print_rule(r));
        s.push('\n');
    }
    s
}

// ---------------------------------------------------------------- evaluation

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.cond.as_ref().is_none_or(|c| eval_expr(c, input)))
        .map(|(i, r)| (i, r.action))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(text: &str) -> RuleError {
        parse_rules(text).unwrap_err()
    }

    #[test]
    fn parses_the_design_example() {
        let text = "accept 0.8 when relevance >= 0.35 and topic in likes     # because: matches what I already like\n\
                    reject     when topic in dislikes\n\
                    hold 2     when relevance >= 0.2 and support < 2          # wait for corroboration\n\
                    reject     when router.credit < -0.5\n\
                    default reject\n";
        let rules = parse_rules(text).unwrap();
        assert_eq!(rules.len(), 5);
        assert_eq!(rules[0].action, Action::Accept { weight: 0.8 });
        assert_eq!(rules[2].action, Action::Hold { steps: 2 });
        assert_eq!(rules[0].comment.as_deref(), Some("because: matches what I already like"));
        assert!(rules[4].cond.is_none());
        let printed = print_rules(&rules);
        assert!(printed.starts_with("accept 0.8 when relevance >= 0.35 and topic in likes  # because"));
        assert_eq!(parse_rules(&printed).unwrap(), rules);
    }

    #[test]
    fn error_classes_carry_their_span() {
        let e = err_of("accept 0.8 when relevance >= 0.35\nreject when relevance >>= 0.2\n");
        assert_eq!((e.line, e.col), (2, 24), "{e}");
        assert!(e.message.contains("expected a value"), "{e}");

        let e = err_of("acept when relevance > 0.1");
        assert_eq!((e.line, e.col), (1, 1));
        assert!(e.message.contains("expected accept"));

        let e = err_of("reject when relevanse > 0.1");
        assert_eq!((e.line, e.col), (1, 13));
        assert!(e.message.contains("unknown field `relevanse`"));

        let e = err_of("reject when topic > 3");
        assert_eq!(e.col, 21, "{e}");

        let e = err_of("reject when topic < jazz");
        assert_eq!(e.col, 19, "{e}");
        assert!(e.message.contains("use == or !="));

        let e = err_of("accept 1.5 when support > 1");
        assert_eq!(e.col, 8);

        let e = err_of("hold when support > 1");
        assert_eq!(e.col, 6);

        let e = err_of("reject relevance > 1");
        assert!(e.message.contains("expected `when`"), "{e}");

        let e = err_of("reject when (support > 1");
        assert_eq!(e.col, 25, "{e}");
        assert!(e.message.contains("expected `)`"));

        let e = err_of("reject when topic in \"jazz");
        assert_eq!(e.col, 22);
        assert!(e.message.contains("unterminated"));

        let e = err_of("reject when support > 1 $");
        assert_eq!(e.col, 25);

        let e = err_of("reject when support in likes");
        assert_eq!(e.col, 21, "{e}");

        let e = err_of("default reject when support > 1");
        assert_eq!(e.col, 16, "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let line = format!("accept when {}relevance > 0.1{}", "(".repeat(5000), ")".repeat(5000));
        let e = err_of(&line);
        assert!(e.message.contains("nested deeper"), "{e}");
        let nots = format!("reject when {}support > 1", "not ".repeat(5000));
        assert!(err_of(&nots).message.contains("nested deeper"));
    }

    #[test]
    fn control_characters_in_strings_are_refused_and_shown_escaped() {
        let e = err_of("reject when topic in \"\u{1b}]0;x\u{7}\"");
        assert!(e.message.contains("control character"), "{e}");
        assert!(!e.to_string().contains('\u{1b}'));
    }

    #[test]
    fn evaluation_is_first_match() {
        let rules = parse_rules(
            "reject when topic in dislikes\naccept 0.5 when relevance >= 0.3 and polarity == up\nhold 2 when support < 1\ndefault reject",
        )
        .unwrap();
        let mut attrs = BTreeMap::new();
        attrs.insert("Metal".to_string(), -0.5);
        attrs.insert("Jazz".to_string(), 0.5);
        let mut input = FilterInput {
            relevance: 0.4,
            topic: "Jazz",
            polarity: Polarity::Up,
            strength: 0.1,
            source_kind: "user",
            source: "u1",
            router: "R1",
            router_credit: 0.0,
            support: 0.0,
            age: 0.0,
            receiver_attrs: &attrs,
            like_threshold: 0.1,
        };
        assert_eq!(evaluate(&rules, &input), Some((1, Action::Accept { weight: 0.5 })));
        input.topic = "Metal";
        assert_eq!(evaluate(&rules, &input), Some((0, Action::Reject)));
        input.topic = "Jazz";
        input.relevance = 0.1;
        assert_eq!(evaluate(&rules, &input), Some((2, Action::Hold { steps: 2 })));
        input.support = 2.0;
        assert_eq!(evaluate(&rules, &input), Some((3, Action::Reject)));
    }

    #[test]
    fn lint_flags_unreachable_rules() {
        let rules = parse_rules("default reject\naccept when support > 1").unwrap();
        assert_eq!(lint(&rules).len(), 1);
    }

    mod roundtrip {
        use super::super::*;
        use proptest::prelude::*;

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                "[A-Za-z][A-Za-z0-9_]{0,8}".prop_map(|s| s),
                "[ -!#-\\[\\]-~]{0,10}".prop_map(|s| s),
                Just("and".to_string()),
                Just("Rock & Roll \"live\" \\o/".to_string()),
            ]
        }

        fn leaf() -> impl Strategy<Value = Expr> {
            let num_field = prop_oneof![
                Just(Field::Relevance),
                Just(Field::Strength),
                Just(Field::RouterCredit),
                Just(Field::Support),
                Just(Field::Age)
            ];
            let text_field = prop_oneof![
                Just(Field::Topic),
                Just(Field::Polarity),
                Just(Field::SourceKind),
                Just(Field::Source),
                Just(Field::Router)
            ];
            let num_op = prop_oneof![
                Just(CmpOp::Eq),
                Just(CmpOp::Ne),
                Just(CmpOp::Lt),
                Just(CmpOp::Le),
                Just(CmpOp::Gt),
                Just(CmpOp::Ge)
            ];
            prop_oneof![
                (num_field, num_op, -1000.0f64..1000.0)
                    .prop_map(|(field, op, n)| Expr::Cmp { field, op, value: Value::Num(n) }),
                (text_field.clone(), prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)], text())
                    .prop_map(|(field, op, s)| Expr::Cmp { field, op, value: Value::Text(s) }),
                (
                    text_field,
                    prop_oneof![
                        Just(SetRef::Likes),
                        Just(SetRef::Dislikes),
                        prop::collection::vec(text(), 1..4).prop_map(SetRef::List)
                    ],
                    any::<bool>()
                )
                    .prop_map(|(field, set, negated)| Expr::In { field, set, negated }),
            ]
        }

        fn expr() -> impl Strategy<Value = Expr> {
            leaf().prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 2..4).prop_map(flatten_and),
                    prop::collection::vec(inner.clone(), 2..4).prop_map(flatten_or),
                    inner.prop_map(|e| Expr::Not(Box::new(e))),
                ]
            })
        }

        fn rule() -> impl Strategy<Value = Rule> {
            let action = prop_oneof![
                (0.0f64..=1.0).prop_map(|weight| Action::Accept { weight }),
                (1u32..50).prop_map(|steps| Action::Hold { steps }),
                Just(Action::Reject),
            ];
            let comment = prop::option::of("[a-z][a-z :=.]{0,20}[a-z]".prop_map(|s| s));
            (action, prop::option::of(expr()), comment)
                .prop_map(|(action, cond, comment)| Rule { action, cond, comment })
        }

        proptest! {
            #[test]
            fn parse_print_parse_is_identity(rules in prop::collection::vec(rule(), 0..6)) {
                let printed = print_rules(&rules);
                let reparsed = parse_rules(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
                prop_assert_eq!(&reparsed, &rules);
                prop_assert_eq!(print_rules(&reparsed), printed);
            }
        }
    }
}
