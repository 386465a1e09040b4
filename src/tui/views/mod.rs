//! Drawing: pure functions of the app state. Every text from data or a model goes through
//! `text::sanitize` before it reaches the terminal.

mod diff;
mod events;
mod graph;
mod inspect;
mod metrics;
mod neighbourhood;

use super::app::{App, InputKind, Popup, Scroll, View};
use super::theme::Role;
use crate::util::text::sanitize;
use crate::world::event::{Decision, EventBody};
use diff::diff_view;
use events::events_view;
use inspect::inspect;
use metrics::metrics_view;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

fn st(app: &App, role: Role) -> Style {
    if app.mono {
        return match role {
            Role::Selected => Style::new().add_modifier(Modifier::REVERSED),
            Role::Accent | Role::Changed => Style::new().add_modifier(Modifier::BOLD),
            Role::Dim => Style::new().add_modifier(Modifier::DIM),
            _ => Style::new(),
        };
    }
    app.theme.style(role)
}

fn decision_role(d: Decision) -> Role {
    match d {
        Decision::Accept => Role::Accept,
        Decision::Hold => Role::Hold,
        Decision::Reject => Role::Reject,
    }
}

/// Data or model text made safe to draw (`text::sanitize`) and cut to `width` terminal cells
/// with `…` (0: uncut). Cut by cells, not characters, so that wide (CJK) and combining text
/// takes the room it is given and columns line up.
fn cut(t: &str, width: usize) -> String {
    if width == 0 {
        sanitize(t, 0)
    } else {
        crate::util::text::fit(t, width)
    }
}

/// Below this the panes would be empty boxes; say so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// A bordered pane: "▸" and an accent border when it has the focus, "a–b of N" when it scrolls.
fn pane_block(app: &App, title: &str, focused: bool, sc: &Scroll) -> Block<'static> {
    let mark = if focused { "▸" } else { "" };
    let b = Block::bordered().title(format!("{mark} {title} {}", sc.label()));
    if focused {
        b.border_style(st(app, Role::Accent))
    } else {
        b
    }
}

/// Lines in a bordered pane, scrolled to the pane's offset (lines wider than the pane end in `…`).
fn pane_lines(f: &mut Frame, app: &App, area: Rect, title: &str, lines: Vec<Line<'_>>, sc: &Scroll, focused: bool) {
    let window = area.height.saturating_sub(2) as usize;
    let off = sc.frame(lines.len(), window);
    let block = pane_block(app, title, focused, sc);
    let inner_width = area.width.saturating_sub(2) as usize;
    // Only the lines in the window are fitted (and drawn): a long list costs what shows.
    let shown: Vec<Line> = lines.into_iter().skip(off).take(window).map(|l| fit_line(l, inner_width)).collect();
    f.render_widget(Paragraph::new(shown).block(block), area);
}

/// `line` cut to `width` terminal cells, ending in `…` where it was cut, each span keeping its
/// style. Left to the pane's edge the rest would vanish without a sign that anything is missing.
/// The spans are drawn as they are: their text from data was sanitised when they were made.
fn fit_line(mut line: Line<'_>, width: usize) -> Line<'_> {
    use crate::util::text::{cells, prefix_cells};
    if line.spans.iter().map(|s| cells(&s.content)).sum::<usize>() <= width {
        return line;
    }
    // One cell is kept for the ellipsis.
    let room = width.saturating_sub(1);
    let mut used = 0;
    let mut kept = Vec::new();
    for span in std::mem::take(&mut line.spans) {
        let w = cells(&span.content);
        if used + w <= room {
            used += w;
            kept.push(span);
            continue;
        }
        if width > 0 {
            kept.push(Span::styled(format!("{}…", prefix_cells(&span.content, room - used)), span.style));
        }
        break;
    }
    line.spans = kept;
    line
}

/// `line` broken at spaces into rows of at most `width` terminal cells, each span keeping its
/// style; the rows after the first start `indent` cells in (a word longer than a row is split).
/// Where a pane has the room, a long line is read whole this way rather than cut.
fn wrap_line(line: Line<'_>, width: usize, indent: usize) -> Vec<Line<'static>> {
    use unicode_width::UnicodeWidthChar;
    let width = width.max(1);
    let indent = indent.min(width / 2);
    let chars: Vec<(char, Style)> = line.spans.iter().flat_map(|s| s.content.chars().map(move |c| (c, s.style))).collect();
    let mut rows = Vec::new();
    let mut start = 0;
    while start < chars.len() || rows.is_empty() {
        let lead = if rows.is_empty() { 0 } else { indent };
        let (mut used, mut end, mut space) = (lead, start, None);
        while end < chars.len() {
            let w = chars[end].0.width().unwrap_or(0);
            if used + w > width {
                break;
            }
            if chars[end].0 == ' ' && end > start {
                space = Some(end);
            }
            used += w;
            end += 1;
        }
        if end < chars.len() && chars[end].0 != ' ' {
            if let Some(sp) = space {
                end = sp;
            }
        }
        // A character wider than the row still goes on it: every row takes something.
        if end == start && end < chars.len() {
            end += 1;
        }
        let mut spans: Vec<Span<'static>> = Vec::new();
        if lead > 0 {
            spans.push(Span::raw(" ".repeat(lead)));
        }
        for &(c, style) in chars[start..end].iter() {
            match spans.last_mut() {
                Some(last) if last.style == style => last.content.to_mut().push(c),
                _ => spans.push(Span::styled(c.to_string(), style)),
            }
        }
        rows.push(fit_line(Line::from(spans), width));
        start = end;
        while start < chars.len() && chars[start].0 == ' ' {
            start += 1;
        }
    }
    rows
}

/// Lines wrapped (`wrap_line`) to the inside of a bordered pane `area`, for `pane_lines`.
fn wrap_to(area: Rect, lines: Vec<Line<'_>>, indent: usize) -> Vec<Line<'static>> {
    let width = area.width.saturating_sub(2) as usize;
    lines.into_iter().flat_map(|l| wrap_line(l, width, indent)).collect()
}

/// `text` broken at spaces into at most `rows` rows of `width` terminal cells (a word longer
/// than a row is split); when text is left over, the last row ends in `…`. `text` is drawn as
/// given: sanitise data before.
fn wrap_cells(text: &str, width: usize, rows: usize) -> Vec<String> {
    use crate::util::text::{cells, prefix_cells};
    let width = width.max(1);
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() && out.len() < rows {
        if out.len() + 1 == rows && cells(rest) > width {
            out.push(format!("{}…", prefix_cells(rest, width - 1).trim_end()));
            break;
        }
        let head = prefix_cells(rest, width);
        let at_word_end = head.len() == rest.len() || rest[head.len()..].starts_with(' ');
        let row = match head.rfind(' ') {
            Some(space) if !at_word_end && space > 0 => &head[..space],
            // A character wider than the row still goes on it: every row takes something.
            _ if head.is_empty() => rest.chars().next().map(|c| &rest[..c.len_utf8()]).unwrap_or(rest),
            _ => head,
        };
        out.push(row.trim_end().to_string());
        rest = rest[row.len()..].trim_start();
    }
    out
}

/// Text rows wrapped to the pane's width by cells (`wrap_line`), then scrolled.
fn pane_text<'a>(f: &mut Frame, app: &App, area: Rect, title: &str, rows: impl Iterator<Item = (&'a str, Style)>, sc: &Scroll, focused: bool) {
    let lines: Vec<Line> = rows.map(|(t, style)| Line::from(Span::styled(t, style))).collect();
    pane_lines(f, app, area, title, wrap_to(area, lines, 0), sc, focused);
}

pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "The terminal is {}×{}; the inspector needs at least {MIN_WIDTH}×{MIN_HEIGHT}. Enlarge it, or press {} to quit.",
            area.width,
            area.height,
            app.keymap.key_for(super::keymap::Action::Quit)
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [top, body, bottom] = Layout::vertical([Constraint::Length(1), Constraint::Min(5), Constraint::Length(5)]).areas(area);
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
    let mut spans = vec![Span::styled(format!(" recnet · {} ", cut(&app.title, 40)), st(app, Role::Accent))];
    for (v, name) in tabs {
        let style = if v == app.view { st(app, Role::Selected) } else { st(app, Role::Dim) };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!(" {name} "), style));
    }
    if app.branches.len() > 1 || app.branches.current > 0 {
        spans.push(Span::styled(format!("  {}", cut(&app.branch().name, 50)), st(app, Role::Changed)));
    }
    // A long branch name ends in `…` at the edge (the branch list, B, names it whole).
    f.render_widget(Paragraph::new(fit_line(Line::from(spans), area.width as usize)), area);
}

fn footer(f: &mut Frame, app: &App, area: Rect) {
    let [narr, time, scrub, status] =
        Layout::vertical([Constraint::Length(2), Constraint::Length(1), Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let (text, kind) = match app.current_event() {
        Some(e) => (crate::analysis::narrate::narrate(&e), e.body.kind()),
        None => ("Nothing has happened yet.".to_string(), ""),
    };
    // Wrapped here rather than by the paragraph, so that a sentence longer than the rows given
    // ends in `…` instead of stopping mid-clause.
    let label = format!("{kind}: ");
    let rows = wrap_cells(&format!("{label}{}", cut(&text, 600)), narr.width as usize, narr.height as usize);
    let lines: Vec<Line> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| match row.strip_prefix(&label) {
            Some(rest) if i == 0 => Line::from(vec![Span::styled(label.clone(), st(app, Role::Accent)), Span::raw(rest.to_string())]),
            _ => Line::from(row),
        })
        .collect();
    f.render_widget(Paragraph::new(lines), narr);
    let current = app.current_event();
    let stage = current.as_ref().map(|e| e.body.stage()).unwrap_or(crate::world::event::Stage::Setup);
    let rounds = app.branch().header.as_ref().map(|h| h.rounds.to_string()).unwrap_or_else(|| "?".into());
    let mode = if app.running {
        if app.tick_pace {
            "▶ running 1 time step/s".to_string()
        } else {
            format!("▶ running {}/s", app.speed())
        }
    } else if app.waiting() || app.pending_forward > 0 {
        format!("{} engine working", ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"][app.spinner % 10])
    } else {
        "⏸ paused".into()
    };
    // Steps count from 0: "of" names the last, as `:` does.
    let last = app.len().saturating_sub(1);
    let total = match app.branch().unreadable.get() {
        // The steps past a line that cannot be read are counted, but out of reach.
        Some(bad) => format!("{last}, line {} unreadable", bad + 2),
        // A file whose last write did not finish: its events end before that line.
        None if app.live_done() => match app.branch().timeline.store.torn_line() {
            Some(line) => format!("{last}, line {line} cut short"),
            None => format!("{last}"),
        },
        None => format!("{last}+"),
    };
    // Whether it runs and where it is first: at 80 columns the line runs past the edge, and
    // `…` then hides only the breakpoints (which `x` lists) and whether the selection follows.
    let line = format!(
        " {mode} · {} of {total} · round {}/{rounds} · time step {} · {} / {} · {} breakpoint(s) · follow {}",
        // Before the first event there is no step to name (step 0 is the first event's).
        app.cursor.pos.checked_sub(1).map(|p| format!("step {p}")).unwrap_or_else(|| "no event yet".into()),
        app.cursor.world.cursor().round + 1,
        // A round begins before its first time step: the one the world still names ended the last.
        match current.as_ref().map(|e| &e.body) {
            Some(EventBody::RoundStarted { index }) if *index > 0 => "– (the round begins)".to_string(),
            _ => app.cursor.world.cursor().tick.to_string(),
        },
        stage.phase(),
        stage.name(),
        app.breakpoints.iter().filter(|b| b.enabled).count(),
        if app.cursor.follow { "on" } else { "off" }
    );
    f.render_widget(Paragraph::new(fit_line(Line::from(line), time.width as usize)), time);
    // Scrubber: position in the log, bookmarks as ▾.
    let w = scrub.width.saturating_sub(2).max(1) as u64;
    let len = app.len().max(1);
    let mut bar: Vec<char> = (0..w).map(|_| '─').collect();
    for b in &app.bookmarks {
        let i = ((*b * w) / len).min(w - 1) as usize;
        bar[i] = '▾';
    }
    let at = ((app.cursor.pos * w) / len).min(w - 1) as usize;
    bar[at] = '●';
    f.render_widget(Paragraph::new(format!(" {}", bar.iter().collect::<String>())).style(st(app, Role::Dim)), scrub);
    let mut jobs = app.job_lines();
    if !jobs.is_empty() {
        // Every job under way, each cut to its share of the line, after the message about the
        // last key (which names the job Esc just stopped while others go on).
        if !app.status.is_empty() {
            jobs.insert(0, app.status.clone());
        }
        let line = crate::util::text::fit_all(&jobs, super::app::JOB_SEPARATOR, status.width.saturating_sub(1) as usize);
        f.render_widget(Paragraph::new(format!(" {line}")).style(st(app, Role::Accent)), status);
    } else if app.status.is_empty() {
        // Nothing to report: the keys that matter most, dimmed.
        use super::keymap::Action as A;
        let k = |a| app.keymap.key_for(a);
        let hint =
            format!(" {} one event forward · {} back · {} runs · {} help · {} quit", k(A::StepForward), k(A::StepBack), k(A::RunPause), k(A::Help), k(A::Quit));
        f.render_widget(Paragraph::new(hint).style(st(app, Role::Dim)), status);
    } else {
        f.render_widget(Paragraph::new(format!(" {}", cut(&app.status, 300))).style(st(app, Role::Accent)), status);
    }
}

/// A popup list `width` wide, as tall as its lines (within the screen), scrolled like any pane.
fn list_popup(f: &mut Frame, app: &App, area: Rect, width: u16, title: &str, lines: Vec<Line<'_>>) {
    let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(4)).max(3);
    let r = centered(area, width, h);
    f.render_widget(Clear, r);
    pane_lines(f, app, r, title, lines, &app.scroll.popup, true);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// How much of one line the event popup keeps: it is where a cut row is read whole, and it
/// wraps; the bound only keeps a hostile line from costing each frame.
const WHOLE: usize = 20_000;

fn popup(f: &mut Frame, app: &App, area: Rect) {
    match &app.popup {
        Popup::None => {}
        Popup::Help => {
            let rows = app.keymap.help_rows();
            let cell = |(k, d): &(String, &str), w: usize| -> Vec<Span<'static>> {
                vec![Span::styled(format!(" {k:<12}"), st(app, Role::Accent)), Span::raw(crate::util::text::pad(d, w))]
            };
            // Two columns when one would not fit the terminal and both columns hold every
            // description whole; otherwise one column that wraps and scrolls.
            let longest = rows.iter().map(|(_, d)| crate::util::text::cells(d)).max().unwrap_or(0);
            let column = longest.max(34);
            let two = rows.len() + 8 > area.height as usize && area.width as usize >= (2 * (13 + column) + 2).max(100);
            let width = if two { (2 * (13 + column) + 2).max(100) as u16 } else { 80.min(area.width) };
            let inner = width.saturating_sub(2) as usize;
            let mut lines: Vec<Line> = if two {
                let half = rows.len().div_ceil(2);
                (0..half)
                    .map(|i| {
                        let mut spans = cell(&rows[i], column);
                        if let Some(r) = rows.get(i + half) {
                            spans.extend(cell(r, column));
                        }
                        Line::from(spans)
                    })
                    .collect()
            } else {
                // A description too long for a narrow terminal goes on under itself.
                rows.iter()
                    .flat_map(|(k, d)| {
                        wrap_line(Line::from(vec![Span::styled(format!(" {k:<12}"), st(app, Role::Accent)), Span::raw(d.to_string())]), inner, 13)
                    })
                    .collect()
            };
            let notes = [
                (String::new(), 0),
                (" breakpoints: kind == filter_decision and agent == u7 and decision == reject".to_string(), 14),
                ("              router == R2 and target.kind == item".to_string(), 14),
                (
                    " graph: ✓ green accepted · ‖ yellow held · ✗ red rejected · … blue waiting · ┈\u{a0}membership · ─▸\u{a0}message, head at the receiver · a large world shows the selection's neighbourhood: its routers and their closest members".to_string(),
                    8,
                ),
                (
                    format!(
                        " {}: branches ({} opens, {} saves a session, {} deletes; q asks if unsaved)",
                        app.keymap.key_for(super::keymap::Action::Branches),
                        app.keymap.key_for(super::keymap::Action::Open),
                        app.keymap.key_for(super::keymap::Action::SaveBranch),
                        app.keymap.key_for(super::keymap::Action::DeleteBranch)
                    ),
                    4,
                ),
                (" Tab moves the focus (▸) between panes; ↑↓ PageUp PageDown Home End scroll it".to_string(), 2),
            ];
            lines.extend(notes.into_iter().flat_map(|(t, indent)| wrap_line(Line::from(t), inner, indent)));
            let h = (lines.len() as u16 + 2).min(area.height);
            let r = centered(area, width, h);
            f.render_widget(Clear, r);
            // A narrow help keeps room in its title for "a–b of N".
            let title = if r.width >= 80 { "Help — keys (↑↓ PgUp PgDn Home End scroll · Esc closes)" } else { "Help (↑↓ PgUp PgDn scroll · Esc)" };
            pane_lines(f, app, r, title, lines, &app.scroll.help, true);
        }
        Popup::Event(step) => {
            let r = centered(area, area.width.saturating_sub(8), area.height.saturating_sub(4));
            f.render_widget(Clear, r);
            let mut rows: Vec<(String, Style)> = Vec::new();
            let plain = Style::new();
            if let Some(e) = app.event(*step) {
                rows.push((cut(&crate::analysis::narrate::narrate(&e), 500), st(app, Role::Accent)));
                if let EventBody::ReasonExchange { prompt, reply, tokens_in, tokens_out, latency_ms, finish_reason, .. } = &e.body {
                    let finish = if finish_reason.is_empty() { String::new() } else { format!(" · finish {}", cut(finish_reason, 40)) };
                    rows.push((format!("tokens {tokens_in} in / {tokens_out} out · {latency_ms} ms{finish}"), plain));
                    rows.push(("prompt:".into(), st(app, Role::Dim)));
                    rows.extend(prompt.lines().map(|l| (cut(l, WHOLE), plain)));
                    rows.push(("reply:".into(), st(app, Role::Dim)));
                    rows.extend(reply.lines().map(|l| (cut(l, WHOLE), plain)));
                } else {
                    let json = serde_json::to_string_pretty(&e).unwrap_or_default();
                    rows.extend(json.lines().map(|l| (cut(l, WHOLE), plain)));
                }
            }
            pane_text(
                f,
                app,
                r,
                &format!("Event {step} (↑↓ PgUp PgDn Home End scroll · Esc closes)"),
                rows.iter().map(|(t, st)| (t.as_str(), *st)),
                &app.scroll.popup,
                true,
            );
        }
        Popup::Branches { cursor } => {
            let lines: Vec<Line> = app
                .branches
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let style = if i == *cursor { st(app, Role::Selected) } else { Style::new() };
                    let from = match b.parent {
                        Some((p, step)) => format!(" · from {} at step {step}", cut(app.branches.get(p).map(|x| x.name.as_str()).unwrap_or("?"), 20)),
                        None => String::new(),
                    };
                    let saved = match &b.saved {
                        _ if b.parent.is_none() => format!(" · {}", cut(&b.parent_path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(), 40)),
                        // The file name: the directory is where the inspector was started.
                        Some(p) => format!(" · {}", cut(&p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(), 40)),
                        None => " · unsaved".to_string(),
                    };
                    let mark = if i == app.branches.current { "●" } else { " " };
                    Line::from(vec![
                        Span::styled(format!(" {mark} {}", cut(&b.name, 50)), style),
                        Span::styled(from, st(app, Role::Dim)),
                        Span::styled(saved, if b.saved.is_none() && b.parent.is_some() { st(app, Role::Changed) } else { st(app, Role::Dim) }),
                    ])
                })
                .collect();
            let title = format!(
                "Branches — ↑↓ choose · {} opens · {} saves · {} deletes · Esc",
                app.keymap.key_for(super::keymap::Action::Open),
                app.keymap.key_for(super::keymap::Action::SaveBranch),
                app.keymap.key_for(super::keymap::Action::DeleteBranch)
            );
            list_popup(f, app, area, 100, &title, lines);
        }
        Popup::Tour => {
            let Some(tour) = &app.tour else { return };
            let (name, lines, low) = match tour.showing {
                Some(i) if !tour.intro => (crate::tui::tour::STOPS[i].name, crate::tui::tour::STOPS[i].lines, crate::tui::tour::STOPS[i].low),
                _ => ("RecNet, step by step", crate::tui::tour::INTRO, false),
            };
            let seen = tour.seen.iter().filter(|s| **s).count();
            // Along the bottom of the panes, above the footer, so the graph and the agent stay in
            // view; at the top when the stop points at the buffer or the rules, low on screen.
            let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(6));
            // As wide as its lines need (they are wrapped for 80 columns), centred.
            let w = area.width.min(82);
            let y = if low { area.y + 2 } else { area.bottom().saturating_sub(5 + h) };
            let r = Rect { x: area.x + (area.width - w) / 2, y, width: w, height: h };
            f.render_widget(Clear, r);
            let title = format!(
                " Tour · {name} · {seen} of {} — {} goes on · Esc closes ",
                crate::tui::tour::STOPS.len(),
                app.keymap.key_for(super::keymap::Action::RunPause)
            );
            let text: Vec<Line> = lines.iter().map(|l| Line::from(format!(" {l}"))).collect();
            f.render_widget(Paragraph::new(text).block(Block::bordered().title(title).border_style(st(app, Role::Accent))), r);
        }
        Popup::Breakpoints { cursor } => {
            let lines: Vec<Line> = app
                .breakpoints
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let style = if i == *cursor { st(app, Role::Selected) } else { Style::new() };
                    // The mark carries the state in mono too: ● stops, ○ is disabled.
                    let (mark, state) = if b.enabled { ("● on ", Style::new()) } else { ("○ off", st(app, Role::Dim)) };
                    Line::from(vec![Span::styled(format!(" {:>2} {mark} ", i + 1), style), Span::styled(cut(&b.expr, 90), style.patch(state))])
                })
                .collect();
            let title = format!(
                "Breakpoints — ↑↓ choose · Space/{} disables · {} deletes · {} adds · {} runs back to a hit · Esc",
                app.keymap.key_for(super::keymap::Action::Open),
                app.keymap.key_for(super::keymap::Action::DeleteBranch),
                app.keymap.key_for(super::keymap::Action::AddBreakpoint),
                app.keymap.key_for(super::keymap::Action::PreviousHit)
            );
            list_popup(f, app, area, 100, &title, lines);
        }
        Popup::Pick { query, items, cursor } => {
            let lines: Vec<Line> = items
                .iter()
                .enumerate()
                .map(|(i, (id, title))| {
                    let style = if i == *cursor { st(app, Role::Selected) } else { Style::new() };
                    Line::from(vec![
                        Span::styled(format!(" {}", crate::util::text::pad(id, 12)), style.patch(st(app, Role::Accent))),
                        Span::styled(cut(title, 50), style),
                    ])
                })
                .collect();
            let title = format!("{} agents match “{}” — ↑↓ choose · Enter selects · Esc", items.len(), cut(query, 20));
            list_popup(f, app, area, 70, &title, lines);
        }
        Popup::Input { kind, text, error } => {
            let width = 90.min(area.width);
            let mut lines = vec![Line::from(format!("> {}█", cut(text, 300)))];
            // An error wraps: its end (the accepted values, say) is what the user needs.
            if let Some(e) = error {
                for row in wrap_cells(&cut(e, 400), width.saturating_sub(2) as usize, 4) {
                    lines.push(Line::from(Span::styled(row, st(app, Role::Reject))));
                }
            }
            let title = match kind {
                InputKind::Search => " / search ",
                InputKind::Command => " : command ",
                InputKind::Breakpoint => " breakpoint ",
            };
            // The hint wraps rather than losing its end at the border (the popup grows by a row).
            let hint = wrap_cells(kind.title(), width.saturating_sub(2) as usize, 3);
            lines.extend(hint.into_iter().map(|row| Line::from(Span::styled(row, st(app, Role::Dim)))));
            let r = centered(area, width, lines.len() as u16 + 2);
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), r);
        }
        Popup::Rules { agent, editor, error, .. } => {
            let r = centered(area, 96, 16);
            f.render_widget(Clear, r);
            let (text, role) = match error {
                Some(e) if e.starts_with("warning:") => (cut(e, 400), Role::Changed),
                Some(e) => (format!("{} — nothing changed", cut(e, 400)), Role::Reject),
                None => ("one rule a line: accept W | hold N | reject  when …  ·  default reject".to_string(), Role::Dim),
            };
            // The message wraps (up to four rows) rather than losing the list of fields it ends with.
            let rows = wrap_cells(&text, r.width.saturating_sub(1) as usize, 4);
            let [ed, msg] = Layout::vertical([Constraint::Min(3), Constraint::Length(rows.len() as u16 + 1)]).areas(r);
            let block = Block::bordered().title(format!(" Rules of {} — Ctrl+S applies (forks a branch here), Esc cancels ", cut(agent, 20)));
            let inner = block.inner(ed);
            f.render_widget(block, ed);
            f.render_widget(&**editor, inner);
            let m: Vec<Line> = rows.into_iter().map(|row| Line::from(Span::styled(format!(" {row}"), st(app, role)))).collect();
            f.render_widget(Paragraph::new(m), msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fit_line, wrap_cells, wrap_line};
    use ratatui::style::{Color, Style};
    use ratatui::text::{Line, Span};

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    /// Words stay whole where they fit, and a sentence longer than its rows ends in `…` within
    /// the last one.
    #[test]
    fn wrapped_text_too_long_for_its_rows_ends_in_an_ellipsis() {
        assert_eq!(wrap_cells("sends message 1 to u1", 10, 3), ["sends", "message 1", "to u1"]);
        assert_eq!(wrap_cells("sends message 1 to u1, u2", 10, 2), ["sends", "message 1…"]);
        assert_eq!(wrap_cells("abcdefghijkl", 5, 3), ["abcde", "fghij", "kl"]);
        // A row too narrow for a wide character still takes one, so the wrapping ends.
        assert_eq!(wrap_cells("寄生虫", 1, 4), ["寄", "生", "虫"]);
        assert!(wrap_cells("", 10, 2).is_empty());
    }

    /// A styled line wraps at spaces, its rows after the first indented, each span keeping its
    /// style; a word longer than a row is split, and nothing is lost.
    #[test]
    fn a_long_line_wraps_keeping_its_styles() {
        let red = Style::new().fg(Color::Red);
        let line = Line::from(vec![Span::raw(" likes Jazz 0.57,"), Span::styled(" dislikes Metal", red)]);
        let rows: Vec<String> = wrap_line(line.clone(), 12, 2).iter().map(text).collect();
        assert_eq!(rows, [" likes Jazz", "  0.57,", "  dislikes", "  Metal"]);
        let styled = wrap_line(line, 12, 2);
        assert_eq!(styled[2].spans.last().unwrap().style, red, "the wrapped span keeps its style");
        let rows: Vec<String> = wrap_line(Line::from("abcdefghij"), 4, 1).iter().map(text).collect();
        assert_eq!(rows, ["abcd", " efg", " hij"]);
        assert_eq!(wrap_line(Line::from(""), 4, 1).len(), 1, "an empty line keeps its row");
        assert_eq!(wrap_line(Line::from(" 寄生虫 x"), 4, 0).iter().map(text).collect::<Vec<_>>(), [" 寄", "生虫", "x"]);
    }

    /// A line wider than its pane ends in `…` within the width, in the style of the span cut;
    /// one that fits is left alone.
    #[test]
    fn a_line_too_wide_for_its_pane_ends_in_an_ellipsis() {
        let red = Style::new().fg(Color::Red);
        let row = || Line::from(vec![Span::raw(" u1 Jazz"), Span::styled(" +0.25 (sim 0.80)", red)]);
        let cut = fit_line(row(), 12);
        assert_eq!(text(&cut), " u1 Jazz +0…");
        assert_eq!(crate::util::text::cells(&text(&cut)), 12);
        assert_eq!(cut.spans[1].style, red, "the cut span keeps its style");
        assert_eq!(text(&fit_line(row(), 25)), " u1 Jazz +0.25 (sim 0.80)");
        // A cut right at a span's end still says so, and a wide character is not split.
        assert_eq!(text(&fit_line(row(), 9)), " u1 Jazz…");
        assert_eq!(text(&fit_line(Line::from(" 寄生虫 x"), 5)), " 寄…");
        assert_eq!(text(&fit_line(row(), 0)), "");
    }
}
