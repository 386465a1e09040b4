//! The diff view: what a branch changed against its parent, or one step against another.

use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;
use super::*;

pub(super) fn diff_view(f: &mut Frame, app: &App, area: Rect) {
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
