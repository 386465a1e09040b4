//! The parser: tokens into a `Rule`, with `line:col` errors, and the lint of a whole list.

use super::*;

pub(super) struct Parser<'a> {
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
                _ => Err(self.err(format!("`hold` needs a whole number of steps (1..1000), found {}", self.describe()))),
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
                    return Err(self.err(format!("unknown field `{}` (fields: {})", visible(name), known.join(", "))));
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
            let set = self.set(field)?;
            return Ok(Expr::In { field, set, negated });
        }
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            _ => return Err(self.err(format!("expected a comparison (== != < <= > >=) or `in`, found {}", self.describe()))),
        };
        self.pos += 1;
        let value = match self.peek() {
            Some(Tok::Num(n)) => Value::Num(*n),
            Some(Tok::Str(s)) => Value::Text(s.clone()),
            Some(Tok::Ident(s)) if !is_keyword(s) => Value::Text(s.clone()),
            _ => return Err(self.err(format!("expected a value, found {}", self.describe()))),
        };
        match (&value, field.is_numeric()) {
            (Value::Text(_), true) => return Err(self.err(format!("`{}` is a number; compare it with a number", field.name()))),
            (Value::Num(_), false) => return Err(self.err(format!("`{}` is text; compare it with a word or \"text\"", field.name()))),
            _ => {}
        }
        if !field.is_numeric() && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            self.pos -= 1;
            return Err(self.err(format!("`{}` is text: use == or !=", field.name())));
        }
        if let Value::Text(t) = &value {
            self.check_value(field, t)?;
        }
        self.pos += 1;
        Ok(Expr::Cmp { field, op, value })
    }

    /// A word a closed field can never equal (`polarity == sideways`) is an error at the word,
    /// not a rule that silently never matches.
    fn check_value(&self, field: Field, word: &str) -> Result<(), RuleError> {
        match field.values() {
            Some(allowed) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(word)) => {
                Err(self.err(format!("`{}` is {}, never `{}`", field.name(), allowed.join(" or "), visible(word))))
            }
            _ => Ok(()),
        }
    }

    fn set(&mut self, field: Field) -> Result<SetRef, RuleError> {
        if self.keyword("likes") {
            return Ok(SetRef::Likes);
        }
        if self.keyword("dislikes") {
            return Ok(SetRef::Dislikes);
        }
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.check_value(field, &s)?;
                self.pos += 1;
                Ok(SetRef::List(vec![s]))
            }
            Some(Tok::LBracket) => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    let item = match self.peek().cloned() {
                        Some(Tok::Str(s)) => s,
                        Some(Tok::Ident(s)) if !is_keyword(&s) => s,
                        _ => return Err(self.err(format!("expected a word or \"text\" in the list, found {}", self.describe()))),
                    };
                    self.check_value(field, &item)?;
                    items.push(item);
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
            _ => Err(self.err(format!("expected likes, dislikes, \"text\" or [list], found {}", self.describe()))),
        }
    }
}

pub(super) const KEYWORDS: &[&str] = &["accept", "hold", "reject", "default", "when", "and", "or", "not", "in", "likes", "dislikes"];

pub(super) fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

pub(super) fn flatten_and(items: Vec<Expr>) -> Expr {
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

pub(super) fn flatten_or(items: Vec<Expr>) -> Expr {
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
    if rules.is_empty() {
        // Not an error (a file may be a stub), but every message would fall through.
        out.push((0, "no rules: every message is rejected (no rule matches)".to_string()));
    }
    if let Some(i) = rules.iter().position(|r| r.cond.is_none()) {
        for (j, _) in rules.iter().enumerate().skip(i + 1) {
            out.push((j, format!("rule {} is never reached: rule {} (default) matches everything", j + 1, i + 1)));
        }
    }
    out
}
