//! Entry points for the fuzz targets (fuzz/) and their regression tests: each must return, never
//! panic, whatever the input.

/// Parse, print, and re-parse what printed.
pub fn fuzz_rules(text: &str) {
    let (rules, _) = crate::rules::parse_rules_all(text);
    let printed = crate::rules::print_rules(&rules);
    let again = crate::rules::parse_rules(&printed).expect("printed rules parse");
    assert_eq!(again, rules, "print then parse changed the rules");
}

pub fn fuzz_breakpoint(text: &str) {
    let _ = crate::analysis::breakpoint::parse(text);
}

/// A session file of arbitrary bytes: check it, open it, seek in it.
pub fn fuzz_session(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.jsonl");
    std::fs::write(&path, data).expect("write");
    let _ = crate::store::session::check_session(&path);
    if let Ok(f) = crate::store::session::SessionFile::open(&path) {
        let mut tl = crate::store::timeline::Timeline::new(crate::store::timeline::EventStore::File(f), 3);
        let n = tl.len();
        let _ = tl.state(n);
        let _ = tl.state(n / 2);
    }
}

/// A pre-split dataset whose train file is the input (and a single-file one whose .inter is).
pub fn fuzz_dataset(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    let header = "user_id:token\titem_id_list:token_seq\titem_id:token\n";
    let _ = std::fs::write(p.join("f.train.inter"), data);
    let _ = std::fs::write(p.join("f.valid.inter"), format!("{header}1\t2\t3\n"));
    let _ = std::fs::write(p.join("f.test.inter"), format!("{header}1\t2 3\t4\n"));
    let _ = std::fs::write(p.join("f.random"), "1\t5 6 7 8 9 10 11 12 13 14\n");
    let _ = std::fs::write(p.join("f.item"), "item_id:token\ttitle:token_seq\tcategory:token_seq\n2\tA\tJazz\n");
    if let Ok(ds) = crate::inputs::dataset::load_dataset(p, 1) {
        let spec = ds.world_spec(1);
        let mut e = crate::engine::Engine::new(&spec, crate::engine::config::Config::default(), 1, 1);
        e.run_to_end(&mut crate::reasoner::offline::Offline::new());
    }
    let single = tempfile::tempdir().expect("temp dir");
    let _ = std::fs::write(single.path().join("m.inter"), data);
    let _ = crate::inputs::dataset::load_dataset(single.path(), 1);
}

/// Settings through every layer that merges them: lines `--set KEY=VALUE` as `--set`, the rest as
/// a `--config` file, and the text as a session header's config. A config that merging accepts
/// passes validation and reads back from a session header unchanged (a NaN that became `null`
/// once made every recorded session unreadable).
pub fn fuzz_settings(text: &str) {
    use crate::engine::config::Config;
    let mut sets = Vec::new();
    let mut file = String::new();
    for line in text.lines() {
        match line.strip_prefix("--set ") {
            Some(s) => sets.push(s.to_string()),
            None => {
                file.push_str(line);
                file.push('\n');
            }
        }
    }
    let tables: Vec<toml::Table> = file.parse::<toml::Table>().into_iter().collect();
    if let Ok(config) = Config::from_layers(&tables, &sets) {
        config.validate().expect("a merged config is valid");
        let header = crate::store::session::Header::new(source(), 1, 1, config.clone());
        let line = serde_json::to_vec(&header).expect("a header serialises");
        let back = crate::store::session::parse_header(&line).expect("an accepted config reads back from a header");
        assert_eq!(serde_json::to_string(&back.config).ok(), serde_json::to_string(&config).ok(), "the config changed through a header");
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let mut header = serde_json::to_value(crate::store::session::Header::new(source(), 1, 1, Config::default())).expect("a header serialises");
        header["config"] = v;
        let _ = crate::store::session::parse_header(header.to_string().as_bytes());
    }
}

fn source() -> crate::store::session::SourceRef {
    crate::store::session::SourceRef { kind: "scenario".into(), name: "f".into(), path: "f".into(), digest: String::new() }
}

/// A scenario as TOML and as JSON; one that loads runs a round with the default settings (its own
/// `[config]` goes through merging, as `run` would do it).
pub fn fuzz_scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for is_toml in [true, false] {
        let Ok(sc) = crate::inputs::scenario::parse_scenario(text, "f", is_toml, 1) else { continue };
        let _ = crate::engine::config::Config::from_layers(std::slice::from_ref(&sc.config), &[]);
        // The defaults, not the scenario's: a valid config may still ask for a long run.
        let config = crate::engine::config::Config::from_layers(&[], &[]).expect("the defaults load");
        let mut e = crate::engine::Engine::new(&sc.spec, config, 1, 1);
        e.run_to_end(&mut crate::reasoner::offline::Offline::new());
    }
}

/// The demo session as recorded (made once).
fn demo_session() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let mut src = crate::run::driver::resolve_source(Some("demo"), None, 7).expect("demo");
        let config = crate::engine::config::Config::from_layers(&src.config_tables, &[]).expect("demo config");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("demo.jsonl");
        let mut offline = crate::reasoner::offline::Offline::new();
        let spec = std::mem::take(&mut src.spec);
        crate::run::driver::record(&src, spec, config, 7, 1, &path, &mut offline, Default::default()).expect("demo run");
        std::fs::read(&path).expect("read demo")
    })
}

/// The demo session mutated as `ops` says (4 bytes an edit: what, where (2 bytes, scaled to the
/// file's length), which byte), then checked, replayed, exported, diffed against the original
/// and forked, as `check`, `export`, `diff` and `fork` do.
pub fn fuzz_session_ops(ops: &[u8]) {
    use crate::store::timeline::{EventStore, Timeline};
    let original = demo_session();
    let mut bytes = original.to_vec();
    for op in ops.chunks_exact(4) {
        // Copying the line of a file that has become one line doubles it: a few dozen such
        // copies made a mutant of terabytes (a fuzzing hang in the mutation, not in recnet).
        if bytes.len() > 2 * original.len() {
            break;
        }
        let at = (u16::from_be_bytes([op[1], op[2]]) as usize * (bytes.len() + 1)) >> 16;
        let line_start = bytes[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let line_end = bytes[at..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| at + i + 1);
        match op[0] % 6 {
            0 if at < bytes.len() => bytes[at] = op[3],
            1 => bytes.insert(at, op[3]),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            3 => bytes.truncate(at),
            4 => {
                let line = bytes[line_start..line_end].to_vec();
                bytes.splice(line_start..line_start, line);
            }
            _ => {
                bytes.drain(line_start..line_end);
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&a, original).expect("write");
    std::fs::write(&b, &bytes).expect("write");
    let _ = crate::store::session::check_session(&b);
    let Ok(fb) = crate::store::session::SessionFile::open(&b) else { return };
    let header = fb.header.clone();
    let mut tb = Timeline::new(EventStore::File(fb), 0);
    let n = tb.len();
    if let Ok(w) = tb.state(n) {
        let _ = crate::analysis::export::write_world_json(&w, &mut std::io::sink());
        let _ = crate::analysis::export::world_dot(&w);
    }
    if let Ok(fa) = crate::store::session::SessionFile::open(&a) {
        let mut ta = Timeline::new(EventStore::File(fa), 0);
        if let Ok(r) = crate::analysis::diff::diff_sessions("a", "b", &mut ta, &mut tb) {
            let _ = crate::analysis::diff::render(&r, 20);
        }
    }
    if n > 1 {
        let _ = crate::analysis::diff::diff_steps("b", &mut tb, 0, n - 1);
        let edit = crate::run::branch::ForkEdit::Config { sets: vec!["filter.enabled=false".into()] };
        let _ = crate::run::branch::fork(&header, &b, &mut tb, n / 2, &edit, true, &mut crate::reasoner::offline::Offline::new());
    }
}

/// One request of each stage a run asks (made once, from the demo).
fn stage_requests() -> &'static [crate::engine::protocol::ReasonRequest] {
    use crate::engine::protocol::{ReasonAnswer, ReasonRequest, Reasoner};
    static REQS: std::sync::OnceLock<Vec<ReasonRequest>> = std::sync::OnceLock::new();
    struct Keep(crate::reasoner::offline::Offline, Vec<ReasonRequest>);
    impl Reasoner for Keep {
        fn answer(&mut self, requests: &[ReasonRequest]) -> Vec<ReasonAnswer> {
            for r in requests {
                if !self.1.iter().any(|k| k.stage() == r.stage()) {
                    self.1.push(r.clone());
                }
            }
            self.0.answer(requests)
        }
    }
    REQS.get_or_init(|| {
        let sc = crate::inputs::scenario::load_scenario("demo", 7).expect("demo");
        let config = crate::engine::config::Config::from_layers(std::slice::from_ref(&sc.config), &[]).expect("demo config");
        let mut engine = crate::engine::Engine::new(&sc.spec, config, 7, 3);
        let mut keep = Keep(crate::reasoner::offline::Offline::new(), Vec::new());
        engine.run_to_end(&mut keep);
        keep.1
    })
}

/// A model's reply text to a request of every stage: an answer or an error, never a panic; an
/// answer, written back in the wire form, reads back the same.
pub fn fuzz_reply(text: &str) {
    for req in stage_requests() {
        if let Ok(answer) = crate::reasoner::openai::parse_reply(req, text) {
            let wire = crate::reasoner::schema::to_wire(req, &answer).to_string();
            let again = crate::reasoner::openai::parse_reply(req, &wire).expect("an accepted answer's wire form parses");
            assert_eq!(format!("{again:?}"), format!("{answer:?}"), "the wire form changed the answer");
        }
    }
}

/// A keymap file, alone and over the defaults.
pub fn fuzz_keymap(text: &str) {
    let _ = crate::tui::keymap::Keymap::parse(text, "k.toml");
    let _ = crate::tui::keymap::Keymap::with_overrides(text, "k.toml");
}
