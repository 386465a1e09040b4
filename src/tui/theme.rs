//! The inspector's colours: the built-in themes, and `theme.toml` (beside `keymap.toml` in the
//! config directory, or `--theme FILE`) laid over one of them.
//!
//! ```toml
//! theme = "high-contrast"   # the base: "default" or "high-contrast"
//! [colors]                  # any of the roles, as a colour name, an index (0-255) or #rrggbb
//! accepted = "#00ff00"
//! selected = "yellow"       # the selection's background (its text turns black)
//! ```

use anyhow::{bail, Result};
use ratatui::style::{Color, Modifier, Style};

/// What a colour says on screen; each has a key in `[colors]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Accent,
    Accept,
    Hold,
    Reject,
    Flight,
    Dim,
    Selected,
    Changed,
}

const ROLES: [(Role, &str); 8] = [
    (Role::Accent, "accent"),
    (Role::Accept, "accepted"),
    (Role::Hold, "held"),
    (Role::Reject, "rejected"),
    (Role::Flight, "waiting"),
    (Role::Dim, "dim"),
    (Role::Selected, "selected"),
    (Role::Changed, "changed"),
];

pub const BUILT_IN: [&str; 2] = ["default", "high-contrast"];

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    styles: [Style; 8],
}

impl Default for Theme {
    /// Accents only: the terminal's own foreground and background stay, so light and dark
    /// terminals both read.
    fn default() -> Theme {
        Theme {
            styles: [
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                Style::new().fg(Color::Green),
                Style::new().fg(Color::Yellow),
                Style::new().fg(Color::Red),
                Style::new().fg(Color::Blue),
                Style::new().add_modifier(Modifier::DIM),
                Style::new().add_modifier(Modifier::REVERSED),
                Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
            ],
        }
    }
}

impl Theme {
    /// Bright, bold colours and no dimmed text (dim text is the first to vanish on a projector).
    pub fn high_contrast() -> Theme {
        let bold = |c: Color| Style::new().fg(c).add_modifier(Modifier::BOLD);
        Theme {
            styles: [
                bold(Color::LightCyan),
                bold(Color::LightGreen),
                bold(Color::LightYellow),
                bold(Color::LightRed),
                bold(Color::LightBlue),
                Style::new(),
                Style::new().fg(Color::Black).bg(Color::LightYellow).add_modifier(Modifier::BOLD),
                bold(Color::LightMagenta),
            ],
        }
    }

    pub fn built_in(name: &str) -> Option<Theme> {
        match name {
            "default" => Some(Theme::default()),
            "high-contrast" => Some(Theme::high_contrast()),
            _ => None,
        }
    }

    pub fn style(&self, role: Role) -> Style {
        self.styles[role as usize]
    }

    /// A `theme.toml`; errors name the key and its line (`name:line: key: …`).
    pub fn parse(text: &str, name: &str) -> Result<Theme> {
        let table: toml::Table = toml::from_str(text).map_err(|e| anyhow::anyhow!("{name}: {}", e.message().trim()))?;
        // Keys' lines, found in the text (toml's table keeps values, not where their keys were).
        let line_of = |key: &str, section: Option<&str>| -> usize {
            let mut in_section = section.is_none();
            for (n, l) in text.lines().enumerate() {
                let l = l.trim();
                if l.starts_with('[') {
                    in_section = section.is_some_and(|s| l.trim_start_matches('[').trim_end_matches(']').trim() == s);
                } else if in_section && l.split('=').next().is_some_and(|k| k.trim().trim_matches('"') == key) {
                    return n + 1;
                }
            }
            0
        };
        let at = |key: &str, section: Option<&str>| -> String {
            match line_of(key, section) {
                0 => name.to_string(),
                n => format!("{name}:{n}"),
            }
        };
        let mut theme = Theme::default();
        if let Some(base) = table.get("theme") {
            let Some(b) = base.as_str() else { bail!("{}: theme: a theme's name is text, one of {}", at("theme", None), BUILT_IN.join(", ")) };
            theme = Theme::built_in(b)
                .ok_or_else(|| anyhow::anyhow!("{}: theme: no built-in theme {b:?} (there are {})", at("theme", None), BUILT_IN.join(", ")))?;
        }
        for (key, value) in &table {
            match key.as_str() {
                "theme" => {}
                "colors" => {
                    let Some(colors) = value.as_table() else { bail!("{}: colors: a table of role = \"colour\"", at("colors", None)) };
                    for (role_key, c) in colors {
                        let place = at(role_key, Some("colors"));
                        let known: Vec<&str> = ROLES.iter().map(|(_, k)| *k).collect();
                        let Some((role, _)) = ROLES.iter().find(|(_, k)| k == role_key) else {
                            bail!("{place}: colors.{role_key}: no such colour (there are {})", known.join(", "))
                        };
                        let colour = c.as_str().and_then(|s| s.parse::<Color>().ok()).ok_or_else(|| {
                            anyhow::anyhow!("{place}: colors.{role_key}: {c} is not a colour (a name like \"green\", an index 0-255, or \"#rrggbb\")")
                        })?;
                        theme.styles[*role as usize] = match role {
                            // The selection is a background: its text must stay readable on it.
                            Role::Selected => Style::new().fg(Color::Black).bg(colour).add_modifier(Modifier::BOLD),
                            _ => theme.styles[*role as usize].fg(colour).remove_modifier(Modifier::DIM),
                        };
                    }
                }
                other => bail!("{}: {other}: no such key (a theme file has `theme` and `[colors]`)", at(other, None)),
            }
        }
        Ok(theme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lays_its_colours_over_a_built_in_theme() {
        let t = Theme::parse("theme = \"high-contrast\"\n[colors]\naccepted = \"#00ff00\"\nselected = \"blue\"\n", "theme.toml").unwrap();
        assert_eq!(t.style(Role::Accept).fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(t.style(Role::Selected).bg, Some(Color::Blue));
        // What the file does not name comes from its base.
        assert_eq!(t.style(Role::Reject), Theme::high_contrast().style(Role::Reject));
        assert_eq!(Theme::parse("", "theme.toml").unwrap(), Theme::default());
    }

    #[test]
    fn bad_keys_and_colours_are_errors_naming_the_key_and_line() {
        let e = Theme::parse("[colors]\naccent = \"cyan\"\nacepted = \"green\"\n", "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:3: colors.acepted: no such colour") && e.contains("accepted"), "{e}");
        let e = Theme::parse("[colors]\n\nheld = \"yelow\"\n", "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:3: colors.held: \"yelow\" is not a colour"), "{e}");
        let e = Theme::parse("# mine\ntheme = \"neon\"\n", "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:2: theme: no built-in theme \"neon\""), "{e}");
        let e = Theme::parse("colours = 1\n", "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:1: colours: no such key"), "{e}");
        let e = Theme::parse("[colors\n", "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml: "), "{e}");
    }

    #[test]
    fn the_high_contrast_theme_dims_nothing() {
        let t = Theme::built_in("high-contrast").unwrap();
        for (role, _) in ROLES {
            assert!(!t.style(role).add_modifier.contains(Modifier::DIM), "{role:?}");
        }
        assert!(Theme::built_in("neon").is_none());
    }
}
