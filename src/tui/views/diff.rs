//! The diff view: what a branch changed against its parent, or one step against another
//! (the text is prepared by the app; this only scrolls it).

use super::*;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::Frame;

pub(super) fn diff_view(f: &mut Frame, app: &App, area: Rect) {
    // The outcome (the answer to "did my edit help?") stands out from the details above it.
    let mut in_outcome = false;
    let rows = app.diff_lines.iter().map(move |l| {
        in_outcome |= l == "outcome:";
        let style = if l == "outcome:" || (in_outcome && l.starts_with("  in short:")) { st(app, Role::Accent) } else { Style::new() };
        (l.as_str(), style)
    });
    pane_text(f, app, area, "Diff (↑↓ PgUp PgDn Home End scroll)", rows, &app.scroll.diff, true);
}
