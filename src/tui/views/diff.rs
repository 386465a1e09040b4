//! The diff view: what a branch changed against its parent, or one step against another
//! (the text is prepared by the app; this only scrolls it).

use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::Frame;
use super::*;

pub(super) fn diff_view(f: &mut Frame, app: &App, area: Rect) {
    let rows = app.diff_lines.iter().map(|l| (l.as_str(), Style::new()));
    pane_text(f, app, area, "Diff (↑↓ PgUp PgDn Home End scroll)", rows, &app.scroll.diff, true);
}
