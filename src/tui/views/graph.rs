//! The agent graph: users │ routers │ items, the selection's memberships and this time step's
//! messages, with a one-line legend under it.

use super::neighbourhood::neighbourhood;
use super::*;
use crate::tui::app::{App, Focus};
use crate::util::text::{cells, fit};
use crate::world::event::{ClientKind, Decision};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::widgets::canvas::{Canvas, Context, Points};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// The ids to show in a column of `rows` lines, in their order, and how many are hidden. When
/// they do not all fit, the lowest ranks are kept (one "+N hidden" row is left). A bounded heap:
/// a frame must not cost an allocation per agent of a huge world.
fn pick<'a>(ids: impl Iterator<Item = (&'a str, u32)>, rows: usize) -> (Vec<&'a str>, usize) {
    let mut best: BinaryHeap<(u32, usize, &'a str)> = BinaryHeap::new();
    let mut total = 0;
    for (i, (id, rank)) in ids.enumerate() {
        total += 1;
        if best.len() < rows {
            best.push((rank, i, id));
        } else if best.peek().is_some_and(|worst| rank < worst.0) {
            best.pop();
            best.push((rank, i, id));
        }
    }
    if total > rows {
        best.pop();
    }
    let mut chosen = best.into_vec();
    chosen.sort_unstable_by_key(|c| c.1);
    let shown = chosen.len();
    (chosen.into_iter().map(|(_, _, id)| id).collect(), total - shown)
}

/// How a message's fate is drawn: the colour, a glyph at its head, and its line's dash pattern
/// (dots on, dots off), so the fate reads without colour too (`--mono`, NO_COLOR).
fn fate_look(fate: Option<Decision>) -> (Role, &'static str, (usize, usize)) {
    match fate {
        Some(Decision::Accept) => (Role::Accept, "✓", (1, 0)),
        Some(Decision::Hold) => (Role::Hold, "‖", (5, 2)),
        Some(Decision::Reject) => (Role::Reject, "✗", (2, 2)),
        None => (Role::Flight, "…", (3, 1)),
    }
}

/// Membership is a faint dotted line, unlike any message's.
const MEMBERSHIP_DASH: (usize, usize) = (1, 3);

/// The legend under the graph: node glyphs, the two kinds of line, and the fates (in words
/// where there is room, 80 columns included).
pub(super) fn legend(app: &App, width: u16) -> Line<'static> {
    let wide = width >= 110;
    let (nodes, member, message) = if wide {
        (" ●user ◆router ■item · ", "┈ membership", " · ─▸ message (router → agent): ")
    } else {
        (" ●user ◆router ■item ", "┈member", " ─▸message: ")
    };
    let mut spans = vec![Span::raw(nodes), Span::styled(member, st(app, Role::Dim)), Span::raw(message)];
    for (fate, name) in [(Some(Decision::Accept), "accepted"), (Some(Decision::Hold), "held"), (Some(Decision::Reject), "rejected"), (None, "waiting")] {
        let (role, glyph, _) = fate_look(fate);
        let name = if wide && fate.is_none() { "waiting in a buffer" } else { name };
        spans.push(Span::styled(if wide { format!("{glyph} {name}  ") } else { format!("{glyph}{name} ") }, st(app, role)));
    }
    Line::from(spans)
}

/// A line of braille dots from (x1, y1) to (x2, y2) in `dash`'s pattern, at the canvas's
/// resolution (`w`×`h` cells, two dots by four a cell).
#[allow(clippy::too_many_arguments)]
fn dashed(ctx: &mut Context, (x1, y1): (f64, f64), (x2, y2): (f64, f64), dash: (usize, usize), w: usize, h: usize, color: Color) {
    let dots = ((x2 - x1).abs() * w as f64 * 2.0 / 100.0).max((y2 - y1).abs() * h as f64 * 4.0 / 100.0).ceil() as usize;
    let period = dash.0 + dash.1;
    let coords: Vec<(f64, f64)> = (0..=dots)
        .filter(|k| k % period.max(1) < dash.0)
        .map(|k| {
            let t = k as f64 / dots.max(1) as f64;
            (x1 + (x2 - x1) * t, y1 + (y2 - y1) * t)
        })
        .collect();
    ctx.draw(&Points { coords: &coords, color });
}

pub(super) fn graph(f: &mut Frame, app: &App, area: Rect) {
    let focused = app.focus == Focus::Agents;
    let rows = area.height.saturating_sub(2) as usize;
    let tick = &app.cursor.tick;
    let sel = app.cursor.selected.as_deref();
    // When a column does not fit, it shows the selection's neighbourhood, then this step's agents.
    let overflows = app.cursor.world.routers().len() > rows
        || [ClientKind::User, ClientKind::Item].iter().any(|k| app.cursor.world.clients().iter().filter(|c| c.kind == *k).count() > rows);
    let near: HashMap<&str, u32> = match sel {
        Some(id) if overflows => neighbourhood(&app.cursor.world, tick, id, rows),
        _ => HashMap::new(),
    };
    let rank = |id: &str| -> u32 {
        if Some(id) == sel {
            0
        } else if let Some(k) = near.get(id) {
            *k
        } else if tick.involves(id) {
            u32::MAX - 1
        } else {
            u32::MAX
        }
    };
    let clients_of = |kind: ClientKind| app.cursor.world.clients().iter().filter(move |c| c.kind == kind).map(|c| (c.id.as_str(), rank(&c.id)));
    let (u, uh) = pick(clients_of(ClientKind::User), rows);
    let (r, rh) = pick(app.cursor.world.routers().iter().map(|r| (r.id.as_str(), rank(&r.id))), rows);
    let (i, ih) = pick(clients_of(ClientKind::Item), rows);
    // What the columns hold comes first, short: an 80-column pane cuts its title after ~34
    // cells. It names only what is drawn: a selection not (yet) in this step's world, or with
    // no routers to be around, is said to be so.
    let around = match sel {
        Some(id) if !(u.contains(&id) || r.contains(&id) || i.contains(&id)) => format!(" · no {} yet", fit(id, 12)),
        Some(id) if uh + rh + ih > 0 && app.cursor.world.client(id).is_some_and(|c| c.routers.is_empty()) => format!(" ({}: no routers)", fit(id, 12)),
        Some(id) if uh + rh + ih > 0 => format!(" around {}", fit(id, 12)),
        _ => String::new(),
    };
    let block = Block::bordered()
        .title(if focused {
            format!("▸ Agent graph{around}: users │ routers │ items (j/k select) ")
        } else {
            format!(" Agent graph{around}: users │ routers │ items ")
        })
        .border_style(if focused { st(app, Role::Accent) } else { Style::new() });
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 3 || inner.width < 20 {
        return;
    }
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
        // By cells, not characters: a CJK title takes two a character.
        let t = app.cursor.world.client(id).and_then(|c| c.title.as_deref()).map(|t| format!(" {}", fit(t, col_w))).unwrap_or_default();
        fit(&format!("{}{}", fit(id, 10), t), col_w.saturating_sub(2))
    };
    let router_col = wc * 2 / 5;
    // Where lines meet each node: a user's right end, a router's left, an item's left.
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut item_col: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, id) in u.iter().enumerate() {
        pos.insert(id, (col_x(cells(&label(id)) + 1), y_of(k, u.len())));
    }
    for (k, id) in r.iter().enumerate() {
        pos.insert(id, (col_x(router_col), y_of(k, r.len())));
    }
    for (k, id) in i.iter().enumerate() {
        let c = wc.saturating_sub(cells(&label(id)) + 2);
        item_col.insert(id, c);
        pos.insert(id, (col_x(c), y_of(k, i.len())));
    }
    let ux = col_x(0);
    let rx = col_x(router_col);
    let colour = |role: Role| if app.mono { Color::Reset } else { st(app, role).fg.unwrap_or(Color::Reset) };
    let faint = if app.mono { Color::Reset } else { Color::DarkGray };
    let canvas = Canvas::default().marker(Marker::Braille).x_bounds([0.0, 100.0]).y_bounds([0.0, 100.0]).paint(|ctx| {
        // Layer 1: the selection's memberships, dotted.
        let mut member = |a: (f64, f64), b: (f64, f64)| dashed(ctx, a, b, MEMBERSHIP_DASH, wc, hc, faint);
        if let Some(c) = sel.and_then(|id| app.cursor.world.client(id)) {
            for rid in &c.routers {
                if let (Some(a), Some(b)) = (pos.get(c.id.as_str()), pos.get(rid.as_str())) {
                    member(*a, *b);
                }
            }
        }
        if let Some(rt) = sel.and_then(|id| app.cursor.world.router(id)) {
            // The members on screen (a router of a huge world has thousands), in member order.
            if let Some(a) = pos.get(rt.id.as_str()) {
                for b in pos.iter().filter(|(m, _)| rt.members.contains(**m)).map(|(_, b)| b) {
                    member(*a, *b);
                }
            }
        }
        // Layer 2: this step's messages, router → agent, dashed by fate; heads come with the labels.
        for d in tick.deliveries() {
            let (Some(a), Some(b)) = (pos.get(d.router.as_str()), pos.get(d.agent.as_str())) else { continue };
            let (role, _, dash) = fate_look(d.fate);
            // The line stops short of the head (two cells: arrow and fate).
            let end = if b.0 < a.0 { b.0 + col_x(2) } else { b.0 - col_x(3) };
            dashed(ctx, (a.0 + col_x(1), a.1), (end, b.1), dash, wc, hc, colour(role));
        }
        ctx.layer();
        // Layer 3: labels, then the heads of the messages beside their receivers.
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
            let n = app.cursor.world.router(id).map(|r| r.members.len()).unwrap_or(0);
            ctx.print(rx, y_of(k, r.len()), Span::styled(format!("◆{} ({n})", fit(id, 8)), node_style(id)));
        }
        for id in &i {
            let (x, y) = pos[id];
            ctx.print(x, y, Span::styled(format!("■{}", label(id)), node_style(id)));
        }
        for d in tick.deliveries() {
            let (Some(a), Some(b)) = (pos.get(d.router.as_str()), pos.get(d.agent.as_str())) else { continue };
            let (role, glyph, _) = fate_look(d.fate);
            let (x, head) = if b.0 < a.0 {
                (b.0, format!("◂{glyph}"))
            } else {
                (col_x(item_col.get(d.agent.as_str()).copied().unwrap_or(0).saturating_sub(2)), format!("{glyph}▸"))
            };
            ctx.print(x, b.1, Span::styled(head, st(app, role)));
        }
        // The items' count starts early enough to end inside the pane ("+26 hidde" was cut).
        let items_hidden = format!("+{ih} hidden");
        let items_x = col_x((wc * 3 / 4).min(wc.saturating_sub(items_hidden.chars().count())));
        for (hidden, x) in [(uh, ux), (rh, rx), (ih, items_x)] {
            if hidden > 0 {
                ctx.print(x, row_y(hc - 1), Span::styled(format!("+{hidden} hidden"), st(app, Role::Dim)));
            }
        }
    });
    f.render_widget(canvas, inner);
}
