//! The diff view's text, prepared when the view is shown or the step moves, so drawing only
//! reads lines.

use super::*;

impl App {
    pub fn prepare_diff(&mut self) {
        let text = match &self.branch().diff {
            Some(d) => format!("What the edit changed downstream (whole runs, parent vs this branch):\n\n{d}"),
            None => {
                let (p, r, ro) = crate::analysis::diff::diff_worlds(&self.cursor.tick_start_world, &self.cursor.world);
                // While the branch is compared with its parent, say so above what the step changed.
                let mut o = if self.comparing(self.branches.current) {
                    "Comparing this branch with its parent (whole runs): the footer shows the job; Esc stops it, the branch stays.\n\n".to_string()
                } else {
                    String::new()
                };
                o.push_str(&format!(
                    "What this time step changed so far (state at step {} → step {}). Edit a rule (e) to fork a branch and compare runs.\n\n",
                    self.cursor.tick_start,
                    self.cursor.pos.saturating_sub(1)
                ));
                if p.is_empty() && r.is_empty() && ro.is_empty() {
                    o.push_str("nothing yet\n");
                }
                for d in p {
                    let parts: Vec<String> = d.attrs.iter().take(5).map(|a| format!("{} {:.3}→{:.3}", a.attr, a.a, a.b)).collect();
                    o.push_str(&format!("profile {}: {}\n", d.agent, parts.join(", ")));
                }
                // One rule a line, numbered as the rules pane numbers them: the view wraps them.
                for d in r {
                    o.push_str(&format!("rules of {}:\n", d.agent));
                    for (side, text) in [("before", &d.a), ("after", &d.b)] {
                        o.push_str(&format!("  {side}:\n"));
                        for (i, rule) in text.lines().enumerate() {
                            o.push_str(&format!("    {:<3}{rule}\n", i + 1));
                        }
                    }
                }
                for d in ro {
                    o.push_str(&format!("router {}: {} → {}\n", d.router, d.a, d.b));
                }
                o
            }
        };
        self.diff_lines = text.lines().map(|l| crate::util::text::sanitize(l, 2000)).collect();
    }
}
