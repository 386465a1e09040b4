//! Making text from data or a model safe to draw or print.

/// Escape control characters, escape sequences, bidi overrides and zero-width characters so they
/// are visible instead of acting on the terminal, and cut to `max_chars` (0 = no limit) with `…`.
pub fn sanitize(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.max(16) * 4));
    for (count, c) in s.chars().enumerate() {
        if max_chars > 0 && count >= max_chars {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            '\u{1b}' => out.push_str("\\e"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            // bidi controls, zero-width characters and the BOM change how nearby text reads
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{feff}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_made_visible() {
        let s = sanitize("a\u{1b}]52;c;SGVsbG8=\u{7}b\u{202e}c\u{200b}d", 0);
        assert!(!s.chars().any(|c| c.is_control() || c == '\u{202e}' || c == '\u{200b}'));
        assert!(s.contains("\\e]52"));
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("abc", 3), "abc");
    }
}
