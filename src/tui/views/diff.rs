//! The diff view: what a branch changed against its parent, or one step against another
//! (the text is prepared by the app; this only scrolls it).

use super::*;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

pub(super) fn diff_view(f: &mut Frame, app: &App, area: Rect) {
    // The outcome (the answer to "did my edit help?") stands out from the details above it.
    let mut in_outcome = false;
    let width = area.width.saturating_sub(2) as usize;
    let mut rows: Vec<Line> = Vec::new();
    for l in &app.diff_lines {
        in_outcome |= l == "outcome:";
        let style = if l == "outcome:" || (in_outcome && l.starts_with("  in short:")) { st(app, Role::Accent) } else { Style::new() };
        // A long line goes on under its own text (a numbered rule under the rule, not its number).
        let lead = l.len() - l.trim_start().len();
        let indent = lead + if l.trim_start().starts_with(|c: char| c.is_ascii_digit()) { 3 } else { 2 };
        rows.extend(wrap_line(Line::from(Span::styled(l.as_str(), style)), width, indent));
    }
    pane_lines(f, app, area, "Diff (↑↓ PgUp PgDn Home End scroll)", rows, &app.scroll.diff, true);
}
