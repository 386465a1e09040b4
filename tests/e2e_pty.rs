//! End to end in a real pseudo-terminal: the demo opens, steps, shows help, quits, and leaves the
//! terminal as it found it.

use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use std::io::{Read, Write};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

struct Screen {
    parser: vt100::Parser,
    rx: Receiver<Vec<u8>>,
    raw: Vec<u8>,
}

impl Screen {
    fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while let Ok(bytes) = self.rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            self.parser.process(&bytes);
            self.raw.extend_from_slice(&bytes);
            if Instant::now() >= end {
                break;
            }
        }
    }
    /// The screen's text, trailing blanks trimmed (a cleared cell and a written space read alike).
    fn text(&self) -> String {
        self.parser.screen().contents().lines().map(|l| l.trim_end()).collect::<Vec<_>>().join("\n")
    }
    fn wait_for(&mut self, needle: &str) -> bool {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if self.text().contains(needle) {
                return true;
            }
            self.pump(Duration::from_millis(100));
        }
        false
    }
    /// Let the screen settle: no new bytes for a while.
    fn settle(&mut self) {
        loop {
            let before = self.raw.len();
            self.pump(Duration::from_millis(300));
            if self.raw.len() == before {
                return;
            }
        }
    }
}

/// A recnet process in a pseudo-terminal, its output read into a `Screen` on a thread. The
/// terminal's master side is kept: dropping it hangs the terminal up.
struct Pty {
    screen: Screen,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

fn spawn<S: AsRef<std::ffi::OsStr>>(rows: u16, cols: u16, args: impl IntoIterator<Item = S>, cwd: Option<&std::path::Path>) -> Pty {
    let pair = native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_recnet"));
    cmd.args(args);
    if let Some(dir) = cwd {
        cmd.cwd(dir);
    }
    cmd.env("TERM", "xterm-256color");
    let child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let writer = pair.master.take_writer().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let screen = Screen { parser: vt100::Parser::new(rows, cols, 0), rx, raw: Vec::new() };
    Pty { screen, writer, child, _master: pair.master }
}

#[test]
fn demo_in_a_pty() {
    let Pty { screen: mut s, mut writer, mut child, _master } = spawn(40, 120, ["demo"], None);
    assert!(s.wait_for("Agent graph"), "the inspector did not open:\n{}", s.text());
    s.settle();
    let first = s.text();
    for word in ["router", "buffer", "rules", "help"] {
        assert!(first.to_lowercase().contains(word), "no {word} on the first screen:\n{first}");
    }
    for _ in 0..5 {
        writer.write_all(b"l").unwrap();
        writer.flush().unwrap();
        s.pump(Duration::from_millis(60));
    }
    s.settle();
    assert_ne!(s.text(), first, "five steps forward changed nothing");
    for _ in 0..5 {
        writer.write_all(b"h").unwrap();
        writer.flush().unwrap();
        s.pump(Duration::from_millis(60));
    }
    s.settle();
    assert_eq!(s.text(), first, "five steps back did not return to the first screen");
    writer.write_all(b"?").unwrap();
    writer.flush().unwrap();
    assert!(s.wait_for("Help"), "? shows no help");
    writer.write_all(b"\x1b").unwrap();
    writer.flush().unwrap();
    s.settle();
    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < end, "q did not quit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    s.pump(Duration::from_millis(200));
    // The alternate screen was left and the cursor shown again.
    let raw = String::from_utf8_lossy(&s.raw);
    let left_alt = raw.rfind("\x1b[?1049l").expect("the alternate screen was never left");
    assert!(raw.rfind("\x1b[?1049h").unwrap() < left_alt);
    assert!(raw[left_alt..].contains("\x1b[?25h") || raw.rfind("\x1b[?25h").unwrap() > raw.rfind("\x1b[?25l").unwrap_or(0));
}

/// Closing the terminal under the inspector (a killed tmux pane, a dropped ssh session) makes it
/// leave instead of spinning on the dead tty. A replay sitting idle is the case that spun: its
/// loop waits in crossterm's `poll`, which never returns once the tty is gone.
#[test]
fn the_inspector_leaves_when_its_terminal_hangs_up() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("demo.jsonl");
    let recorded =
        std::process::Command::new(env!("CARGO_BIN_EXE_recnet")).args(["run", "--scenario", "demo", "--rounds", "1", "--out"]).arg(&session).output().unwrap();
    assert!(recorded.status.success(), "{}", String::from_utf8_lossy(&recorded.stderr));
    let pty = native_pty_system();
    let pair = pty.openpty(PtySize { rows: 30, cols: 100, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_recnet"));
    cmd.arg("replay");
    cmd.arg(&session);
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    // Read until the first frame is drawn, then let go of the terminal's master side entirely.
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let (mut seen, mut buf) = (Vec::new(), [0u8; 8192]);
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("Agent graph") {
                let _ = tx.send(());
                break;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("the inspector did not open");
    std::thread::sleep(Duration::from_millis(500));
    drop(pair.master);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the inspector was still running 10 s after its terminal hung up");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A branch made in the inspector (edit a rule, Ctrl+S), saved from the branch list, is a
/// session `recnet check` accepts; quitting asks nothing once it is saved.
#[test]
fn a_branch_saved_in_the_inspector_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let Pty { screen: mut s, mut writer, mut child, _master } = spawn(40, 120, ["demo", "--rounds", "1"], Some(dir.path()));
    assert!(s.wait_for("Agent graph"), "the inspector did not open:\n{}", s.text());
    let mut keys = |bytes: &[u8], s: &mut Screen| {
        writer.write_all(bytes).unwrap();
        writer.flush().unwrap();
        s.settle();
    };
    keys(b"....", &mut s);
    keys(b"e", &mut s);
    assert!(s.wait_for("Rules of"), "e opened no editor:\n{}", s.text());
    keys(b"\x13", &mut s);
    assert!(s.wait_for("branch 1"), "Ctrl+S forked nothing:\n{}", s.text());
    keys(b"B", &mut s);
    assert!(s.wait_for("Branches"), "B shows no branch list:\n{}", s.text());
    keys(b"w", &mut s);
    assert!(s.wait_for("saved"), "w saved nothing:\n{}", s.text());
    keys(b"\x1bq", &mut s);
    let end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "q did not quit after saving:\n{}", s.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let path = dir.path().join("recnet-branch-1.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recnet")).arg("check").arg(&path).output().unwrap();
    assert!(out.status.success(), "check refused the saved branch: {}", String::from_utf8_lossy(&out.stderr));
}

/// SIGTERM and SIGINT sent to the inspector (not Ctrl+C typed, which is a key) leave it cleanly
/// with 128+N, as every other command does.
#[test]
fn the_inspector_exits_128_plus_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("demo.jsonl");
    let recorded =
        std::process::Command::new(env!("CARGO_BIN_EXE_recnet")).args(["run", "--scenario", "demo", "--rounds", "1", "--out"]).arg(&session).output().unwrap();
    assert!(recorded.status.success(), "{}", String::from_utf8_lossy(&recorded.stderr));
    for (sig, code) in [(15, 143), (2, 130)] {
        let Pty { mut screen, mut child, _master, .. } = spawn(30, 100, [std::ffi::OsStr::new("replay"), session.as_os_str()], None);
        assert!(screen.wait_for("Agent graph"), "the inspector did not open");
        let pid = child.process_id().expect("a pid");
        let killed = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap();
        assert!(killed.success());
        let end = Instant::now() + Duration::from_secs(10);
        let status = loop {
            screen.pump(Duration::from_millis(100));
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > end {
                let _ = child.kill();
                panic!("the inspector did not leave on signal {sig}");
            }
        };
        assert_eq!(status.exit_code(), code, "signal {sig}");
    }
}

/// `recnet demo --tour` opens on the tour's panel; Space runs at lecture pace to the first
/// mechanism, whose panel appears within a couple of time steps.
#[test]
fn demo_tour_in_a_pty() {
    let Pty { screen: mut s, mut writer, mut child, _master } = spawn(24, 80, ["demo", "--tour"], None);
    assert!(s.wait_for("Tour · RecNet, step by step"), "no tour panel:\n{}", s.text());
    writer.write_all(b" ").unwrap();
    writer.flush().unwrap();
    assert!(s.wait_for("Tour · Reflection · 1 of 15"), "the tour did not stop at reflection:\n{}", s.text());
    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "{st:?}");
            break;
        }
        assert!(Instant::now() < end, "q did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
