//! The metrics view: decisions and credit per time step, the model's calls per stage (when a model
//! answered), and the evaluation metrics.

use super::*;
use crate::tui::app::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

pub(super) fn metrics_view(f: &mut Frame, app: &App, area: Rect) {
    let stats = app.stats();
    let model = model_lines(app);
    // The totals wrap rather than lose their end, and take the rows they need (up to a third of
    // the view); the charts share the rest.
    let totals: Vec<Line> = totals_lines(app).into_iter().flat_map(|l| wrap_line(l, area.width.saturating_sub(2) as usize, 3)).collect();
    let totals_rows = (totals.len() as u16 + 2).min((area.height / 3).max(4));
    let [top, mid, acct, bottom] = if model.is_empty() {
        let [t, m, b] = Layout::vertical([Constraint::Fill(5), Constraint::Fill(3), Constraint::Length(totals_rows)]).areas(area);
        [t, m, Rect::default(), b]
    } else {
        Layout::vertical([Constraint::Min(6), Constraint::Percentage(20), Constraint::Length(model.len() as u16 + 2), Constraint::Length(totals_rows)])
            .areas(area)
    };
    if !model.is_empty() {
        let model: Vec<Line> = model.into_iter().map(|l| fit_line(l, acct.width.saturating_sub(2) as usize)).collect();
        f.render_widget(Paragraph::new(model).block(Block::bordered().title(" Model calls per stage, up to this step ")), acct);
    }
    let series = |g: fn(&crate::tui::app::TickStats) -> f64| -> Vec<(f64, f64)> { stats.iter().map(|t| (t.tick as f64, g(t))).collect() };
    let acc = series(|t| t.accepted as f64);
    let held = series(|t| t.held as f64);
    let rej = series(|t| t.rejected as f64);
    let credit = series(|t| t.credit);
    // The current time step: the charts run up to it, and a marker stands on it.
    let now = app.cursor.world.cursor().tick as f64;
    let max_t = stats.last().map(|t| t.tick as f64).unwrap_or(1.0).max(now).max(1.0);
    let max_y = stats.iter().map(|t| t.accepted.max(t.held).max(t.rejected)).max().unwrap_or(1).max(1) as f64;
    // Without colour (`--mono`) the series differ by their marks, and the legend shows each mark.
    let mark = |m: Marker| if app.mono { m } else { Marker::Braille };
    let name = |glyph: &str, what: &str| if app.mono { format!("{glyph} {what}") } else { what.to_string() };
    let now_name = name("⡇", &format!("now: time step {now:.0}"));
    let series = [
        (name("⠤", "accepted"), Role::Accept, mark(Marker::Braille), &acc),
        (name("•", "held"), Role::Hold, mark(Marker::Dot), &held),
        (name("▄", "rejected"), Role::Reject, mark(Marker::HalfBlock), &rej),
    ];
    // The legend is the frame's bottom line: ratatui's own legend box does not fit the chart that
    // 80×24 leaves.
    let legend = |entries: &[(&str, Role)]| -> Line<'static> {
        let mut spans = vec![Span::raw(" ")];
        for (label, role) in entries {
            spans.push(Span::styled(format!("{label} "), st(app, *role)));
        }
        Line::from(spans)
    };
    let decisions_now = [(now, 0.0), (now, max_y)];
    let mut ds: Vec<Dataset> = series
        .iter()
        .map(|(n, role, m, data)| Dataset::default().name(n.clone()).marker(*m).graph_type(GraphType::Line).style(st(app, *role)).data(data))
        .collect();
    ds.push(Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(st(app, Role::Dim)).data(&decisions_now));
    let mut entries: Vec<(&str, Role)> = series.iter().map(|(n, role, _, _)| (n.as_str(), *role)).collect();
    entries.push((now_name.as_str(), Role::Dim));
    let chart = Chart::new(ds)
        .block(Block::bordered().title(" Filter decisions per time step ").title_bottom(legend(&entries)))
        .legend_position(None)
        .x_axis(Axis::default().title("time step").bounds([0.0, max_t]).labels(vec![Span::raw("0"), Span::raw(format!("{max_t:.0}"))]))
        .y_axis(Axis::default().bounds([0.0, max_y]).labels(vec![Span::raw("0"), Span::raw(format!("{max_y:.0}"))]));
    f.render_widget(chart, top);
    let (lo, hi) = credit.iter().fold((0.0f64, 0.0f64), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
    let hi = if hi - lo < 1e-9 { lo + 1.0 } else { hi };
    let credit_now = [(now, lo), (now, hi)];
    let credit_name = name("⠤", "credit");
    let ds = vec![
        Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(st(app, Role::Accent)).data(&credit),
        Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(st(app, Role::Dim)).data(&credit_now),
    ];
    let chart = Chart::new(ds)
        .block(Block::bordered().title(" Credit assigned per time step ").title_bottom(legend(&[(&credit_name, Role::Accent), (&now_name, Role::Dim)])))
        .legend_position(None)
        .x_axis(Axis::default().bounds([0.0, max_t]))
        .y_axis(Axis::default().bounds([lo, hi]).labels(vec![Span::raw(format!("{lo:.2}")), Span::raw(format!("{hi:.2}"))]));
    f.render_widget(chart, mid);
    let shown = bottom.height.saturating_sub(2) as usize;
    let mut totals: Vec<Line> = totals.into_iter().take(shown + 1).collect();
    if totals.len() > shown {
        // More than a third of the view: the last row says it goes on.
        totals.truncate(shown);
        if let Some(last) = totals.pop() {
            let width = bottom.width.saturating_sub(2) as usize;
            let mut spans = last.spans;
            spans.push(Span::raw(" ".repeat(width)));
            totals.push(fit_line(Line::from(spans), width));
        }
    }
    f.render_widget(Paragraph::new(totals).block(Block::bordered().title(" Totals ")), bottom);
}

/// What the session has counted up to the current step, and its last evaluation metrics.
fn totals_lines(app: &App) -> Vec<Line<'static>> {
    let c = &app.cursor.world.counters();
    use crate::util::text::counted;
    let mut lines = vec![Line::from(format!(
        " so far: {} · {} sent · {} accepted · {} held · {} rejected · {} · {}",
        counted(c.interactions, "interaction", "interactions"),
        counted(c.messages_sent, "message", "messages"),
        c.accepted,
        c.held,
        c.rejected,
        counted(c.rule_edits, "rule edit", "rule edits"),
        counted(c.router_edits, "router edit", "router edits")
    ))];
    if c.model_calls > 0 || c.tokens_in > 0 {
        lines.push(Line::from(format!(" model: {} calls · {} tokens in · {} out · {} failures", c.model_calls, c.tokens_in, c.tokens_out, c.model_failures)));
    }
    match app.cursor.world.metrics().last() {
        Some((step, split, values)) => lines.push(Line::from(format!(
            " evaluation at step {step} ({}): {}",
            cut(split, 20),
            values.iter().map(|(k, v)| format!("{} {v:.4}", cut(k, 40))).collect::<Vec<_>>().join(" · ")
        ))),
        None => lines.push(Line::from(Span::styled(" no evaluation metrics in this session (recnet eval records them)", st(app, Role::Dim)))),
    }
    lines
}

/// The model's accounting as `recnet run` prints it: a summary, the per-stage table and the notes
/// (nothing when no model answered). Stage names and notes come from the session: sanitised.
fn model_lines(app: &App) -> Vec<Line<'static>> {
    let a = app.accounting();
    if a.stages.is_empty() && a.notes.is_empty() {
        return Vec::new();
    }
    let t = a.total();
    let fell_back: u64 = t.fallbacks.values().sum();
    let mut lines = vec![Line::from(format!(
        " {} replies · {} valid · {} fell back · {} ran to max_tokens · {} from the cache · {} tokens in · {} out",
        t.calls,
        t.valid(),
        fell_back,
        a.cut_at_limit,
        t.cached,
        t.tokens_in,
        t.tokens_out
    ))];
    let mut table = a.table();
    // Six stages exist; a session naming more (hand-edited, hostile) does not push out the charts.
    const ROWS: usize = 8;
    if table.len() > ROWS + 1 {
        let all = table.pop().unwrap_or_default();
        let hidden = table.len() - ROWS;
        table.truncate(ROWS);
        table.push(format!("… {hidden} more stages"));
        table.push(all);
    }
    let last = table.len().saturating_sub(1);
    for (i, row) in table.into_iter().enumerate() {
        let row = format!(" {}", crate::util::text::sanitize(&row, 0));
        lines.push(match i {
            0 => Line::from(Span::styled(row, st(app, Role::Dim))),
            i if i == last => Line::from(Span::styled(row, st(app, Role::Accent))),
            _ => Line::from(row),
        });
    }
    // The last notes, newest last: the budget running out, a response_format fallback.
    for note in a.notes.iter().rev().take(2).rev() {
        lines.push(Line::from(Span::styled(format!(" note: {}", cut(note, 160)), st(app, Role::Dim))));
    }
    lines
}
