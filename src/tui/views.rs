//! Drawing: pure functions of the app state. Every text from data or a model goes through
//! `text::sanitize` before it reaches the terminal.

use super::app::{App, Focus, InputKind, Popup, View};
use crate::world::event::{ClientKind, Decision, EventBody};
use crate::util::text::sanitize;
use crate::world::{Client, Router};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine};
use ratatui::widgets::{Axis, Block, Chart, Clear, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;
use std::collections::{BTreeMap, BTreeSet};

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
        Some(e) => (crate::analysis::narrate::narrate(&e, &app.world), e.body.kind()),
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
        app.world.cursor.round + 1,
        app.world.cursor.tick,
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

fn inspect(f: &mut Frame, app: &App, area: Rect) {
    let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    graph(f, app, left);
    let [detail, buffer, rules] =
        Layout::vertical([Constraint::Percentage(42), Constraint::Percentage(26), Constraint::Percentage(32)]).areas(right);
    let sel = app.selected.as_deref();
    if let Some(c) = sel.and_then(|id| app.world.client(id)) {
        client_detail(f, app, c, detail);
        buffer_panel(f, app, c, buffer);
        rules_panel(f, app, c, rules);
    } else if let Some(r) = sel.and_then(|id| app.world.router(id)) {
        router_detail(f, app, r, detail, buffer, rules);
    } else {
        f.render_widget(Paragraph::new("No agent selected (j/k to choose).").block(Block::bordered().title(" Agent ")), detail);
        f.render_widget(Block::bordered().title(" Buffer "), buffer);
        f.render_widget(Block::bordered().title(" Rules "), rules);
    }
}

/// The messages of the current time step so far: (router, receiver) → fate.
fn tick_messages(app: &App) -> Vec<(String, String, Option<Decision>)> {
    let evs = app.branch().timeline.store.range(app.tick_start, app.pos).unwrap_or_default();
    let mut fate: BTreeMap<(String, u64), Decision> = BTreeMap::new();
    let mut sent: Vec<(u64, String, String)> = Vec::new();
    let mut router_of: BTreeMap<u64, String> = BTreeMap::new();
    for e in &evs {
        match &e.body {
            EventBody::MessageSent { message, router, recipients, .. } => {
                router_of.insert(*message, router.clone());
                for r in recipients {
                    sent.push((*message, router.clone(), r.agent.clone()));
                }
            }
            EventBody::FilterDecision { agent, message, router, decision, .. } => {
                fate.insert((agent.clone(), *message), *decision);
                if !router_of.contains_key(message) {
                    sent.push((*message, router.clone(), agent.clone()));
                    router_of.insert(*message, router.clone());
                }
            }
            _ => {}
        }
    }
    sent.into_iter().map(|(m, r, a)| { let d = fate.get(&(a.clone(), m)).copied(); (r, a, d) }).collect()
}

fn graph(f: &mut Frame, app: &App, area: Rect) {
    let focused = app.focus == Focus::Agents;
    let block = Block::bordered()
        .title(" Agent graph: users │ routers │ items ")
        .border_style(if focused { st(app, Role::Accent) } else { Style::new() });
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 3 || inner.width < 20 {
        return;
    }
    let rows = inner.height as usize;
    let msgs = tick_messages(app);
    let involved: BTreeSet<&str> = msgs.iter().flat_map(|(r, a, _)| [r.as_str(), a.as_str()]).collect();
    let sel = app.selected.as_deref();
    let sel_routers: BTreeSet<&str> = sel
        .and_then(|id| app.world.client(id))
        .map(|c| c.routers.iter().map(|s| s.as_str()).collect())
        .unwrap_or_default();
    let pick = |ids: Vec<&str>| -> (Vec<String>, usize) {
        if ids.len() <= rows {
            return (ids.iter().map(|s| s.to_string()).collect(), 0);
        }
        // Too many to show: the selection, what this step touches, then the selection's
        // communities, then the rest, in that order.
        let mut chosen: Vec<&str> = Vec::new();
        let cap = rows.saturating_sub(1);
        let prio = |id: &str| -> u8 {
            if Some(id) == sel {
                0
            } else if involved.contains(id) {
                1
            } else if app.world.client(id).is_some_and(|c| c.routers.iter().any(|r| sel_routers.contains(r.as_str()))) {
                2
            } else {
                3
            }
        };
        let mut ranked: Vec<(u8, usize, &str)> = ids.iter().enumerate().map(|(i, id)| (prio(id), i, *id)).collect();
        ranked.sort();
        for (_, _, id) in ranked.into_iter().take(cap) {
            chosen.push(id);
        }
        let hidden = ids.len() - chosen.len();
        let order: BTreeMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        chosen.sort_by_key(|id| order[id]);
        (chosen.iter().map(|s| s.to_string()).collect(), hidden)
    };
    let users: Vec<&str> = app.world.clients.iter().filter(|c| c.kind == ClientKind::User).map(|c| c.id.as_str()).collect();
    let items: Vec<&str> = app.world.clients.iter().filter(|c| c.kind == ClientKind::Item).map(|c| c.id.as_str()).collect();
    let routers: Vec<&str> = app.world.routers.iter().map(|r| r.id.as_str()).collect();
    let (u, uh) = pick(users);
    let (r, rh) = pick(routers);
    let (i, ih) = pick(items);
    let (wc, hc) = (inner.width as usize, inner.height as usize);
    // Canvas coordinates that land exactly on a text cell (ratatui floors x·(W−1)/100 and
    // (100−y)·(H−1)/100), so labels never collide or drift between rows.
    let col_x = |c: usize| -> f64 { (c as f64 + 0.01) * 100.0 / (wc.max(2) - 1) as f64 };
    let row_y = |r: usize| -> f64 { (100.0 - (r as f64 + 0.01) * 100.0 / (hc.max(2) - 1) as f64).max(0.0) };
    let usable = hc.saturating_sub(1).max(1);
    let y_of = |row: usize, n: usize| -> f64 {
        let gap = (usable / n.max(1)).max(1);
        let top = usable.saturating_sub(gap * (n.max(1) - 1)) / 2;
        row_y((top + row * gap).min(usable - 1))
    };
    let col_w = (wc / 3).max(4);
    let label = |id: &str| -> String {
        // Titles get what the column allows (the whole label is cut to the column below).
        let t = app.world.client(id).and_then(|c| c.title.as_deref()).map(|t| format!(" {}", s(t, col_w))).unwrap_or_default();
        let full = format!("{}{}", s(id, 10), t);
        s(&full, col_w.saturating_sub(3))
    };
    let router_col = wc * 2 / 5;
    let mut pos: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut item_col: BTreeMap<String, usize> = BTreeMap::new();
    for (k, id) in u.iter().enumerate() {
        pos.insert(id.clone(), (col_x(label(id).chars().count() + 1), y_of(k, u.len())));
    }
    for (k, id) in r.iter().enumerate() {
        pos.insert(id.clone(), (col_x(router_col), y_of(k, r.len())));
    }
    for (k, id) in i.iter().enumerate() {
        let c = wc.saturating_sub(label(id).chars().count() + 2);
        item_col.insert(id.clone(), c);
        pos.insert(id.clone(), (col_x(c), y_of(k, i.len())));
    }
    let ux = col_x(0);
    let rx = col_x(router_col);
    let canvas = Canvas::default().marker(Marker::Braille).x_bounds([0.0, 100.0]).y_bounds([0.0, 100.0]).paint(|ctx| {
        // Layer 1: the selection's memberships.
        if let Some(c) = sel.and_then(|id| app.world.client(id)) {
            for rid in &c.routers {
                if let (Some(a), Some(b)) = (pos.get(&c.id), pos.get(rid)) {
                    ctx.draw(&CanvasLine { x1: a.0, y1: a.1, x2: b.0, y2: b.1, color: Color::DarkGray });
                }
            }
        }
        if let Some(rt) = sel.and_then(|id| app.world.router(id)) {
            for m in rt.members.iter() {
                if let (Some(a), Some(b)) = (pos.get(&rt.id), pos.get(m)) {
                    ctx.draw(&CanvasLine { x1: a.0, y1: a.1, x2: b.0, y2: b.1, color: Color::DarkGray });
                }
            }
        }
        // Layer 2: this step's messages, coloured by fate.
        for (router, agent, fate) in &msgs {
            if let (Some(a), Some(b)) = (pos.get(router), pos.get(agent)) {
                let color = if app.mono {
                    Color::Reset
                } else {
                    match fate {
                        Some(Decision::Accept) => Color::Green,
                        Some(Decision::Hold) => Color::Yellow,
                        Some(Decision::Reject) => Color::Red,
                        None => Color::Blue,
                    }
                };
                ctx.draw(&CanvasLine { x1: a.0 + col_x(4), y1: a.1, x2: b.0 - col_x(1), y2: b.1, color });
            }
        }
        ctx.layer();
        // Layer 3: labels.
        let node_style = |id: &str| -> Style {
            if Some(id) == sel {
                st(app, Role::Selected)
            } else if involved.contains(id) {
                st(app, Role::Accent)
            } else {
                Style::new()
            }
        };
        for (k, id) in u.iter().enumerate() {
            ctx.print(ux, y_of(k, u.len()), Span::styled(format!("●{}", label(id)), node_style(id)));
        }
        for (k, id) in r.iter().enumerate() {
            let n = app.world.router(id).map(|r| r.members.len()).unwrap_or(0);
            ctx.print(rx, y_of(k, r.len()), Span::styled(format!("◆{} ({n})", s(id, 8)), node_style(id)));
        }
        for id in &i {
            let (x, y) = pos[id];
            ctx.print(x, y, Span::styled(format!("■{}", label(id)), node_style(id)));
        }
        for (hidden, x) in [(uh, ux), (rh, rx), (ih, col_x(wc * 3 / 4))] {
            if hidden > 0 {
                ctx.print(x, row_y(hc - 1), Span::styled(format!("+{hidden} hidden"), st(app, Role::Dim)));
            }
        }
    });
    f.render_widget(canvas, inner);
}

fn attr_lines(app: &App, attrs: &BTreeMap<String, f64>, before: Option<&BTreeMap<String, f64>>, max: usize) -> Vec<Line<'static>> {
    let mut v: Vec<(&String, f64)> = attrs.iter().map(|(a, w)| (a, *w)).collect();
    v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
    let mut out = Vec::new();
    for (a, w) in v.into_iter().take(max) {
        let prev = before.and_then(|b| b.get(a)).copied().unwrap_or(0.0);
        let delta = w - prev;
        let changed = before.is_some() && delta.abs() > 1e-9;
        let style = if changed { st(app, Role::Changed) } else { Style::new() };
        let d = if changed { format!("{delta:+.2}") } else { String::new() };
        out.push(Line::from(vec![
            Span::styled(format!(" {:<24}", s(a, 24)), style),
            Span::styled(format!("{w:>6.2}"), if w < 0.0 { st(app, Role::Reject) } else { Style::new() }),
            Span::styled(format!(" {d:>6}"), style),
        ]));
    }
    out
}

fn client_detail(f: &mut Frame, app: &App, c: &Client, area: Rect) {
    let title = format!(
        " {} {} · {} ",
        s(&c.id, 20),
        c.title.as_deref().map(|t| format!("“{}”", s(t, 30))).unwrap_or_default(),
        c.kind.name()
    );
    let before = app.tick_start_world.client(&c.id).map(|b| &b.attrs);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("routers ", st(app, Role::Dim)),
            Span::raw(if c.routers.is_empty() { "none".into() } else { c.routers.iter().cloned().collect::<Vec<_>>().join(", ") }),
            Span::styled(format!(" · {} interactions", c.interactions), st(app, Role::Dim)),
        ]),
        Line::from(s(&crate::world::profile_text(&c.attrs, 4), 300)),
        Line::from(Span::styled(format!(" {:<24}{:>6} {:>6}", "attribute", "weight", "step Δ"), st(app, Role::Dim))),
    ];
    let room = area.height.saturating_sub(2 + 3) as usize;
    let extra = c.attrs.len().saturating_sub(room);
    lines.extend(attr_lines(app, &c.attrs, before, room.saturating_sub(usize::from(extra > 0))));
    if extra > 0 {
        lines.push(Line::from(Span::styled(format!(" … {} more", extra + 1), st(app, Role::Dim))));
    }
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}

fn buffer_panel(f: &mut Frame, app: &App, c: &Client, area: Rect) {
    let cap = app.branch().header.as_ref().map(|h| h.config.buffer.capacity.to_string()).unwrap_or_else(|| "?".into());
    let mut lines = Vec::new();
    if c.buffer.is_empty() {
        lines.push(Line::from(Span::styled(" empty: no messages waiting", st(app, Role::Dim))));
    }
    for b in c.buffer.iter().take(area.height.saturating_sub(2) as usize) {
        let m = app.world.messages.get(&b.message);
        let what = m
            .map(|m| m.content.iter().map(|d| format!("{} {:+.2}", s(&d.attr, 16), d.delta)).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let router = m.map(|m| m.router.clone()).unwrap_or_default();
        let age = app.world.cursor.tick.saturating_sub(b.arrived_tick);
        let held = b.held.as_ref().map(|h| format!(" · held by rule {} ({} steps)", h.rule, h.steps)).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!(" m{} ← {} ", b.message, s(&router, 8)), if b.held.is_some() { st(app, Role::Hold) } else { st(app, Role::Flight) }),
            Span::raw(s(&what, 60)),
            Span::styled(format!(" · rel {:.2} · age {age}{held}", b.relevance), st(app, Role::Dim)),
        ]));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" Buffer {}/{cap} ", c.buffer.len()))),
        area,
    );
}

fn rules_panel(f: &mut Frame, app: &App, c: &Client, area: Rect) {
    let matched = app.current_event().and_then(|e| match e.body {
        EventBody::FilterDecision { agent, rule, decision, .. } if agent == c.id => rule.map(|r| (r, decision)),
        _ => None,
    });
    let tw = (area.width as usize).saturating_sub(2 + 4 + 6 + 8 + 1).max(10);
    let mut lines = vec![Line::from(Span::styled(
        format!(" {:<3}{:<tw$}{:>6}{:>8}", "#", "rule (first match wins)", "hits", "credit"),
        st(app, Role::Dim),
    ))];
    let room = (area.height as usize).saturating_sub(3);
    let hidden = c.rules.len().saturating_sub(room);
    for (i, r) in c.rules.iter().enumerate().take(if hidden > 0 { room.saturating_sub(1) } else { room }) {
        let text = crate::rules::print_rule(r);
        let hits = c.rule_hits.get(i).copied().unwrap_or(0);
        let credit = c.rule_credit.get(i).copied().unwrap_or(0.0);
        let style = match matched {
            Some((m, d)) if m == i + 1 => st(app, decision_role(d)).add_modifier(Modifier::BOLD),
            _ => Style::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<3}{:<tw$}", i + 1, s(&text, tw - 1)), style),
            Span::raw(format!("{hits:>6}")),
            Span::styled(format!("{credit:>+8.3}"), if credit < 0.0 { st(app, Role::Reject) } else { Style::new() }),
        ]));
    }
    if hidden > 0 {
        lines.push(Line::from(Span::styled(format!(" … {} more (e shows all)", hidden + 1), st(app, Role::Dim))));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" Rules ({} · e edits) ", c.rules.len()))),
        area,
    );
}

fn router_detail(f: &mut Frame, app: &App, r: &Router, detail: Rect, inbox: Rect, strategy: Rect) {
    let before = app.tick_start_world.router(&r.id).map(|b| &b.profile);
    let mut lines = vec![
        Line::from(s(&r.summary, 400)),
        Line::from(Span::styled(
            format!("community: {}", r.attributes.iter().map(|a| s(a, 20)).collect::<Vec<_>>().join(", ")),
            st(app, Role::Dim),
        )),
    ];
    lines.extend(attr_lines(app, &r.profile, before, detail.height.saturating_sub(4) as usize));
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(format!(" Router {} ", s(&r.id, 20)))),
        detail,
    );
    let mut ib: Vec<Line> = r
        .inbox
        .iter()
        .map(|x| Line::from(format!(" {} {} {:+.2} (sim {:.2})", s(&x.agent, 10), s(&x.attr, 20), x.delta, x.similarity)))
        .collect();
    if ib.is_empty() {
        ib.push(Line::from(Span::styled(" inbox empty (a router has no message buffer)", st(app, Role::Dim))));
    }
    f.render_widget(Paragraph::new(ib).block(Block::bordered().title(format!(" Inbox {} · buffer: none ", r.inbox.len()))), inbox);
    let members: Vec<&str> = r.members.iter().map(|s| s.as_str()).take(12).collect();
    let lines = vec![
        Line::from(format!(" sends to the top {} members above τ {:.2}", r.fan_out, r.tau)),
        Line::from(format!(" credit {:+.3} · {} messages sent", r.credit, r.messages_sent)),
        Line::from(format!(" {} members: {}{}", r.members.len(), members.join(" "), if r.members.len() > 12 { " …" } else { "" })),
        Line::from(Span::styled(" routers have no filter rules; their strategy is edited by the backward phase", st(app, Role::Dim))),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(Block::bordered().title(" Strategy (rules: none) ")), strategy);
}

fn events_view(f: &mut Frame, app: &App, area: Rect) {
    let title = if app.log_filter.is_empty() {
        " Event log (Enter opens · / filters · j/k moves) ".to_string()
    } else {
        format!(" Event log filtered by “{}” (/ then Enter on empty clears) ", s(&app.log_filter, 30))
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as u64;
    let len = app.len();
    let evs = if app.log_filter.is_empty() {
        let first = app.log_cursor.saturating_sub(h / 2).min(len.saturating_sub(h));
        app.branch().timeline.store.range(first, (first + h).min(len)).unwrap_or_default()
    } else {
        // Matching rows only: half a screen before the cursor, the rest after (bounded scans).
        let mut before = Vec::new();
        let mut i = app.log_cursor;
        while before.len() < (h / 2) as usize {
            match app.find_back(i, |e| app.log_matches(e)) {
                Some(j) => {
                    before.push(j);
                    if j == 0 {
                        break;
                    }
                    i = j - 1;
                }
                None => break,
            }
        }
        before.reverse();
        let mut rows: Vec<crate::world::event::Event> = before.iter().filter_map(|j| app.event(*j)).collect();
        let mut next = before.last().map(|j| j + 1).unwrap_or(app.log_cursor);
        while (rows.len() as u64) < h {
            match app.find_forward(next, |e| app.log_matches(e)) {
                Some(j) => {
                    if let Some(e) = app.event(j) {
                        rows.push(e);
                    }
                    next = j + 1;
                }
                None => break,
            }
        }
        rows
    };
    let lines: Vec<Line> = evs
        .iter()
        .map(|e| {
            let here = e.step + 1 == app.pos;
            let style = if e.step == app.log_cursor { st(app, Role::Selected) } else { Style::new() };
            let kind_style = match &e.body {
                EventBody::FilterDecision { decision, .. } => st(app, decision_role(*decision)),
                EventBody::RuleEdited { .. } | EventBody::RouterStrategyEdited { .. } => st(app, Role::Changed),
                _ => st(app, Role::Dim),
            };
            Line::from(vec![
                Span::styled(format!("{}{:>6} ", if here { "▶" } else { " " }, e.step), style),
                Span::styled(format!("t{:<4} {:<22}", e.tick, e.body.kind()), kind_style),
                Span::styled(s(&crate::analysis::narrate::narrate(e, &app.world), 300), style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn metrics_view(f: &mut Frame, app: &App, area: Rect) {
    let stats = app.stats();
    let [top, mid, bottom] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(30), Constraint::Percentage(20)]).areas(area);
    let series = |g: fn(&super::app::TickStats) -> f64| -> Vec<(f64, f64)> { stats.iter().map(|t| (t.tick as f64, g(t))).collect() };
    let acc = series(|t| t.accepted as f64);
    let held = series(|t| t.held as f64);
    let rej = series(|t| t.rejected as f64);
    let credit = series(|t| t.credit);
    let max_t = stats.last().map(|t| t.tick as f64).unwrap_or(1.0).max(1.0);
    let max_y = stats.iter().map(|t| t.accepted.max(t.held).max(t.rejected)).max().unwrap_or(1).max(1) as f64;
    let ds = vec![
        Dataset::default().name("accepted").marker(Marker::Braille).graph_type(GraphType::Line).style(st(app, Role::Accept)).data(&acc),
        Dataset::default().name("held").marker(Marker::Braille).graph_type(GraphType::Line).style(st(app, Role::Hold)).data(&held),
        Dataset::default().name("rejected").marker(Marker::Braille).graph_type(GraphType::Line).style(st(app, Role::Reject)).data(&rej),
    ];
    let chart = Chart::new(ds)
        .block(Block::bordered().title(" Filter decisions per time step "))
        .x_axis(Axis::default().title("time step").bounds([0.0, max_t]).labels(vec![Span::raw("0"), Span::raw(format!("{max_t:.0}"))]))
        .y_axis(Axis::default().bounds([0.0, max_y]).labels(vec![Span::raw("0"), Span::raw(format!("{max_y:.0}"))]));
    f.render_widget(chart, top);
    let (lo, hi) = credit.iter().fold((0.0f64, 0.0f64), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
    let hi = if hi - lo < 1e-9 { lo + 1.0 } else { hi };
    let ds = vec![Dataset::default().name("credit").marker(Marker::Braille).graph_type(GraphType::Line).style(st(app, Role::Accent)).data(&credit)];
    let chart = Chart::new(ds)
        .block(Block::bordered().title(" Credit assigned per time step "))
        .x_axis(Axis::default().bounds([0.0, max_t]))
        .y_axis(Axis::default().bounds([lo, hi]).labels(vec![Span::raw(format!("{lo:.2}")), Span::raw(format!("{hi:.2}"))]));
    f.render_widget(chart, mid);
    let c = &app.world.counters;
    let mut lines = vec![Line::from(format!(
        " so far: {} interactions · {} messages sent · {} accepted · {} held · {} rejected · {} rule edits · {} router edits",
        c.interactions, c.messages_sent, c.accepted, c.held, c.rejected, c.rule_edits, c.router_edits
    ))];
    if c.model_calls > 0 || c.tokens_in > 0 {
        lines.push(Line::from(format!(" model: {} calls · {} tokens in · {} out · {} failures", c.model_calls, c.tokens_in, c.tokens_out, c.model_failures)));
    }
    match app.world.metrics.last() {
        Some((step, split, values)) => lines.push(Line::from(format!(
            " evaluation at step {step} ({split}): {}",
            values.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join(" · ")
        ))),
        None => lines.push(Line::from(Span::styled(" no evaluation metrics in this session (recnet eval records them)", st(app, Role::Dim)))),
    }
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Totals ")), bottom);
}

fn diff_view(f: &mut Frame, app: &App, area: Rect) {
    let text = match &app.branch().diff {
        Some(d) => format!("What the edit changed downstream (whole runs, parent vs this branch):\n\n{d}"),
        None => {
            let (p, r, ro) = crate::analysis::diff::diff_worlds(&app.tick_start_world, &app.world);
            let mut o = format!(
                "What this time step changed so far (state at step {} → step {}). Edit a rule (e) to fork a branch and compare runs.\n\n",
                app.tick_start,
                app.pos.saturating_sub(1)
            );
            if p.is_empty() && r.is_empty() && ro.is_empty() {
                o.push_str("nothing yet\n");
            }
            for d in p {
                let parts: Vec<String> = d.attrs.iter().take(5).map(|a| format!("{} {:.3}→{:.3}", a.attr, a.a, a.b)).collect();
                o.push_str(&format!("profile {}: {}\n", d.agent, parts.join(", ")));
            }
            for d in r {
                o.push_str(&format!("rules of {}:\n  before: {}\n  after:  {}\n", d.agent, d.a.replace('\n', " | "), d.b.replace('\n', " | ")));
            }
            for d in ro {
                o.push_str(&format!("router {}: {} → {}\n", d.router, d.a, d.b));
            }
            o
        }
    };
    let lines: Vec<Line> = text.lines().map(|l| Line::from(s(l, 400))).collect();
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(" Diff ")), area);
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
                lines.push(Line::from(Span::styled(s(&crate::analysis::narrate::narrate(&e, &app.world), 500), st(app, Role::Accent))));
                if let EventBody::ReasonExchange { prompt, reply, tokens_in, tokens_out, latency_ms, .. } = &e.body {
                    lines.push(Line::from(format!("tokens {tokens_in} in / {tokens_out} out · {latency_ms} ms")));
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
