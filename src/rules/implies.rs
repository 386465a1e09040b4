//! Whether one condition provably implies another, read from the two expressions alone: what a
//! model's "tighten rule N" (match no more than before) or "loosen rule N" (no less) must show
//! before its edit is installed. Sound, not complete: where it cannot tell, the answer is no, and
//! the edit is refused.

use super::{CmpOp, Expr, Value};

/// `a` holds only where `b` holds (every message `a` matches, `b` matches too).
pub fn implies(a: &Expr, b: &Expr) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (_, Expr::And(bs)) => bs.iter().all(|x| implies(a, x)),
        (Expr::Or(xs), _) => xs.iter().all(|x| implies(x, b)),
        (Expr::And(xs), _) if xs.iter().any(|x| implies(x, b)) => true,
        (_, Expr::Or(bs)) if bs.iter().any(|x| implies(a, x)) => true,
        (Expr::Not(x), Expr::Not(y)) => implies(y, x),
        (Expr::Cmp { field: fa, op: oa, value: Value::Num(ca) }, Expr::Cmp { field: fb, op: ob, value: Value::Num(cb) }) if fa == fb => {
            bound_implies(*oa, *ca, *ob, *cb)
        }
        _ => false,
    }
}

/// `x oa ca` implies `x ob cb` for every number x.
fn bound_implies(oa: CmpOp, ca: f64, ob: CmpOp, cb: f64) -> bool {
    use CmpOp::*;
    match (ob, oa) {
        (Ge, Ge | Gt | Eq) => ca >= cb,
        (Gt, Gt) => ca >= cb,
        (Gt, Ge | Eq) => ca > cb,
        (Le, Le | Lt | Eq) => ca <= cb,
        (Lt, Lt) => ca <= cb,
        (Lt, Le | Eq) => ca < cb,
        (Eq, Eq) => ca == cb,
        (Ne, Eq) => ca != cb,
        (Ne, Ne) => ca == cb,
        (Ne, Gt) => ca >= cb,
        (Ne, Lt) => ca <= cb,
        (Ne, Ge) => ca > cb,
        (Ne, Le) => ca < cb,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::implies;

    fn cond(text: &str) -> super::Expr {
        crate::rules::parse_rules(&format!("accept 1 when {text}\ndefault reject\n")).unwrap()[0].cond.clone().unwrap()
    }

    #[test]
    fn a_condition_implies_what_it_narrows() {
        for (a, b) in [
            ("relevance >= 0.35", "relevance >= 0.3"),
            ("relevance > 0.3", "relevance >= 0.3"),
            ("support >= 1 and relevance >= 0.2", "support >= 1"),
            ("age < 2", "age <= 2"),
            ("support >= 1", "support >= 1 or topic in likes"),
            ("not (relevance < 0.5)", "not (relevance < 0.4)"),
            ("evidence >= 1 and relevance >= 0.2", "relevance >= 0.1 and evidence >= 1"),
            ("relevance == 0.5", "relevance != 0.4"),
        ] {
            assert!(implies(&cond(a), &cond(b)), "{a} ⇒ {b}");
        }
    }

    /// What a hostile "tighten" proposed: each matches where the old rule did not.
    #[test]
    fn a_widening_or_an_unrelated_condition_implies_nothing() {
        for (a, b) in [
            ("support >= 1 or relevance >= -999", "support >= 1"),
            ("relevance >= 0", "support >= 1"),
            ("topic == Metal", "support >= 1"),
            ("relevance >= 0.3", "relevance >= 0.35"),
            ("relevance >= 0.3", "relevance > 0.3"),
            ("not (relevance < 0.4)", "not (relevance < 0.5)"),
            ("topic in likes", "topic in dislikes"),
        ] {
            assert!(!implies(&cond(a), &cond(b)), "{a} ⇏ {b}");
        }
    }
}
