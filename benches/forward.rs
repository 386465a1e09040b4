//! Forward-phase throughput: attributes routed (and messages delivered) per second on a generated
//! world with planted communities.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the binary uses
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recnet::engine::config::Config;
use recnet::engine::Engine;
use recnet::reasoner::offline::Offline;

fn forward(c: &mut Criterion) {
    let spec = recnet::inputs::gen::generate(20_000, 4_000, 4_000, 20, 1);
    let cfg = Config::from_layers(&[], &["routers.count=20".into()]).unwrap();
    // Count the routed attributes once, to report throughput in routed attributes per second.
    let mut probe = Engine::new(&spec, cfg.clone(), 1, 1);
    probe.run_to_end(&mut Offline::new());
    let routed = probe.world().counters().attributes_routed;
    let mut g = c.benchmark_group("forward");
    g.sample_size(10);
    g.throughput(Throughput::Elements(routed));
    g.bench_function("20k users, 4k interactions (elements = attributes routed)", |b| {
        b.iter(|| {
            let mut e = Engine::new(&spec, cfg.clone(), 1, 1);
            e.run_to_end(&mut Offline::new());
            e.world().counters().attributes_routed
        })
    });
    // The same run scoring every member for every message: what pruning the receivers saves.
    g.bench_function("20k users, 4k interactions, every member scored (elements = attributes routed)", |b| {
        b.iter(|| {
            let mut e = Engine::new(&spec, cfg.clone(), 1, 1);
            e.set_full_scan(true);
            e.run_to_end(&mut Offline::new());
            e.world().counters().attributes_routed
        })
    });
    // 100k clients: setup (120k agents, k-means) plus a short stretch of interactions.
    let big = recnet::inputs::gen::generate(100_000, 20_000, 2_000, 40, 1);
    let cfg = Config::from_layers(&[], &["routers.count=40".into()]).unwrap();
    let mut probe = Engine::new(&big, cfg.clone(), 1, 1);
    probe.run_to_end(&mut Offline::new());
    g.throughput(Throughput::Elements(probe.world().counters().attributes_routed));
    g.bench_function("100k users + 20k items, 2k interactions (elements = attributes routed)", |b| {
        b.iter(|| {
            let mut e = Engine::new(&big, cfg.clone(), 1, 1);
            e.run_to_end(&mut Offline::new());
            e.world().counters().attributes_routed
        })
    });
    g.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
