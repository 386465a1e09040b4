//! The lexer: a rule line into spanned tokens and its trailing `# comment`. The breakpoint and
//! query language reads its expressions with the same lexer, in its own dialect.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
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
pub(crate) struct Spanned {
    pub(crate) tok: Tok,
    pub(crate) col: usize,
}

/// Where the two languages read a line differently.
pub(crate) struct Dialect {
    /// `#` starts a comment (rules) or is part of a word (breakpoints: `R1#3`).
    pub(crate) comments: bool,
    /// Words may hold any letter, not only ASCII (breakpoints match titles and ids).
    pub(crate) unicode_words: bool,
}

pub(crate) const RULES: Dialect = Dialect { comments: true, unicode_words: false };

/// Show text from a rule file safely inside an error message.
pub(super) fn visible(s: &str) -> String {
    crate::util::text::sanitize(s, 40)
}

pub(super) fn lex(line: &str, line_no: usize) -> Result<(Vec<Spanned>, Option<String>), RuleError> {
    lex_with(line, line_no, &RULES)
}

pub(crate) fn lex_with(line: &str, line_no: usize, d: &Dialect) -> Result<(Vec<Spanned>, Option<String>), RuleError> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let err = |col: usize, message: String| RuleError { line: line_no, col, message };
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let word_start = |c: char| c.is_ascii_alphabetic() || c == '_' || (d.unicode_words && c.is_alphabetic());
        let word_char =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':') || (d.unicode_words && c.is_alphanumeric()) || (!d.comments && c == '#');
        if c == ' ' || c == '\t' || c == '\r' || (d.unicode_words && c.is_whitespace()) {
            i += 1;
        } else if c == '#' && d.comments {
            let text: String = chars[i + 1..].iter().collect();
            let text = text.trim();
            return Ok((toks, (!text.is_empty()).then(|| text.to_string())));
        } else if word_start(c) {
            let start = i;
            while i < chars.len() && word_char(chars[i]) {
                i += 1;
            }
            toks.push(Spanned { tok: Tok::Ident(chars[start..i].iter().collect()), col });
        } else if c.is_ascii_digit() || ((c == '-' || c == '.') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == '.')) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n: f64 = text.parse().map_err(|_| err(col, format!("bad number {}", visible(&text))))?;
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
                    Some(ch) if ch.is_control() => return Err(err(i + 1, format!("control character {} in string", ch.escape_unicode()))),
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
                    _ => return Err(err(col, format!("unexpected character {}", visible(&c.to_string())))),
                },
            };
            toks.push(Spanned { tok, col });
            i += len;
        }
    }
    Ok((toks, None))
}
