//! The event log view, filtered by the log query, with the open event's details.

use super::*;
use crate::tui::app::App;
use crate::world::event::EventBody;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

pub(super) fn events_view(f: &mut Frame, app: &App, area: Rect) {
    let keys = |a| app.keymap.key_for(a);
    use crate::tui::keymap::Action as A;
    // The rows this frame shows: the border and the column header take three lines.
    let h = area.height.saturating_sub(3) as usize;
    // The rows were prepared around the cursor (`App::prepare_log`): drawing reads no events.
    let prepared = &app.log_rows;
    let evs: &[crate::world::event::Event] = if app.log_filter.is_empty() {
        let len = app.len();
        let first = app.log_cursor.saturating_sub(h as u64 / 2).min(len.saturating_sub(h as u64));
        let skip = prepared.rows.iter().take_while(|e| e.step < first).count();
        &prepared.rows[skip..(skip + h).min(prepared.rows.len())]
    } else {
        // Matching rows only: half a screen before the cursor, the rest after.
        let from = prepared.upto_cursor.saturating_sub(h / 2);
        &prepared.rows[from..(from + h).min(prepared.rows.len())]
    };
    // First in the title, so a narrow terminal still says where in the log it is and that the
    // text is shifted.
    let shown = shown_label(app, evs);
    let sideways = if app.log_hscroll > 0 { format!(" · text from column {}", app.log_hscroll + 1) } else { String::new() };
    let title = if app.log_filter.is_empty() {
        format!(
            " Event log{shown}{sideways} (j/k moves · Enter opens · {} goes there · {}/{} sideways · / filters) ",
            keys(A::LogGoto),
            keys(A::ScrollLeft),
            keys(A::ScrollRight)
        )
    } else {
        format!(
            " Event log{shown}{sideways} filtered by “{}” (/ then Enter on empty clears · Enter opens · {} goes there) ",
            cut(&app.log_filter, 30),
            keys(A::LogGoto)
        )
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 2 {
        return;
    }
    // A header row names the columns; the rows scroll beneath it.
    let [head, inner] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(
            format!("  {:>6} {:<5} {:<22}{}", "step", "time", "kind", "what happened"),
            st(app, Role::Dim).add_modifier(ratatui::style::Modifier::UNDERLINED),
        ))),
        head,
    );
    app.scroll.log.frame(0, inner.height as usize);
    let lines: Vec<Line> = evs
        .iter()
        .map(|e| {
            let here = e.step + 1 == app.cursor.pos;
            let style = if e.step == app.log_cursor { st(app, Role::Selected) } else { Style::new() };
            let kind_style = match &e.body {
                EventBody::FilterDecision { decision, .. } => st(app, decision_role(*decision)),
                EventBody::RuleEdited { .. } | EventBody::RouterStrategyEdited { .. } => st(app, Role::Changed),
                _ => st(app, Role::Dim),
            };
            // ▸ marks the cursor (visible without colour), ▶ the step the inspector shows.
            let cursor = if e.step == app.log_cursor { "▸" } else { " " };
            let text = crate::util::text::skip_cells(&cut(&crate::analysis::narrate::narrate(e), 0), app.log_hscroll);
            let row = Line::from(vec![
                Span::styled(format!("{cursor}{}{:>6} ", if here { "▶" } else { " " }, e.step), style),
                Span::styled(format!("t{:<4} {:<22}", e.tick, e.body.kind()), kind_style),
                Span::styled(text, style),
            ]);
            // A narration longer than the pane ends in `…` (the rest is a sideways scroll away).
            fit_line(row, inner.width as usize)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// " · steps a–b of N" (by step number, as the footer counts) or, filtered, " · matches a–b of
/// N" ("N+" while the log is still being searched): empty when every row fits.
fn shown_label(app: &App, evs: &[crate::world::event::Event]) -> String {
    let (Some(first), Some(last)) = (evs.first(), evs.last()) else { return String::new() };
    if app.log_filter.is_empty() {
        if evs.len() as u64 >= app.len() {
            return String::new();
        }
        return format!(" · steps {}–{} of {}", first.step, last.step, app.len());
    }
    match app.log_match_rank(first.step) {
        Some((rank, total, complete)) if evs.len() < total || !complete => {
            format!(" · matches {}–{} of {}{}", rank, rank + evs.len() - 1, total, if complete { "" } else { "+" })
        }
        _ => String::new(),
    }
}
