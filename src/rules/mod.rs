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

mod eval;
mod implies;
pub(crate) mod lex;
mod parse;
mod print;

pub use eval::{eval_expr, evaluate, FilterInput, Polarity};
pub use implies::implies;
use lex::{lex, visible, Spanned, Tok};
use parse::is_keyword;
pub use parse::{lint, parse_rule_line, parse_rules, parse_rules_all};
pub use print::{print_rule, print_rules};

use serde::{Deserialize, Serialize};
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
    Evidence,
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
    ("evidence", Field::Evidence, "how many real choices of the community the message carries"),
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
    /// The closed set of words a text field can equal (any other word could never match).
    pub fn values(self) -> Option<&'static [&'static str]> {
        match self {
            Field::Polarity => Some(&["up", "down"]),
            Field::SourceKind => Some(&["user", "item"]),
            _ => None,
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Field::Relevance | Field::Strength | Field::RouterCredit | Field::Support | Field::Age | Field::Evidence)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
        let rules =
            parse_rules("reject when topic in dislikes\naccept 0.5 when relevance >= 0.3 and polarity == up\nhold 2 when support < 1\ndefault reject").unwrap();
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
            evidence: 0.0,
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

    #[test]
    fn an_empty_rule_set_is_a_warning() {
        let rules = parse_rules("# only a comment\n\n").unwrap();
        let w = lint(&rules);
        assert_eq!(w.len(), 1);
        assert!(w[0].1.starts_with("no rules"), "{:?}", w);
    }

    #[test]
    fn a_closed_field_refuses_a_word_it_can_never_equal() {
        let e = err_of("reject when polarity == sideways");
        assert_eq!((e.line, e.col), (1, 25), "{e}");
        assert!(e.message.contains("`polarity` is up or down, never `sideways`"), "{e}");
        let e = err_of("accept when relevance > 0.1\naccept when source.kind == robot");
        assert_eq!((e.line, e.col), (2, 28), "{e}");
        assert!(e.message.contains("user or item"), "{e}");
        let e = err_of("reject when source.kind in [user, robot]");
        assert_eq!(e.col, 35, "{e}");
        let e = err_of("reject when polarity not in \"left\"");
        assert_eq!(e.col, 29, "{e}");
        // Known words in any case still parse.
        assert!(parse_rules("reject when polarity == DOWN and source.kind in [user, item]").is_ok());
    }

    mod roundtrip {
        use super::super::parse::{flatten_and, flatten_or};
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
                Just(Field::Age),
                Just(Field::Evidence)
            ];
            // Polarity and source.kind take only their closed set of words.
            let text_field = prop_oneof![Just(Field::Topic), Just(Field::Source), Just(Field::Router)];
            let closed = prop_oneof![
                (Just(Field::Polarity), prop_oneof![Just("up".to_string()), Just("down".to_string())]),
                (Just(Field::SourceKind), prop_oneof![Just("user".to_string()), Just("item".to_string())])
            ];
            let num_op = prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Lt), Just(CmpOp::Le), Just(CmpOp::Gt), Just(CmpOp::Ge)];
            prop_oneof![
                (num_field, num_op, -1000.0f64..1000.0).prop_map(|(field, op, n)| Expr::Cmp { field, op, value: Value::Num(n) }),
                (text_field.clone(), prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)], text()).prop_map(|(field, op, s)| Expr::Cmp {
                    field,
                    op,
                    value: Value::Text(s)
                }),
                (closed.clone(), prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)]).prop_map(|((field, s), op)| Expr::Cmp { field, op, value: Value::Text(s) }),
                (closed, any::<bool>()).prop_map(|((field, s), negated)| Expr::In { field, set: SetRef::List(vec![s]), negated }),
                (
                    text_field,
                    prop_oneof![Just(SetRef::Likes), Just(SetRef::Dislikes), prop::collection::vec(text(), 1..4).prop_map(SetRef::List)],
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
            (action, prop::option::of(expr()), comment).prop_map(|(action, cond, comment)| Rule { action, cond, comment })
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
