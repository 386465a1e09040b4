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
