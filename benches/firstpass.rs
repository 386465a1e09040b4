//! The first pass over a session, in MB of session file a second: what a first far jump in the
//! inspector costs (`Timeline::advance`, laying no keyframes), beside a replay that lays them as
//! it goes (`Timeline::state`, what the jump did before its keyframes moved to a thread); then
//! the far jump alone over a session of about 1 GB (its replay would take minutes a sample).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the binary uses
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recnet::engine::config::Config;
use recnet::engine::{Engine, Poll};
use recnet::reasoner::offline::Offline;
use recnet::store::session::{Header, SessionFile, SessionWriter, SourceRef};
use recnet::store::timeline::{EventStore, Timeline, DEFAULT_KEYFRAME_EVERY};
use std::path::PathBuf;

/// A generated world of 2,000 users and 500 items over `interactions` interactions (4,000: 338k
/// events, 71 MB, a second to write; 34,000: about 1 GB, half a minute); written once and reused.
fn session(interactions: usize) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = match interactions {
        4_000 => dir.join("firstpass-2000u.jsonl"),
        n => dir.join(format!("firstpass-2000u-{n}i.jsonl")),
    };
    if path.exists() {
        return path;
    }
    let spec = recnet::inputs::gen::generate(2_000, 500, interactions, 10, 3);
    let cfg = Config::from_layers(&[], &["routers.count=10".into()]).unwrap();
    let header =
        Header::new(SourceRef { kind: "scenario".into(), name: spec.name.clone(), path: "generated".into(), digest: String::new() }, 3, 1, cfg.clone());
    let tmp = path.with_extension("tmp");
    let mut w = SessionWriter::create(&tmp, &header).unwrap();
    let mut e = Engine::new(&spec, cfg, 3, 1);
    let mut offline = Offline::new();
    loop {
        match e.poll() {
            Poll::Events(evs) => {
                for ev in evs {
                    w.write(&ev).unwrap();
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

/// A far jump to the end of the session at `path`: opening it, then its first pass.
fn far_jump(path: &std::path::Path) -> u64 {
    let mut tl = Timeline::new(EventStore::File(SessionFile::open(path).unwrap()), DEFAULT_KEYFRAME_EVERY);
    let len = tl.len();
    let mut world = tl.closest(len).unwrap();
    tl.advance(&mut world, len).unwrap();
    world.steps()
}

fn first_pass(c: &mut Criterion) {
    let path = session(4_000);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let open = || Timeline::new(EventStore::File(SessionFile::open(&path).unwrap()), DEFAULT_KEYFRAME_EVERY);
    let len = open().len();
    let mut g = c.benchmark_group("first pass");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    let name = format!("{len} events, {} MB", bytes >> 20);
    g.bench_function(format!("far jump to the end ({name})"), |b| b.iter(|| far_jump(&path)));
    g.bench_function(format!("replay laying keyframes ({name})"), |b| {
        b.iter(|| {
            let mut tl = open();
            tl.state(len).unwrap().steps()
        })
    });
    g.finish();
    let path = session(34_000);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mut g = c.benchmark_group("first pass, 1 GB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    let len = SessionFile::open(&path).unwrap().len();
    g.bench_function(format!("far jump to the end ({len} events, {} MB)", bytes >> 20), |b| b.iter(|| far_jump(&path)));
    g.finish();
}

criterion_group!(benches, first_pass);
criterion_main!(benches);
