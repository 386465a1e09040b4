//! Seek and step-back latency on sessions of 10k to 10M events (keyframes, in memory or on disk,
//! bound the replay, so the time has a ceiling whatever the length), and opening the 10M-event
//! session to the inspector's first frame.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the binary uses
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use recnet::engine::config::Config;
use recnet::engine::{Engine, Poll};
use recnet::reasoner::offline::Offline;
use recnet::store::session::{Header, SessionFile, SessionWriter, SourceRef};
use recnet::store::timeline::{EventStore, Timeline, DEFAULT_KEYFRAME_EVERY};
use std::path::PathBuf;

/// A session of exactly `n` events on a small generated world (300 users, 100 items), as many
/// rounds as it takes; written once and reused.
fn session(n: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("gen-{n}.jsonl"));
    if path.exists() {
        return path;
    }
    let spec = recnet::inputs::gen::generate(300, 100, 2000, 8, 7);
    let cfg = Config::from_layers(&[], &["routers.count=8".into()]).unwrap();
    let rounds = 100_000;
    let header =
        Header::new(SourceRef { kind: "scenario".into(), name: spec.name.clone(), path: "generated".into(), digest: String::new() }, 7, rounds, cfg.clone());
    let tmp = path.with_extension("tmp");
    let mut w = SessionWriter::create(&tmp, &header).unwrap();
    let mut e = Engine::new(&spec, cfg, 7, rounds);
    let mut offline = Offline::new();
    let mut written = 0;
    'run: loop {
        match e.poll() {
            Poll::Events(evs) => {
                for ev in evs {
                    w.write(&ev).unwrap();
                    written += 1;
                    if written >= n {
                        break 'run;
                    }
                }
            }
            Poll::Reason(r) => {
                let a = recnet::engine::protocol::Reasoner::answer(&mut offline, &r);
                e.answer(a).unwrap();
            }
            Poll::Done => break,
            Poll::Failed(why) => panic!("{why}"),
        }
    }
    w.flush().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn seek(c: &mut Criterion) {
    let mut g = c.benchmark_group("timeline");
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(3));
    for n in [10_000u64, 100_000, 1_000_000, 10_000_000] {
        let path = session(n);
        let mut tl = Timeline::new(EventStore::File(SessionFile::open(&path).unwrap()), DEFAULT_KEYFRAME_EVERY);
        let len = tl.len();
        tl.state(len).unwrap(); // one pass lays down the keyframes
        let mut x: u64 = 12345;
        g.bench_with_input(BenchmarkId::new("seek random step", n), &n, |b, _| {
            b.iter(|| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let t = (x >> 11) % len;
                tl.state(t).unwrap().steps()
            })
        });
        let mut at = len / 2;
        g.bench_with_input(BenchmarkId::new("step back one event", n), &n, |b, _| {
            b.iter(|| {
                at = if at <= 1 { len / 2 } else { at - 1 };
                tl.state(at).unwrap().steps()
            })
        });
    }
    g.finish();
}

/// Open-to-first-frame on the 10M-event session (1.28 GB): index the file, build the inspector's
/// first state and draw one 120×40 frame.
fn open_first_frame(c: &mut Criterion) {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use recnet::tui::keymap::Keymap;
    use recnet::tui::UiOptions;
    let path = session(10_000_000);
    let mut g = c.benchmark_group("open");
    g.sample_size(10);
    g.bench_function("10M-event session (1.28 GB) to first frame", |b| {
        b.iter(|| {
            let app = recnet::tui::replay_app(&path, UiOptions { keymap: Keymap::default_map(), mono: false }).unwrap();
            let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
            term.draw(|f| recnet::tui::views::render(f, &app)).unwrap();
            app.cursor.pos
        })
    });
    g.finish();
}

criterion_group!(benches, seek, open_first_frame);
criterion_main!(benches);
