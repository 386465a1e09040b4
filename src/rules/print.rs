//! The printer: the canonical text of a rule list (`parse(print(rules)) == rules`).

use super::*;

pub(super) fn print_text(s: &str) -> String {
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

pub(super) fn print_expr(e: &Expr, out: &mut String) {
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
