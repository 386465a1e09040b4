//! Making text from data or a model safe to draw or print.

/// A number as an error shows it: huge ones in scientific notation (a crafted 1e308 is not 309
/// digits of error).
pub fn number(x: f64) -> String {
    if x.abs() < 1e6 {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `n` with its noun in the number it takes: "1 interaction", "3 interactions".
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Escape control characters, escape sequences, bidi overrides and zero-width characters so they
/// are visible instead of acting on the terminal, and cut to `max_chars` (0 = no limit) with `…`.
pub fn sanitize(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.max(16) * 4));
    let mut chars = s.chars().enumerate().peekable();
    while let Some((count, c)) = chars.next() {
        if max_chars > 0 && count >= max_chars {
            out.push('…');
            break;
        }
        match c {
            // A joiner inside an emoji sequence (👨‍👩‍👧) hides nothing: the pictures are shown
            // side by side rather than as an escape.
            '\u{200d}' if out.chars().last().is_some_and(pictographic) && chars.peek().is_some_and(|(_, n)| pictographic(*n)) => {}
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            '\u{1b}' => out.push_str("\\e"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            // bidi controls, zero-width characters and the BOM change how nearby text reads
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Emoji and pictographs, and the variation selector that asks for their picture form.
fn pictographic(c: char) -> bool {
    matches!(c, '\u{1f000}'..='\u{1faff}' | '\u{2600}'..='\u{27bf}' | '\u{fe0f}')
}

/// The terminal cells `s` takes (a CJK character takes two).
pub fn cells(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` sanitised, then cut to at most `width` terminal cells (with `…`) — by cells, not
/// characters, so a CJK title does not run past its column.
pub fn fit(s: &str, width: usize) -> String {
    let clean = sanitize(s, 0);
    if cells(&clean) <= width {
        return clean;
    }
    if width == 0 {
        return String::new();
    }
    // Room is kept for the ellipsis.
    let mut out = prefix_cells(&clean, width - 1).to_string();
    out.push('…');
    out
}

/// The longest beginning of `s` that takes at most `width` terminal cells: a wide character
/// that would straddle the edge is left out, not split. `s` is not sanitised here (callers cut
/// text that already is).
pub fn prefix_cells(s: &str, width: usize) -> &str {
    if cells(s) <= width {
        return s;
    }
    // Measured as `cells` (and the terminal) measure a whole string, where an emoji sequence or a
    // character with its picture selector is one picture, not the sum of its characters' widths:
    // the longest fitting prefix, found by bisection over the character boundaries.
    let ends: Vec<usize> = s.char_indices().map(|(at, _)| at).collect();
    let (mut fits, mut too_wide) = (0, ends.len());
    while too_wide - fits > 1 {
        let mid = (fits + too_wide) / 2;
        if cells(&s[..ends[mid]]) <= width {
            fits = mid;
        } else {
            too_wide = mid;
        }
    }
    &s[..ends[fits]]
}

/// `parts` joined by `sep` within `width` cells: when they do not all fit, each is cut (`fit`)
/// to a share of the room, a short part leaving what it does not need to the others, so every
/// part keeps a readable beginning.
pub fn fit_all(parts: &[String], sep: &str, width: usize) -> String {
    let clean: Vec<String> = parts.iter().map(|p| sanitize(p, 0)).collect();
    let mut room = width.saturating_sub(cells(sep) * parts.len().saturating_sub(1));
    let mut share = vec![0; clean.len()];
    // Shortest first: what a short part leaves over goes to the longer ones.
    let mut order: Vec<usize> = (0..clean.len()).collect();
    order.sort_by_key(|&i| cells(&clean[i]));
    for (k, &i) in order.iter().enumerate() {
        share[i] = cells(&clean[i]).min(room / (clean.len() - k));
        room -= share[i];
    }
    clean.iter().zip(share).map(|(p, w)| fit(p, w)).collect::<Vec<_>>().join(sep)
}

/// `fit`, then padded with spaces to exactly `width` cells: columns of names line up whatever
/// script the names are in.
pub fn pad(s: &str, width: usize) -> String {
    let mut out = fit(s, width);
    let short = width.saturating_sub(cells(&out));
    out.extend(std::iter::repeat_n(' ', short));
    out
}

/// `s` without its first `n` terminal cells (text scrolled sideways). A wide character cut in
/// two leaves a space for its second half, and marks that belonged to a dropped character go
/// with it, so what follows stays in its column.
pub fn skip_cells(s: &str, n: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let (mut used, mut out) = (0, String::new());
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used >= n {
            if !(out.is_empty() && w == 0 && n > 0) {
                out.push(c);
            }
            continue;
        }
        used += w;
        out.extend(std::iter::repeat_n(' ', used.saturating_sub(n)));
    }
    out
}

/// How many single-character insertions, deletions or substitutions turn `a` into `b`
/// (Levenshtein distance, by characters).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // One row of the distance table at a time: `row[j]` is the distance from the part of `a`
    // read so far to the first `j` characters of `b`.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The candidate closest to `word` when it is close enough to be a likely typo (at most 3 edits
/// and at most a third of `word`'s length, rounded up), for a "did you mean" hint; the first of
/// equally close ones. A short or unrelated word gets no guess: a wrong hint misleads.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let length = word.chars().count();
    let limit = length.div_ceil(3).min(3);
    // A distance is at least the difference in length: a candidate too far in length is skipped
    // unmeasured, so a hostile kind of millions of characters costs one count, not a table.
    let (distance, best) =
        candidates.iter().filter(|c| c.chars().count().abs_diff(length) <= limit).map(|c| (edit_distance(word, c), *c)).min_by_key(|(d, _)| *d)?;
    (distance <= limit).then_some(best)
}

/// An error and its sources on one line, `outer: inner: innermost` (what `{:#}` shows for an
/// `anyhow::Error`), for a message that carries another error's whole story.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cut line never takes more cells than its width, measured as the terminal measures it,
    /// also where emoji sequences and presentation selectors make a string narrower or wider than
    /// the sum of its characters.
    #[test]
    fn a_prefix_fits_its_width_as_the_whole_string_is_measured() {
        for s in ["\u{2600}\u{fe0f}\u{2600}\u{fe0f}ab", "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}xyz", "a\u{4e2d}\u{6587}b\u{2600}\u{fe0f}", "plain text"] {
            for width in 0..12 {
                let p = prefix_cells(s, width);
                assert!(cells(p) <= width, "{s:?} at {width}: {p:?} takes {}", cells(p));
                assert!(s.starts_with(p));
                assert!(cells(&fit(s, width)) <= width, "{s:?} fit at {width}");
            }
            assert_eq!(prefix_cells(s, cells(s)), s, "a string that fits is whole");
        }
        // Two sun pictures with their selectors take two cells each, four in all, where the sum
        // of the characters' widths says two: in three cells the second loses its selector.
        assert_eq!(prefix_cells("\u{2600}\u{fe0f}\u{2600}\u{fe0f}", 3), "\u{2600}\u{fe0f}\u{2600}");
    }

    #[test]
    fn a_hostile_kind_of_millions_of_characters_gets_no_hint_and_costs_little() {
        let long = "x".repeat(5_000_000);
        assert_eq!(nearest(&long, &["agent_created", "message_sent"]), None);
        assert_eq!(nearest("mesage_sent", &["agent_created", "message_sent"]), Some("message_sent"));
    }

    /// Parts share the width: each keeps its beginning, a short one is whole, and the line
    /// never runs past the width (wide characters counted as two cells).
    #[test]
    fn parts_share_the_width() {
        let parts = vec!["forking at step 40: re-running 45%…".to_string(), "saving 分支 1 20%…".to_string(), "ab".to_string()];
        assert_eq!(fit_all(&parts, " | ", 200), parts.join(" | "));
        let cut = fit_all(&parts, " | ", 40);
        assert!(cells(&cut) <= 40, "{cut}");
        let pieces: Vec<&str> = cut.split(" | ").collect();
        assert_eq!(pieces.len(), 3);
        assert!(pieces[0].starts_with("forking") && pieces[1].starts_with("saving") && pieces[2] == "ab", "{cut}");
        assert_eq!(fit_all(&["a\u{1b}[2Jb".to_string()], " | ", 20), "a\\e[2Jb", "escapes are made visible");
    }

    #[test]
    fn escapes_are_made_visible() {
        let s = sanitize("a\u{1b}]52;c;SGVsbG8=\u{7}b\u{202e}c\u{200b}d", 0);
        assert!(!s.chars().any(|c| c.is_control() || c == '\u{202e}' || c == '\u{200b}'));
        assert!(s.contains("\\e]52"));
    }

    #[test]
    fn a_joiner_inside_an_emoji_sequence_is_dropped_and_elsewhere_shown() {
        assert_eq!(sanitize("👨\u{200d}👩\u{200d}👧 🏳\u{fe0f}\u{200d}🌈", 0), "👨👩👧 🏳\u{fe0f}🌈");
        // Between letters a joiner could hide a look-alike id: it stays visible.
        assert_eq!(sanitize("u\u{200d}1", 0), "u\\u{200d}1");
        assert_eq!(sanitize("👨\u{200d}", 0), "👨\\u{200d}");
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("abc", 3), "abc");
    }

    #[test]
    fn padding_counts_cells_so_cjk_titles_line_up() {
        let rows = [pad("u1 千と千尋の神隠し", 12), pad("u2 Spirited Away", 12), pad("u3 寄生虫", 12)];
        for r in &rows {
            assert_eq!(cells(r), 12, "{r:?}");
        }
        // Cut by cells with room for the ellipsis: "u1 ", four two-cell characters and "…".
        assert_eq!(rows[0], "u1 千と千尋…");
        assert_eq!(rows[2], "u3 寄生虫   ");
        // A wide character that would straddle the edge is left out, not split.
        assert_eq!(fit("ab寄生", 4), "ab…");
        // What is measured is the sanitised text: an escape is drawn as `\e` and counted so.
        assert_eq!(pad("a\u{1b}b", 6), "a\\eb  ");
    }

    /// Scrolled sideways by cells: a wide character cut in two leaves a space, a combining mark
    /// goes with its letter.
    #[test]
    fn skipping_cells_keeps_columns() {
        assert_eq!(skip_cells("寄生虫 x", 2), "生虫 x");
        assert_eq!(skip_cells("寄生虫 x", 3), " 虫 x");
        assert_eq!(skip_cells("e\u{301}tude", 1), "tude");
        assert_eq!(skip_cells("abc", 0), "abc");
        assert_eq!(skip_cells("abc", 5), "");
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("mesage_sent", "message_sent"), 1);
        assert_eq!(edit_distance("寄生", "寄生虫"), 1, "by characters, not bytes");
    }

    /// A typo gets the kind it most likely meant; a word far from every candidate gets none.
    #[test]
    fn the_nearest_candidate_only_when_close_enough() {
        let kinds = ["message_sent", "message_buffered", "reward", "metrics"];
        assert_eq!(nearest("mesage_sent", &kinds), Some("message_sent"));
        assert_eq!(nearest("Message_Sent", &kinds), Some("message_sent"));
        assert_eq!(nearest("rewards", &kinds), Some("reward"));
        assert_eq!(nearest("no_such_kind", &kinds), None);
        // Three edits are within the absolute limit, but too many for a four-letter word.
        assert_eq!(edit_distance("mets", "metrics"), 3);
        assert_eq!(nearest("mets", &kinds), None);
        assert_eq!(nearest("metrcs", &kinds), Some("metrics"));
        assert_eq!(nearest("xyz", &kinds), None);
        assert_eq!(nearest("anything", &[]), None);
    }

    #[test]
    fn a_prefix_keeps_whole_characters_within_the_width() {
        assert_eq!(prefix_cells("abcdef", 3), "abc");
        assert_eq!(prefix_cells("ab寄生", 3), "ab", "a wide character is not split");
        assert_eq!(prefix_cells("ab寄生", 4), "ab寄");
        assert_eq!(prefix_cells("abc", 10), "abc");
        assert_eq!(prefix_cells("abc", 0), "");
    }

    /// The chain reads as anyhow's `{:#}` did: each source after a colon, innermost last.
    #[test]
    fn a_chain_is_every_source_in_order() {
        let io = std::io::Error::other("disk full");
        let store = crate::store::StoreError::Io { what: "s.jsonl: cannot write".into(), source: io };
        assert_eq!(chain(&store), "s.jsonl: cannot write: disk full");
        assert_eq!(chain(&std::io::Error::other("alone")), "alone");
    }
}
