//! The inspect view: the graph of users, routers and items with this time step's messages, and
//! the selected agent's profile, buffer and rules (or a router's inbox and strategy).

use super::graph::{graph, legend};
use super::*;
use crate::tui::app::{App, Focus};
use crate::util::text::pad;
use crate::world::event::EventBody;
use crate::world::{Client, Router};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;
use std::collections::BTreeMap;

pub(super) fn inspect(f: &mut Frame, app: &App, area: Rect) {
    let [panes, key] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(panes);
    graph(f, app, left);
    f.render_widget(Paragraph::new(legend(app, key.width)), key);
    let [detail, buffer, rules] = Layout::vertical([Constraint::Percentage(42), Constraint::Percentage(26), Constraint::Percentage(32)]).areas(right);
    let sel = app.cursor.selected.as_deref();
    if let Some(c) = sel.and_then(|id| app.cursor.world.client(id)) {
        client_detail(f, app, c, detail);
        buffer_panel(f, app, c, buffer);
        rules_panel(f, app, c, rules);
    } else if let Some(r) = sel.and_then(|id| app.cursor.world.router(id)) {
        router_detail(f, app, r, detail, buffer, rules);
    } else {
        // A selection kept across steps (or branches) may name an agent that only joins later.
        let msg = match sel {
            Some(id) => {
                let room = (detail.width as usize).saturating_sub(2);
                let tail = " does not exist yet at this step.";
                let name = crate::util::text::fit(id, room.saturating_sub(crate::util::text::cells(tail)).max(8));
                crate::util::text::fit(&format!("{name}{tail}"), room)
            }
            None => "No agent selected (j/k to choose).".to_string(),
        };
        pane_lines(f, app, detail, "Agent", vec![Line::from(msg)], &app.scroll.detail, app.focus == Focus::Detail);
        pane_lines(f, app, buffer, "Buffer", Vec::new(), &app.scroll.buffer, app.focus == Focus::Buffer);
        pane_lines(f, app, rules, "Rules", Vec::new(), &app.scroll.rules, app.focus == Focus::Rules);
    }
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
            Span::styled(format!(" {}", pad(a, 24)), style),
            Span::styled(format!("{w:>6.2}"), if w < 0.0 { st(app, Role::Reject) } else { Style::new() }),
            Span::styled(format!(" {d:>6}"), style),
        ]));
    }
    out
}

pub(super) fn client_detail(f: &mut Frame, app: &App, c: &Client, area: Rect) {
    let title = format!("{} {} · {}", cut(&c.id, 20), c.title.as_deref().map(|t| format!("“{}”", cut(t, 30))).unwrap_or_default(), c.kind.name());
    let before = app.cursor.tick_start_world.client(&c.id).map(|b| &b.attrs);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("routers ", st(app, Role::Dim)),
            Span::raw(if c.routers.is_empty() { "none".into() } else { c.routers.iter().cloned().collect::<Vec<_>>().join(", ") }),
            Span::styled(format!(" · {}", crate::util::text::counted(c.interactions, "interaction", "interactions")), st(app, Role::Dim)),
        ]),
        Line::from(cut(&crate::world::profile_text(&c.attrs, 4), 300)),
    ];
    if !c.heard.is_empty() {
        // The accepted updates kept beside the profile, by router, and how much ranking counts.
        let parts: Vec<String> = c
            .heard
            .iter()
            .map(|(r, h)| {
                let mut top: Vec<(&String, &f64)> = h.iter().collect();
                top.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
                let shown: Vec<String> = top.iter().take(2).map(|(a, x)| format!("{} {:+.2}", cut(a, 16), x)).collect();
                let more = if h.len() > 2 { format!(" +{}", h.len() - 2) } else { String::new() };
                format!("{} ×{:.2}: {}{more}", cut(r, 12), app.cursor.world.update_gate(r), shown.join(", "))
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
    // Long lines (the profile, the updates, an evidence entry) wrap: the pane scrolls.
    pane_lines(f, app, area, &title, wrap_to(area, lines, 2), &app.scroll.detail, app.focus == Focus::Detail);
}

/// The evidence memory, strongest first: what each entry adds to its item's score now (its trust
/// times current similarity to the chooser, times the router's gate).
fn evidence_lines(app: &App, c: &Client, room: usize) -> Vec<Line<'static>> {
    let mut entries: Vec<(f64, &crate::world::evidence::EvidenceEntry)> =
        c.evidence.iter().map(|e| (app.cursor.world.entry_weight(c, e) * app.cursor.world.entry_gate(e), e)).collect();
    entries.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.item.cmp(&b.1.item)));
    let shown = room.saturating_sub(1);
    let mut lines = vec![Line::from(Span::styled(format!(" evidence: {} choice(s) heard · adds to the item's score", c.evidence.len()), st(app, Role::Dim)))];
    for (adds, e) in entries.iter().take(shown) {
        lines.push(Line::from(vec![
            Span::raw(format!(" {}", pad(&e.item, 12))),
            Span::styled(format!("{adds:+.3}"), st(app, Role::Flight)),
            Span::styled(
                if app.cursor.world.is_co_choice(e) {
                    format!(" chosen by fans of {} · via {} · heard step {}", cut(&e.chooser, 10), cut(&e.router, 6), e.tick)
                } else {
                    format!(" chosen by {} · via {} · heard step {}", cut(&e.chooser, 10), cut(&e.router, 6), e.tick)
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
        let m = app.cursor.world.messages().get(&b.message);
        let what = m
            .map(|m| {
                m.content
                    .iter()
                    .map(|d| format!("{} {:+.2}", cut(&d.attr, 16), d.delta))
                    .chain(m.evidence.iter().rev().map(|ch| format!("{} chose {}", cut(&ch.user, 10), cut(&ch.item, 10))))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let router = m.map(|m| m.router.clone()).unwrap_or_default();
        let age = app.cursor.world.cursor().tick.saturating_sub(b.arrived_tick);
        // The short state first (a hold, its rule and steps; age; relevance), the content last:
        // a row cut to its pane loses only the content, which Enter opens whole.
        let role = if b.held.is_some() { Role::Hold } else { Role::Flight };
        let held =
            b.held.as_ref().map(|h| format!("held (rule {}, up to {} step{}) · ", h.rule, h.steps, if h.steps == 1 { "" } else { "s" })).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!(" m{} ← {} ", b.message, cut(&router, 8)), st(app, role)),
            Span::styled(held, st(app, role)),
            Span::styled(format!("age {age} · rel {:.2} · ", b.relevance), st(app, Role::Dim)),
            Span::raw(cut(&what, 60)),
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
    let mut lines = vec![Line::from(Span::styled(format!(" {:<3}{:<tw$}{:>6}{:>8}", "#", "rule (first match wins)", "hits", "credit"), st(app, Role::Dim)))];
    let texts: Vec<String> = c.rules.iter().map(|r| cut(&crate::rules::print_rule(r), 0)).collect();
    // A rule longer than its column goes on under itself when every rule then still fits the
    // pane; otherwise each keeps one row (rule r on row r, where follow scrolls) and `e` shows
    // them whole.
    let wrapped: Vec<Vec<String>> = texts.iter().map(|t| wrap_cells(t, tw, usize::MAX)).collect();
    let wrap = wrapped.iter().map(|w| w.len().max(1)).sum::<usize>() < area.height.saturating_sub(2) as usize;
    for (i, text) in texts.iter().enumerate() {
        let hits = c.rule_hits.get(i).copied().unwrap_or(0);
        let credit = c.rule_credit.get(i).copied().unwrap_or(0.0);
        let style = match matched {
            Some((m, d)) if m == i + 1 => st(app, decision_role(d)).add_modifier(Modifier::BOLD),
            _ if about == Some(i + 1) => st(app, Role::Selected),
            _ => Style::new(),
        };
        let first = if wrap { wrapped[i].first().cloned().unwrap_or_default() } else { text.clone() };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<3}{}", i + 1, pad(&first, tw)), style),
            Span::raw(format!("{hits:>6}")),
            Span::styled(format!("{:>8}", signed_small(credit)), if credit < 0.0 { st(app, Role::Reject) } else { Style::new() }),
        ]));
        if wrap {
            lines.extend(wrapped[i].iter().skip(1).map(|row| Line::from(Span::styled(format!("    {}", pad(row, tw)), style))));
        }
    }
    pane_lines(f, app, area, &format!("Rules ({} · e edits)", c.rules.len()), lines, &app.scroll.rules, app.focus == Focus::Rules);
}

pub(super) fn router_detail(f: &mut Frame, app: &App, r: &Router, detail: Rect, inbox: Rect, strategy: Rect) {
    let before = app.cursor.tick_start_world.router(&r.id).map(|b| &b.profile);
    // Summary and community wrap to the pane; the weights below are one line each.
    let width = detail.width.saturating_sub(2) as usize;
    let summary = cut(&r.summary, 400);
    let community = format!("community: {}", r.attributes.iter().map(|a| cut(a, 20)).collect::<Vec<_>>().join(", "));
    let mut lines: Vec<Line> = wrap_line(Line::from(summary), width, 0);
    lines.extend(wrap_line(Line::from(Span::styled(community, st(app, Role::Dim))), width, 0));
    lines.extend(attr_lines(app, &r.profile, before, usize::MAX));
    pane_lines(f, app, detail, &format!("Router {}", cut(&r.id, 20)), lines, &app.scroll.detail, app.focus == Focus::Detail);
    let mut ib: Vec<Line> =
        r.inbox.iter().map(|x| Line::from(format!(" {} {} {:+.2} (sim {:.2})", cut(&x.agent, 10), cut(&x.attr, 20), x.delta, x.similarity))).collect();
    if ib.is_empty() {
        ib.push(Line::from(Span::styled(" inbox empty (a router has no message buffer)", st(app, Role::Dim))));
    }
    pane_lines(f, app, inbox, &format!("Inbox {} · buffer: none", r.inbox.len()), ib, &app.scroll.buffer, app.focus == Focus::Buffer);
    // A bounded list: a router of a huge world must not cost a frame per member.
    const SHOWN: usize = 40;
    // In the order the world made them (u2 before u10), not as text sorts them.
    let clients = app.cursor.world.clients();
    let members: Vec<&str> = if r.member_ix.len() == r.members.len() {
        r.member_ix.iter().filter_map(|&ix| clients.get(ix)).map(|c| c.id.as_str()).take(SHOWN).collect()
    } else {
        // A state read back from a keyframe file keeps the names only.
        r.members.iter().map(|s| s.as_str()).take(SHOWN).collect()
    };
    let plain = Style::new();
    let mut rows = vec![
        (format!(" sends to the top {} members above τ {:.2}", r.fan_out, r.tau), plain),
        (format!(" credit {} · {} messages sent", signed_small(r.credit), r.messages_sent), plain),
        (format!(" gate {:.2}: its evidence counts ×{:.2} in receivers' scores · {} recent choice(s) to pass on", r.gate, r.gate, r.choices.len()), plain),
        (format!(" update gate {:.2}: {:.0}% of what its accepted updates added to profiles counts in ranking", r.update_gate, 100.0 * r.update_gate), plain),
        (cut(&format!(" {} members: {}{}", r.members.len(), members.join(" "), if r.members.len() > SHOWN { " …" } else { "" }), 0), plain),
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

/// A signed figure with three decimals, or in scientific notation when those would round a
/// credit that is not zero to `+0.000` (R1's 0.0004 read as nothing).
fn signed_small(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.0005 {
        format!("{x:+.1e}")
    } else {
        format!("{x:+.3}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_credit_is_not_shown_as_nothing() {
        assert_eq!(super::signed_small(0.0004), "+4.0e-4");
        assert_eq!(super::signed_small(-0.00012), "-1.2e-4");
        assert_eq!(super::signed_small(0.0), "+0.000");
        assert_eq!(super::signed_small(0.25), "+0.250");
    }
}
