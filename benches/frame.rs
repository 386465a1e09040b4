//! One inspector frame at 120×40 over a 10k-agent world.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the binary uses
use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use recnet::engine::config::Config;
use recnet::engine::Engine;
use recnet::reasoner::offline::Offline;
use recnet::tui::keymap::{Action, Keymap};
use recnet::tui::{live_app, UiOptions};

fn frame(c: &mut Criterion) {
    let spec = recnet::inputs::gen::generate(8_000, 2_000, 2_000, 20, 1);
    let cfg = Config::from_layers(&[], &["routers.count=20".into()]).unwrap();
    let src = recnet::run::driver::Source {
        spec: spec.clone(),
        source: recnet::store::session::SourceRef { kind: "scenario".into(), name: "gen".into(), path: "gen".into(), digest: String::new() },
        config_tables: vec![],
        dataset: None,
    };
    let header = recnet::run::driver::header_for(&src, 1, 1, &cfg);
    let engine = Engine::new(&spec, cfg, 1, 1);
    let mut app = live_app("bench", engine, Box::new(Offline::new()), header, UiOptions { keymap: Keymap::default_map(), mono: false });
    for _ in 0..20 {
        app.update(Action::TickForward);
    }
    for _ in 0..10 {
        app.update(Action::StepForward);
    }
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    c.bench_function("frame 120x40, 10k agents", |b| {
        b.iter(|| {
            term.draw(|f| recnet::tui::views::render(f, &app)).unwrap();
        })
    });
}

criterion_group!(benches, frame);
criterion_main!(benches);
