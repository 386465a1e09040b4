//! Keys → actions, from an embedded TOML table (overridable). The same table builds the help
//! screen, so help never drifts from what the keys do.

use anyhow::{bail, Context, Result};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    StepForward,
    StepBack,
    StageForward,
    StageBack,
    PhaseForward,
    PhaseBack,
    TickForward,
    TickBack,
    RoundForward,
    RoundBack,
    First,
    Last,
    RunPause,
    Faster,
    Slower,
    Up,
    Down,
    PageUp,
    PageDown,
    PaneTop,
    PaneBottom,
    Open,
    FocusNext,
    FocusPrev,
    ShowInspect,
    ShowEvents,
    ShowMetrics,
    ShowDiff,
    Search,
    SearchNext,
    SearchPrev,
    Command,
    EditRules,
    AddBreakpoint,
    Breakpoints,
    PreviousHit,
    LogGoto,
    LecturePace,
    ScrollLeft,
    ScrollRight,
    ToggleBookmark,
    NextBookmark,
    ToggleFollow,
    NextBranch,
    Branches,
    SaveBranch,
    DeleteBranch,
    Help,
    Close,
    Quit,
}

impl Action {
    pub fn describe(self) -> &'static str {
        use Action::*;
        match self {
            StepForward => "one event forward",
            StepBack => "one event back",
            StageForward => "to the next stage",
            StageBack => "to the previous stage",
            PhaseForward => "to the next phase (forward/backward)",
            PhaseBack => "to the previous phase",
            TickForward => "to the next time step",
            TickBack => "to the previous time step",
            RoundForward => "to the next round",
            RoundBack => "to the previous round",
            First => "to the start",
            Last => "to the last event",
            RunPause => "run / pause",
            Faster => "run faster",
            Slower => "run slower",
            Up => "scroll up / previous agent",
            Down => "scroll down / next agent",
            PageUp => "page up in the focused pane",
            PageDown => "page down in the focused pane",
            PaneTop => "top of the focused pane",
            PaneBottom => "bottom of the focused pane",
            Open => "open the selected event or message",
            FocusNext => "focus the next pane",
            FocusPrev => "focus the previous pane",
            ShowInspect => "view: graph and agent",
            ShowEvents => "view: event log",
            ShowMetrics => "view: metrics",
            ShowDiff => "view: diff",
            Search => "search ids, titles, narration",
            SearchNext => "next search match",
            SearchPrev => "previous search match",
            Command => "command (:123 jumps to step 123, :help)",
            EditRules => "edit the agent's rules (forks a branch)",
            AddBreakpoint => "add a breakpoint",
            Breakpoints => "breakpoints: list, disable, delete",
            PreviousHit => "back to the last breakpoint hit",
            LogGoto => "event log: go to the event under the cursor",
            LecturePace => "one time step a second (lecture pace) on/off",
            ScrollLeft => "event log: scroll the text left",
            ScrollRight => "event log: scroll the text right",
            ToggleBookmark => "bookmark this step",
            NextBookmark => "jump to the next bookmark",
            ToggleFollow => "selection follows the event on/off",
            NextBranch => "switch to the next branch",
            Branches => "branches: list, open, save",
            SaveBranch => "save the branch (in the branch list)",
            DeleteBranch => "delete a branch (in the branch list)",
            Help => "this help",
            Close => "close popup / cancel newest job, long jump",
            Quit => "quit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeKey,
    pub ctrl: bool,
}

/// A hashable, orderable stand-in for the key codes we bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeKey {
    Char(char),
    Named(&'static str),
    F(u8),
}

const NAMED: &[(&str, KeyCode)] = &[
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("Backspace", KeyCode::Backspace),
];

pub fn parse_key(s: &str) -> Result<Key> {
    let (ctrl, rest) = match s.strip_prefix("Ctrl+") {
        Some(r) => (true, r),
        None => (false, s),
    };
    let code = if rest == "Space" {
        KeyCodeKey::Char(' ')
    } else if let Some(n) = NAMED.iter().find(|(n, _)| *n == rest) {
        KeyCodeKey::Named(n.0)
    } else if let Some(f) = rest.strip_prefix('F').and_then(|d| d.parse::<u8>().ok()) {
        KeyCodeKey::F(f)
    } else {
        let mut cs = rest.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) => KeyCodeKey::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            _ => bail!("unknown key {s:?}"),
        }
    };
    Ok(Key { code, ctrl })
}

pub fn key_of(ev: &KeyEvent) -> Option<Key> {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    let code = match ev.code {
        KeyCode::Char(c) => KeyCodeKey::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
        KeyCode::F(n) => KeyCodeKey::F(n),
        other => KeyCodeKey::Named(NAMED.iter().find(|(_, k)| *k == other)?.0),
    };
    Some(Key { code, ctrl })
}

pub fn key_name(k: &Key) -> String {
    let base = match k.code {
        KeyCodeKey::Char(' ') => "Space".to_string(),
        KeyCodeKey::Char(c) => c.to_string(),
        KeyCodeKey::Named(n) => match n {
            "Left" => "←".into(),
            "Right" => "→".into(),
            "Up" => "↑".into(),
            "Down" => "↓".into(),
            n => n.to_string(),
        },
        KeyCodeKey::F(n) => format!("F{n}"),
    };
    if k.ctrl {
        format!("Ctrl+{base}")
    } else {
        base
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    keys: BTreeMap<String, Action>,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: BTreeMap<Key, Action>,
}

impl Keymap {
    pub fn parse(text: &str, name: &str) -> Result<Keymap> {
        // Errors say where: the line and column of the value (or key) at fault.
        let at = |offset: usize| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{name}:{line}:{col}")
        };
        let file: KeymapFile =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {}", e.span().map_or_else(|| name.to_string(), |s| at(s.start)), e.message().trim_end()))?;
        let line_of = |k: &str| text.find(&format!("\"{k}\"")).or_else(|| text.find(k)).map_or_else(|| name.to_string(), at);
        let mut bindings = BTreeMap::new();
        for (k, a) in file.keys {
            let key = parse_key(&k).with_context(|| format!("{}: binding {k:?}", line_of(&k)))?;
            if let Some(prev) = bindings.insert(key, a) {
                bail!("{}: key {k:?} is bound twice ({prev:?} and {a:?})", line_of(&k));
            }
        }
        Ok(Keymap { bindings })
    }

    pub fn default_map() -> Keymap {
        Keymap::parse(DEFAULT_KEYMAP, "assets/keymap.toml").expect("the embedded keymap is valid")
    }

    /// The default map with a user's file laid over it.
    pub fn with_overrides(text: &str, name: &str) -> Result<Keymap> {
        let mut base = Keymap::default_map();
        let over = Keymap::parse(text, name)?;
        // A user's binding of an action replaces the default keys for that action.
        let actions: Vec<Action> = over.bindings.values().copied().collect();
        base.bindings.retain(|_, a| !actions.contains(a));
        base.bindings.extend(over.bindings);
        Ok(base)
    }

    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        key_of(ev).and_then(|k| self.bindings.get(&k).copied())
    }

    /// Keys per action, in the order actions are declared: the help screen's rows.
    pub fn help_rows(&self) -> Vec<(String, &'static str)> {
        let mut by_action: BTreeMap<Action, Vec<String>> = BTreeMap::new();
        for (k, a) in &self.bindings {
            by_action.entry(*a).or_default().push(key_name(k));
        }
        by_action.into_iter().map(|(a, keys)| (keys.join(" "), a.describe())).collect()
    }

    /// The first key bound to an action, for hints.
    pub fn key_for(&self, a: Action) -> String {
        // Prefer a plain character (what a hint should show) over named or Ctrl keys.
        self.bindings
            .iter()
            .filter(|(_, x)| **x == a)
            .min_by_key(|(k, _)| (k.ctrl, !matches!(k.code, KeyCodeKey::Char(_))))
            .map(|(k, _)| key_name(k))
            .unwrap_or_else(|| "?".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keymap_parses_and_dispatches() {
        let m = Keymap::default_map();
        let ev = KeyEvent::new(KeyCode::Char('l'), KeyModifiers::NONE);
        assert_eq!(m.action(&ev), Some(Action::StepForward));
        let ev = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(m.action(&ev), Some(Action::Quit));
        assert!(m.help_rows().iter().any(|(k, d)| k.contains('→') && d.contains("forward")));
    }

    #[test]
    fn bad_keymaps_fail_at_start() {
        // Each error names the line and column at fault (it named only the file).
        let e = Keymap::parse("[keys]\n\"x\" = \"quit\"\n\"Ctrl+Q\" = \"quitt\"\n", "k.toml").unwrap_err().to_string();
        assert!(e.starts_with("k.toml:3:12: unknown variant `quitt`"), "{e}");
        let e = Keymap::parse("[keys]\n\"Hyper+x\" = \"quit\"\n", "k.toml").unwrap_err();
        assert!(format!("{e:#}").starts_with("k.toml:2:1: binding \"Hyper+x\""), "{e:#}");
        // The same key spelled two ways.
        let e = Keymap::parse("[keys]\n\"Space\" = \"quit\"\n\" \" = \"help\"\n", "k.toml").unwrap_err();
        assert!(e.to_string().contains("bound twice"), "{e}");
        let m = Keymap::with_overrides("[keys]\n\"x\" = \"quit\"\n", "k.toml").unwrap();
        assert_eq!(m.action(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)), Some(Action::Quit));
        assert_eq!(m.action(&KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)), None);
    }
}
