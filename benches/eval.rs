//! The whole AgentCF-protocol evaluation (baselines, RecNet and five ablations) on
//! CDs-100-user-dense when the team's data folder sits beside the repository, else on the tiny
//! fixture.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the binary uses
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

fn eval(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/datasets/CDs-100-user-dense");
    let dir = if shared.exists() { shared } else { root.join("fixtures/tiny-cds") };
    let ds = recnet::inputs::dataset::load_dataset(&dir, 1).unwrap();
    let cfg = recnet::engine::config::Config::default();
    let mut g = c.benchmark_group("eval");
    g.sample_size(10);
    g.bench_function(format!("full eval on {}", ds.name), |b| {
        b.iter(|| {
            recnet::analysis::eval::run_eval(
                |_| Ok(ds.clone()),
                &cfg,
                &recnet::analysis::eval::EvalOptions { split: "test".into(), rounds: 1, seeds: vec![1], models: Vec::new() },
                |_| {},
            )
            .unwrap()
            .models
            .len()
        })
    });
    g.finish();
}

criterion_group!(benches, eval);
criterion_main!(benches);
