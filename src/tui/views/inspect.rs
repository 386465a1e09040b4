//! The inspect view: the graph of users, routers and items with this time step's messages, and
//! the selected agent's profile, buffer and rules (or a router's inbox and strategy).

use crate::tui::app::{App, Focus};
use crate::world::event::{ClientKind, Decision, EventBody};
use crate::world::{Client, Router};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine};
use ratatui::widgets::Block;
use ratatui::Frame;
use std::collections::BTreeMap;
use super::*;

pub(super) fn inspect(f: &mut Frame, app: &App, area: Rect) {
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
        pane_lines(f, app, detail, "Agent", vec![Line::from("No agent selected (j/k to choose).")], &app.scroll.detail, app.focus == Focus::Detail);
        pane_lines(f, app, buffer, "Buffer", Vec::new(), &app.scroll.buffer, app.focus == Focus::Buffer);
        pane_lines(f, app, rules, "Rules", Vec::new(), &app.scroll.rules, app.focus == Focus::Rules);
    }
}

/// The ids to show in a column of `rows` lines, in their order, and how many are hidden. When
/// they do not all fit: the selection, then what this step touches, then the selection's
/// communities, then the rest. One pass, keeping at most `rows` of each rank: a frame must not
/// cost an allocation per agent of a huge world.
fn pick<'a>(ids: impl Iterator<Item = (&'a str, u8)>, rows: usize) -> (Vec<&'a str>, usize) {
    let mut ranks: [Vec<(usize, &'a str)>; 4] = Default::default();
    let mut total = 0;
    for (i, (id, rank)) in ids.enumerate() {
        total += 1;
        let bucket = &mut ranks[rank.min(3) as usize];
        if bucket.len() < rows {
            bucket.push((i, id));
        }
    }
    let cap = if total <= rows { total } else { rows.saturating_sub(1) };
    let mut chosen: Vec<(usize, &'a str)> = ranks.into_iter().flatten().take(cap).collect();
    chosen.sort_unstable();
    (chosen.into_iter().map(|(_, id)| id).collect(), total - cap.min(total))
}

pub(super) fn graph(f: &mut Frame, app: &App, area: Rect) {
    let focused = app.focus == Focus::Agents;
    let block = Block::bordered()
        .title(if focused { "▸ Agent graph: users │ routers │ items (j/k select) " } else { " Agent graph: users │ routers │ items " })
        .border_style(if focused { st(app, Role::Accent) } else { Style::new() });
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 3 || inner.width < 20 {
        return;
    }
    let rows = inner.height as usize;
    let tick = &app.tick;
    let sel = app.selected.as_deref();
    let sel_routers: Vec<&str> = sel.and_then(|id| app.world.client(id)).map(|c| c.routers.iter().map(|s| s.as_str()).collect()).unwrap_or_default();
    let rank = |id: &str, c: Option<&Client>| -> u8 {
        if Some(id) == sel {
            0
        } else if tick.involves(id) {
            1
        } else if c.is_some_and(|c| c.routers.iter().any(|r| sel_routers.contains(&r.as_str()))) {
            2
        } else {
            3
        }
    };
    let clients_of = |kind: ClientKind| app.world.clients().iter().filter(move |c| c.kind == kind).map(|c| (c.id.as_str(), rank(&c.id, Some(c))));
    let (u, uh) = pick(clients_of(ClientKind::User), rows);
    let (r, rh) = pick(app.world.routers().iter().map(|r| (r.id.as_str(), rank(&r.id, None))), rows);
    let (i, ih) = pick(clients_of(ClientKind::Item), rows);
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
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (k, id) in u.iter().enumerate() {
        pos.insert(id, (col_x(label(id).chars().count() + 1), y_of(k, u.len())));
    }
    for (k, id) in r.iter().enumerate() {
        pos.insert(id, (col_x(router_col), y_of(k, r.len())));
    }
    for (k, id) in i.iter().enumerate() {
        let c = wc.saturating_sub(label(id).chars().count() + 2);
        pos.insert(id, (col_x(c), y_of(k, i.len())));
    }
    let ux = col_x(0);
    let rx = col_x(router_col);
    let canvas = Canvas::default().marker(Marker::Braille).x_bounds([0.0, 100.0]).y_bounds([0.0, 100.0]).paint(|ctx| {
        // Layer 1: the selection's memberships.
        if let Some(c) = sel.and_then(|id| app.world.client(id)) {
            for rid in &c.routers {
                if let (Some(a), Some(b)) = (pos.get(c.id.as_str()), pos.get(rid.as_str())) {
                    ctx.draw(&CanvasLine { x1: a.0, y1: a.1, x2: b.0, y2: b.1, color: Color::DarkGray });
                }
            }
        }
        if let Some(rt) = sel.and_then(|id| app.world.router(id)) {
            // The members on screen (a router of a huge world has thousands), in member order.
            if let Some(a) = pos.get(rt.id.as_str()) {
                for b in pos.iter().filter(|(m, _)| rt.members.contains(**m)).map(|(_, b)| b) {
                    ctx.draw(&CanvasLine { x1: a.0, y1: a.1, x2: b.0, y2: b.1, color: Color::DarkGray });
                }
            }
        }
        // Layer 2: this step's messages, coloured by fate.
        for d in tick.deliveries() {
            let (Some(a), Some(b)) = (pos.get(d.router.as_str()), pos.get(d.agent.as_str())) else { continue };
            let color = if app.mono {
                    Color::Reset
                } else {
                    match d.fate {
                        Some(Decision::Accept) => Color::Green,
                        Some(Decision::Hold) => Color::Yellow,
                        Some(Decision::Reject) => Color::Red,
                        None => Color::Blue,
                    }
                };
                ctx.draw(&CanvasLine { x1: a.0 + col_x(4), y1: a.1, x2: b.0 - col_x(1), y2: b.1, color });
        }
        ctx.layer();
        // Layer 3: labels.
        let node_style = |id: &str| -> Style {
            if Some(id) == sel {
                st(app, Role::Selected)
            } else if tick.involves(id) {
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

pub(super) fn attr_lines(app: &App, attrs: &BTreeMap<String, f64>, before: Option<&BTreeMap<String, f64>>, max: usize) -> Vec<Line<'static>> {
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

pub(super) fn client_detail(f: &mut Frame, app: &App, c: &Client, area: Rect) {
    let title = format!(
        "{} {} · {}",
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
    ];
    if !c.heard.is_empty() {
        // The accepted updates kept beside the profile, by router, and how much ranking counts.
        let parts: Vec<String> = c
            .heard
            .iter()
            .map(|(r, h)| {
                let mut top: Vec<(&String, &f64)> = h.iter().collect();
                top.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
                let shown: Vec<String> = top.iter().take(2).map(|(a, x)| format!("{} {:+.2}", s(a, 16), x)).collect();
                let more = if h.len() > 2 { format!(" +{}", h.len() - 2) } else { String::new() };
                format!("{} ×{:.2}: {}{more}", s(r, 12), app.world.update_gate(r), shown.join(", "))
            })
            .collect();
        lines.push(Line::from(Span::styled(format!("updates beside: {}", parts.join(" · ")), st(app, Role::Dim))));
    }
    lines.push(Line::from(Span::styled(format!(" {:<24}{:>6} {:>6}", "attribute", "weight", "step Δ"), st(app, Role::Dim))));
    // Every attribute and every evidence entry; the pane scrolls (Tab focuses it).
    lines.extend(attr_lines(app, &c.attrs, before, usize::MAX));
    if !c.evidence.is_empty() {
        lines.extend(evidence_lines(app, c, usize::MAX));
    }
    pane_lines(f, app, area, &title, lines, &app.scroll.detail, app.focus == Focus::Detail);
}

/// The evidence memory, strongest first: what each entry adds to its item's score now (its trust
/// times current similarity to the chooser, times the router's gate).
fn evidence_lines(app: &App, c: &Client, room: usize) -> Vec<Line<'static>> {
    let mut entries: Vec<(f64, &crate::world::evidence::EvidenceEntry)> =
        c.evidence.iter().map(|e| (app.world.entry_weight(c, e) * app.world.entry_gate(e), e)).collect();
    entries.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.item.cmp(&b.1.item)));
    let shown = room.saturating_sub(1);
    let mut lines = vec![Line::from(Span::styled(
        format!(" evidence: {} choice(s) heard · adds to the item's score", c.evidence.len()),
        st(app, Role::Dim),
    ))];
    for (adds, e) in entries.iter().take(shown) {
        lines.push(Line::from(vec![
            Span::raw(format!(" {:<12}", s(&e.item, 12))),
            Span::styled(format!("{adds:+.3}"), st(app, Role::Flight)),
            Span::styled(
                if app.world.is_co_choice(e) {
                    format!(" chosen by fans of {} · via {} · heard step {}", s(&e.chooser, 10), s(&e.router, 6), e.tick)
                } else {
                    format!(" chosen by {} · via {} · heard step {}", s(&e.chooser, 10), s(&e.router, 6), e.tick)
                },
                st(app, Role::Dim),
            ),
        ]));
    }
    lines
}

pub(super) fn buffer_panel(f: &mut Frame, app: &App, c: &Client, area: Rect) {
    let cap = app.branch().header.as_ref().map(|h| h.config.buffer.capacity.to_string()).unwrap_or_else(|| "?".into());
    let mut lines = Vec::new();
    if c.buffer.is_empty() {
        lines.push(Line::from(Span::styled(" empty: no messages waiting", st(app, Role::Dim))));
    }
    for b in c.buffer.iter() {
        let m = app.world.messages().get(&b.message);
        let what = m
            .map(|m| {
                m.content
                    .iter()
                    .map(|d| format!("{} {:+.2}", s(&d.attr, 16), d.delta))
                    .chain(m.evidence.iter().rev().map(|ch| format!("{} chose {}", s(&ch.user, 10), s(&ch.item, 10))))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let router = m.map(|m| m.router.clone()).unwrap_or_default();
        let age = app.world.cursor().tick.saturating_sub(b.arrived_tick);
        let held = b.held.as_ref().map(|h| format!(" · held by rule {} ({} steps)", h.rule, h.steps)).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!(" m{} ← {} ", b.message, s(&router, 8)), if b.held.is_some() { st(app, Role::Hold) } else { st(app, Role::Flight) }),
            Span::raw(s(&what, 60)),
            Span::styled(format!(" · rel {:.2} · age {age}{held}", b.relevance), st(app, Role::Dim)),
        ]));
    }
    pane_lines(f, app, area, &format!("Buffer {}/{cap}", c.buffer.len()), lines, &app.scroll.buffer, app.focus == Focus::Buffer);
}

pub(super) fn rules_panel(f: &mut Frame, app: &App, c: &Client, area: Rect) {
    let ev = app.current_event();
    let matched = ev.as_ref().and_then(|e| match &e.body {
        EventBody::FilterDecision { agent, rule, decision, .. } if *agent == c.id => rule.map(|r| (r, *decision)),
        _ => None,
    });
    // The rule a reward, credit, gradient or edit is about (the decision's colour is for filters).
    let about = ev.as_ref().and_then(crate::analysis::export::event_rule).filter(|(a, _)| *a == c.id).map(|(_, r)| r);
    let tw = (area.width as usize).saturating_sub(2 + 4 + 6 + 8 + 1).max(10);
    let mut lines = vec![Line::from(Span::styled(
        format!(" {:<3}{:<tw$}{:>6}{:>8}", "#", "rule (first match wins)", "hits", "credit"),
        st(app, Role::Dim),
    ))];
    for (i, r) in c.rules.iter().enumerate() {
        let text = crate::rules::print_rule(r);
        let hits = c.rule_hits.get(i).copied().unwrap_or(0);
        let credit = c.rule_credit.get(i).copied().unwrap_or(0.0);
        let style = match matched {
            Some((m, d)) if m == i + 1 => st(app, decision_role(d)).add_modifier(Modifier::BOLD),
            _ if about == Some(i + 1) => st(app, Role::Selected),
            _ => Style::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<3}{:<tw$}", i + 1, s(&text, tw - 1)), style),
            Span::raw(format!("{hits:>6}")),
            Span::styled(format!("{credit:>+8.3}"), if credit < 0.0 { st(app, Role::Reject) } else { Style::new() }),
        ]));
    }
    pane_lines(f, app, area, &format!("Rules ({} · e edits)", c.rules.len()), lines, &app.scroll.rules, app.focus == Focus::Rules);
}

pub(super) fn router_detail(f: &mut Frame, app: &App, r: &Router, detail: Rect, inbox: Rect, strategy: Rect) {
    let before = app.tick_start_world.router(&r.id).map(|b| &b.profile);
    // Summary and community wrap to the pane; the weights below are one line each.
    let width = detail.width.saturating_sub(2) as usize;
    let summary = s(&r.summary, 400);
    let community = format!("community: {}", r.attributes.iter().map(|a| s(a, 20)).collect::<Vec<_>>().join(", "));
    let mut lines: Vec<Line> = wrap_str(&summary, width).into_iter().map(Line::from).collect();
    lines.extend(wrap_str(&community, width).into_iter().map(|l| Line::from(Span::styled(l.to_string(), st(app, Role::Dim)))));
    lines.extend(attr_lines(app, &r.profile, before, usize::MAX));
    pane_lines(f, app, detail, &format!("Router {}", s(&r.id, 20)), lines, &app.scroll.detail, app.focus == Focus::Detail);
    let mut ib: Vec<Line> = r
        .inbox
        .iter()
        .map(|x| Line::from(format!(" {} {} {:+.2} (sim {:.2})", s(&x.agent, 10), s(&x.attr, 20), x.delta, x.similarity)))
        .collect();
    if ib.is_empty() {
        ib.push(Line::from(Span::styled(" inbox empty (a router has no message buffer)", st(app, Role::Dim))));
    }
    pane_lines(f, app, inbox, &format!("Inbox {} · buffer: none", r.inbox.len()), ib, &app.scroll.buffer, app.focus == Focus::Buffer);
    // A bounded list: a router of a huge world must not cost a frame per member.
    const SHOWN: usize = 40;
    let members: Vec<&str> = r.members.iter().map(|s| s.as_str()).take(SHOWN).collect();
    let plain = Style::new();
    let mut rows = vec![
        (format!(" sends to the top {} members above τ {:.2}", r.fan_out, r.tau), plain),
        (format!(" credit {:+.3} · {} messages sent", r.credit, r.messages_sent), plain),
        (
            format!(
                " gate {:.2}: its evidence counts ×{:.2} in receivers' scores · {} recent choice(s) to pass on",
                r.gate,
                r.gate,
                r.choices.len()
            ),
            plain,
        ),
        (
            format!(
                " update gate {:.2}: {:.0}% of what its accepted updates added to profiles counts in ranking",
                r.update_gate,
                100.0 * r.update_gate
            ),
            plain,
        ),
        (
            s(&format!(" {} members: {}{}", r.members.len(), members.join(" "), if r.members.len() > SHOWN { " …" } else { "" }), 0),
            plain,
        ),
        (" routers have no filter rules; their strategy is edited by the backward phase".to_string(), st(app, Role::Dim)),
    ];
    // Under the Bayesian gate rule: how much the gates have learned (a gate that learned much
    // moves little at the next interaction).
    if r.gate_precision > 0.0 || r.update_gate_precision > 0.0 {
        let line = format!(" learned so far (precision): gate {:.3} · update gate {:.3}", r.gate_precision, r.update_gate_precision);
        rows.insert(4, (line, plain));
    }
    pane_text(f, app, strategy, "Strategy (rules: none)", rows.iter().map(|(t, st)| (t.as_str(), *st)), &app.scroll.rules, app.focus == Focus::Rules);
}
