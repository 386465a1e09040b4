//! Drawing: pure functions of the app state. Every text from data or a model goes through
//! `text::sanitize` before it reaches the terminal.

mod diff;
mod events;
mod inspect;
mod metrics;

use diff::diff_view;
use events::events_view;
use inspect::inspect;
use metrics::metrics_view;
use super::app::{App, InputKind, Popup, View};
use crate::world::event::{Decision, EventBody};
use crate::util::text::sanitize;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

#[derive(Clone, Copy)]
enum Role {
    Accent,
    Accept,
    Hold,
    Reject,
    Flight,
    Dim,
    Selected,
    Changed,
}

fn st(app: &App, role: Role) -> Style {
    if app.mono {
        return match role {
            Role::Selected => Style::new().add_modifier(Modifier::REVERSED),
            Role::Accent | Role::Changed => Style::new().add_modifier(Modifier::BOLD),
            Role::Dim => Style::new().add_modifier(Modifier::DIM),
            _ => Style::new(),
        };
    }
    // Accents only; the terminal's own foreground and background stay, so light and dark
    // themes both read.
    match role {
        Role::Accent => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        Role::Accept => Style::new().fg(Color::Green),
        Role::Hold => Style::new().fg(Color::Yellow),
        Role::Reject => Style::new().fg(Color::Red),
        Role::Flight => Style::new().fg(Color::Blue),
        Role::Dim => Style::new().add_modifier(Modifier::DIM),
        Role::Selected => Style::new().add_modifier(Modifier::REVERSED),
        Role::Changed => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
    }
}

fn decision_role(d: Decision) -> Role {
    match d {
        Decision::Accept => Role::Accept,
        Decision::Hold => Role::Hold,
        Decision::Reject => Role::Reject,
    }
}

fn s(t: &str, max: usize) -> String {
    sanitize(t, max)
}

pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    let [top, body, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(5), Constraint::Length(5)]).areas(area);
    title_bar(f, app, top);
    match app.view {
        View::Inspect => inspect(f, app, body),
        View::Events => events_view(f, app, body),
        View::Metrics => metrics_view(f, app, body),
        View::Diff => diff_view(f, app, body),
    }
    footer(f, app, bottom);
    popup(f, app, area);
}

fn title_bar(f: &mut Frame, app: &App, area: Rect) {
    let tabs = [(View::Inspect, "1 inspect"), (View::Events, "2 events"), (View::Metrics, "3 metrics"), (View::Diff, "4 diff")];
    let mut spans = vec![Span::styled(format!(" recnet · {} ", s(&app.title, 40)), st(app, Role::Accent))];
    for (v, name) in tabs {
        let style = if v == app.view { st(app, Role::Selected) } else { st(app, Role::Dim) };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!(" {name} "), style));
    }
    if app.branches.len() > 1 || app.current > 0 {
        spans.push(Span::styled(format!("  {}", s(&app.branch().name, 50)), st(app, Role::Changed)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn footer(f: &mut Frame, app: &App, area: Rect) {
    let [narr, time, scrub, status] =
        Layout::vertical([Constraint::Length(2), Constraint::Length(1), Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let (text, kind) = match app.current_event() {
        Some(e) => (crate::analysis::narrate::narrate(&e), e.body.kind()),
        None => ("Nothing has happened yet.".to_string(), ""),
    };
    f.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(format!("{kind}: "), st(app, Role::Accent)), Span::raw(s(&text, 600))]))
            .wrap(Wrap { trim: true }),
        narr,
    );
    let stage = app.current_event().map(|e| e.body.stage()).unwrap_or(crate::world::event::Stage::Setup);
    let rounds = app.branch().header.as_ref().map(|h| h.rounds.to_string()).unwrap_or_else(|| "?".into());
    let mode = if app.running {
        format!("▶ running {}/s", app.speed())
    } else if app.waiting() || app.pending_forward > 0 {
        format!("{} engine working", ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"][app.spinner % 10])
    } else {
        "⏸ paused".into()
    };
    let total = if app.live_done() { format!("{}", app.len()) } else { format!("{}+", app.len()) };
    let line = format!(
        " round {}/{rounds} · time step {} · {} / {} · step {} of {total} · {mode} · {} breakpoint(s) · follow {}",
        app.world.cursor().round + 1,
        app.world.cursor().tick,
        stage.phase(),
        stage.name(),
        app.pos.saturating_sub(1),
        app.breakpoints.len(),
        if app.follow { "on" } else { "off" }
    );
    f.render_widget(Paragraph::new(line), time);
    // Scrubber: position in the log, bookmarks as ▾.
    let w = scrub.width.saturating_sub(2).max(1) as u64;
    let len = app.len().max(1);
    let mut bar: Vec<char> = (0..w).map(|_| '─').collect();
    for b in &app.bookmarks {
        let i = ((*b * w) / len).min(w - 1) as usize;
        bar[i] = '▾';
    }
    let at = ((app.pos * w) / len).min(w - 1) as usize;
    bar[at] = '●';
    f.render_widget(Paragraph::new(format!(" {}", bar.iter().collect::<String>())).style(st(app, Role::Dim)), scrub);
    f.render_widget(Paragraph::new(format!(" {}", s(&app.status, 300))).style(st(app, Role::Accent)), status);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn popup(f: &mut Frame, app: &App, area: Rect) {
    match &app.popup {
        Popup::None => {}
        Popup::Help => {
            let rows = app.keymap.help_rows();
            let cell = |(k, d): &(String, &str), w: usize| -> Vec<Span<'static>> {
                vec![Span::styled(format!(" {k:<12}"), st(app, Role::Accent)), Span::raw(format!("{:<w$}", s(d, w), w = w))]
            };
            // Two columns when one would not fit the terminal.
            let two = rows.len() + 8 > area.height as usize && area.width >= 100;
            let mut lines: Vec<Line> = if two {
                let half = rows.len().div_ceil(2);
                (0..half)
                    .map(|i| {
                        let mut spans = cell(&rows[i], 34);
                        if let Some(r) = rows.get(i + half) {
                            spans.extend(cell(r, 34));
                        }
                        Line::from(spans)
                    })
                    .collect()
            } else {
                rows.iter().map(|r| Line::from(cell(r, 60))).collect()
            };
            lines.push(Line::from(""));
            lines.push(Line::from(" breakpoints: kind == filter_decision and agent == u7 and decision == reject"));
            lines.push(Line::from("              router == R2 and target.kind == item"));
            lines.push(Line::from(" graph: green accepted · yellow held · red rejected · blue waiting in a buffer"));
            let h = (lines.len() as u16 + 2).min(area.height);
            let r = centered(area, if two { 100 } else { 78 }, h);
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Help — keys (Esc closes) ")), r);
        }
        Popup::Event(step) => {
            let r = centered(area, area.width.saturating_sub(8), area.height.saturating_sub(4));
            f.render_widget(Clear, r);
            let mut lines = Vec::new();
            if let Some(e) = app.event(*step) {
                lines.push(Line::from(Span::styled(s(&crate::analysis::narrate::narrate(&e), 500), st(app, Role::Accent))));
                if let EventBody::ReasonExchange { prompt, reply, tokens_in, tokens_out, latency_ms, finish_reason, .. } = &e.body {
                    let finish = if finish_reason.is_empty() { String::new() } else { format!(" · finish {}", s(finish_reason, 40)) };
                    lines.push(Line::from(format!("tokens {tokens_in} in / {tokens_out} out · {latency_ms} ms{finish}")));
                    lines.push(Line::from(Span::styled("prompt:", st(app, Role::Dim))));
                    lines.extend(prompt.lines().map(|l| Line::from(s(l, 300))));
                    lines.push(Line::from(Span::styled("reply:", st(app, Role::Dim))));
                    lines.extend(reply.lines().map(|l| Line::from(s(l, 300))));
                } else {
                    let json = serde_json::to_string_pretty(&e).unwrap_or_default();
                    lines.extend(json.lines().map(|l| Line::from(s(l, 300))));
                }
            }
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(format!(" Event {step} (Esc closes) "))),
                r,
            );
        }
        Popup::Input { kind, text, error } => {
            let r = centered(area, 90, 5);
            f.render_widget(Clear, r);
            let mut lines = vec![Line::from(format!("> {}█", s(text, 300)))];
            if let Some(e) = error {
                lines.push(Line::from(Span::styled(s(e, 200), st(app, Role::Reject))));
            }
            let title = match kind {
                InputKind::Search => " / search ",
                InputKind::Command => " : command ",
                InputKind::Breakpoint => " breakpoint ",
            };
            lines.push(Line::from(Span::styled(kind.title(), st(app, Role::Dim))));
            f.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), r);
        }
        Popup::Rules { agent, editor, error } => {
            let r = centered(area, 96, 16);
            f.render_widget(Clear, r);
            let [ed, msg] = Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(r);
            let block = Block::bordered().title(format!(" Rules of {} — Ctrl+S applies (forks a branch here), Esc cancels ", s(agent, 20)));
            let inner = block.inner(ed);
            f.render_widget(block, ed);
            f.render_widget(&**editor, inner);
            let m = match error {
                Some(e) => Line::from(Span::styled(format!(" {} — nothing changed", s(e, 200)), st(app, Role::Reject))),
                None => Line::from(Span::styled(" one rule a line: accept W | hold N | reject  when …  ·  default reject", st(app, Role::Dim))),
            };
            f.render_widget(Paragraph::new(m), msg);
        }
    }
}
