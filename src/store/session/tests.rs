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
