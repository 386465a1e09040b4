use super::*;
use crate::world::event::EventBody;

/// A session of `n` round markers, with line `bad_line` (1-based, header = 1) garbled.
fn session(dir: &Path, n: u64, bad_line: Option<u64>) -> PathBuf {
    let source = SourceRef { kind: "scenario".into(), name: "t".into(), path: "t".into(), digest: String::new() };
    let header = Header::new(source, 1, 1, crate::engine::config::Config::default());
    let path = dir.join("s.jsonl");
    let mut w = SessionWriter::create(&path, &header).unwrap();
    for step in 0..n {
        w.write(&Event { step, round: 0, tick: 0, body: EventBody::RoundStarted { index: 0 } }).unwrap();
    }
    w.flush().unwrap();
    if let Some(bad) = bad_line {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text.lines().enumerate().map(|(i, l)| if i as u64 + 1 == bad { "{\"step\": oops".into() } else { l.to_string() }).collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
    path
}

#[test]
fn long_ranges_read_in_order_and_name_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = SessionFile::open(&session(dir.path(), 1500, None)).unwrap();
    let steps: Vec<u64> = f.events(100, 1500).unwrap().iter().map(|e| e.step).collect();
    assert_eq!(steps, (100..1500).collect::<Vec<_>>());
    // In the half a second thread parses, and in the first half.
    for bad in [1200u64, 300] {
        let f = SessionFile::open(&session(dir.path(), 1500, Some(bad))).unwrap();
        let err = f.events(0, 1500).unwrap_err().to_string();
        assert!(err.contains(&format!("s.jsonl:{bad}:")), "{err}");
    }
}

/// A first pass in chunks hands every event over in order, and a bad line (in either worker's
/// chunks) is its FILE:LINE, after the events before it.
#[test]
fn chunks_come_in_order_and_name_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = SessionFile::open(&session(dir.path(), 1500, None)).unwrap();
    let mut steps = Vec::new();
    f.each_chunk(100, 1500, 37, |evs| {
        steps.extend(evs.iter().map(|e| e.step));
        Ok(())
    })
    .unwrap();
    assert_eq!(steps, (100..1500).collect::<Vec<_>>());
    for bad in [1200u64, 300, 302] {
        let f = SessionFile::open(&session(dir.path(), 1500, Some(bad))).unwrap();
        let mut seen = 0;
        let err = f
            .each_chunk(0, 1500, 100, |evs| {
                seen += evs.len() as u64;
                Ok(())
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("s.jsonl:{bad}:")), "{err}");
        // Whole chunks before the bad line's were handed over, none after.
        assert_eq!(seen, (bad - 2) / 100 * 100, "bad line {bad}");
    }
    // A stop asked by the caller ends the pass with its error.
    let f = SessionFile::open(&session(dir.path(), 1500, None)).unwrap();
    let err = f.each_chunk(0, 1500, 10, |evs| if evs[0].step >= 500 { Err(StoreError::Other("stop".into())) } else { Ok(()) }).unwrap_err();
    assert_eq!(err.to_string(), "stop");
}

/// A long file's index, scanned in two halves at once, is the one a single scan finds: a line
/// across the middle counts once, and a torn last line is no event.
#[test]
fn a_long_file_is_indexed_in_halves_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = session(dir.path(), 160_000, None);
    assert!(std::fs::metadata(&path).unwrap().len() > 8 << 20, "too short to be split");
    for torn in [false, true] {
        if torn {
            use std::io::Write;
            std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"step\":160000,\"ro").unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        let header_end = memchr::memchr(b'\n', &bytes).unwrap() + 1;
        let mut starts = vec![header_end as u64];
        starts.extend(memchr::memchr_iter(b'\n', &bytes[header_end..]).map(|i| (header_end + i + 1) as u64));
        let events_end = starts.pop().unwrap();
        let f = SessionFile::open(&path).unwrap();
        assert_eq!(*f.offsets, starts);
        assert_eq!((f.events_end, f.torn_tail), (events_end, torn));
        assert_eq!(f.len(), 160_000);
        assert_eq!(f.event(159_999).unwrap().step, 159_999);
    }
}

/// A misspelt kind is named at its FILE:LINE with the kind meant, the same by a whole read and
/// by a first pass's lean one.
#[test]
fn a_misspelt_kind_is_named_with_the_kind_meant() {
    let dir = tempfile::tempdir().unwrap();
    let path = session(dir.path(), 5, None);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[3] = lines[3].replace("\"round_started\"", "\"round_startd\"");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let f = SessionFile::open(&path).unwrap();
    let whole = f.events(0, 5).unwrap_err().to_string();
    let lean = f.each_chunk(0, 5, 2, |_| Ok(())).unwrap_err().to_string();
    assert_eq!(whole, lean);
    assert!(whole.contains("s.jsonl:4: unknown variant `round_startd` (did you mean `round_started`?)"), "{whole}");
}

#[test]
fn a_bad_line_is_told_by_its_column_and_an_empty_one_as_empty() {
    let e = parse_event(b"", 0).unwrap_err().to_string();
    assert!(e.starts_with("an empty line"), "{e}");
    let e = parse_event(b"{\"step\": oops", 0).unwrap_err().to_string();
    assert!(e.ends_with("(column 10)") && !e.contains("line 1"), "{e}");
    let e = parse_event_lean(b"   ", 0).unwrap_err().to_string();
    assert!(e.starts_with("an empty line"), "{e}");
}
