//! Time travel stays exact: seeks after seeks, keyframes in memory, on disk and built in the
//! background all give the state a plain replay gives.

use super::*;
use crate::engine::config::Config;
use crate::engine::Engine;
use crate::reasoner::offline::Offline;
use proptest::prelude::*;

fn demo_events() -> Vec<Event> {
    let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
    let cfg = Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let mut e = Engine::new(&sc.spec, cfg, 7, 1);
    e.run_to_end(&mut Offline::new())
}

fn json(w: &World) -> String {
    serde_json::to_string(w).unwrap()
}

/// The state at `t` sought after `seeks` (taken modulo the length), and replayed from the
/// start, as JSON.
fn seek_after_seeks(tl: &mut Timeline, events: &[Event], seeks: &[u64], t: u64) -> (String, String) {
    for s in seeks {
        tl.state(s % (events.len() as u64 + 1)).unwrap();
    }
    let mut fresh = World::new();
    fresh.apply_all(&events[..t as usize]).unwrap();
    (json(&tl.state(t).unwrap()), json(&fresh))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn seek_after_any_seeks_equals_replay_from_the_start(
        k in prop_oneof![Just(0u64), 1u64..40],
        seeks in prop::collection::vec(0u64..1000, 1..6),
        target in 0u64..1000,
    ) {
        let events = demo_events();
        let n = events.len() as u64;
        let mut tl = Timeline::new(EventStore::memory(events.clone()), k);
        let (sought, replayed) = seek_after_seeks(&mut tl, &events, &seeks, target % (n + 1));
        prop_assert_eq!(sought, replayed);
    }
}

/// Each of `steps` sought in `tl` equals replaying the events from the start.
fn assert_seeks_replay(tl: &mut Timeline, events: &[Event], steps: &[u64]) {
    for &t in steps {
        let mut fresh = World::new();
        fresh.apply_all(&events[..t as usize]).unwrap();
        assert_eq!(json(&tl.state(t).unwrap()), json(&fresh), "step {t}");
    }
}

/// Keyframes forced to disk: no memory budget, disk keyframes every 8 events, and a disk
/// load always preferred to replaying.
fn disk_limits() -> Limits {
    Limits { memory_budget: 0, min_keyframes: 2, disk_every: 8, disk_load_events: Some(0), spill_dir: None, disk_budget: u64::MAX, disk_in_background: false }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn seek_from_disk_keyframes_equals_replay_from_the_start(
        k in 1u64..6,
        seeks in prop::collection::vec(0u64..1000, 1..6),
        target in 0u64..1000,
    ) {
        let events = demo_events();
        let n = events.len() as u64;
        let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), k, disk_limits());
        let (sought, replayed) = seek_after_seeks(&mut tl, &events, &seeks, target % (n + 1));
        prop_assert_eq!(sought, replayed);
    }
}

/// A world too big for `min_keyframes` copies within twice the budget keeps fewer: memory
/// follows the world's size, not 64 times it (and seeks stay exact).
#[test]
fn keyframes_of_a_huge_world_give_way_to_the_budget() {
    let events = demo_events();
    let n = events.len() as u64;
    let tiny = Limits { memory_budget: 1, min_keyframes: 64, disk_every: 0, ..Limits::default() };
    let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), 1, tiny);
    tl.state(n).unwrap();
    assert!(tl.keyframe_count() <= 2, "{} keyframes kept past twice the budget", tl.keyframe_count());
    assert_seeks_replay(&mut tl, &events, &[n / 2, 3, n]);
    // Within twice the budget, `min_keyframes` still holds.
    let roomy = Limits { memory_budget: usize::MAX / 4, min_keyframes: 64, disk_every: 0, ..Limits::default() };
    let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), 1, roomy);
    tl.state(n).unwrap();
    assert!(tl.keyframe_count() as u64 >= n.min(64));
}

#[test]
fn long_sessions_put_keyframes_on_disk_and_seek_from_them() {
    let events = demo_events();
    let n = events.len() as u64;
    let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), 1, disk_limits());
    tl.state(n).unwrap();
    let (count, bytes) = tl.disk_keyframes();
    assert!(tl.keyframe_count() <= 2 + 1, "memory keyframes were thinned: {}", tl.keyframe_count());
    assert!(count as u64 >= n / 8 - 2 && bytes > 0, "{count} disk keyframes for {n} events");
    assert_seeks_replay(&mut tl, &events, &[n / 3, n / 2 + 5, 17, n - 1]);
    assert!(tl.disk_loads() >= 3, "only {} seeks started from disk", tl.disk_loads());
}

/// Keyframes handed to the writer thread (some skipped while it is busy) leave every seek
/// exact, during the first pass and after.
#[test]
fn keyframes_written_in_the_background_seek_exactly() {
    let events = demo_events();
    let n = events.len() as u64;
    let limits = Limits { disk_in_background: true, ..disk_limits() };
    let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), 1, limits);
    assert_seeks_replay(&mut tl, &events, &[n / 2, n]);
    assert!(tl.disk_keyframes().0 >= 1, "no keyframe reached the disk");
    assert_seeks_replay(&mut tl, &events, &[n / 3, n / 2 + 5, 17, n - 1]);
}

/// `events` written as a session file in `dir`.
fn session_file(dir: &std::path::Path, events: &[Event]) -> std::path::PathBuf {
    use crate::store::session::{Header, SessionWriter, SourceRef};
    let path = dir.join("demo.jsonl");
    let source = SourceRef { kind: "scenario".into(), name: "demo".into(), path: "demo".into(), digest: String::new() };
    let mut w = SessionWriter::create(&path, &Header::new(source, 7, 1, Config::default())).unwrap();
    for e in events {
        w.write(e).unwrap();
    }
    w.flush().unwrap();
    path
}

#[test]
fn a_session_file_seeks_exactly_from_disk_keyframes() {
    let events = demo_events();
    let dir = tempfile::tempdir().unwrap();
    let path = session_file(dir.path(), &events);
    let n = events.len() as u64;
    let mut tl = Timeline::with_limits(EventStore::File(SessionFile::open(&path).unwrap()), 1, disk_limits());
    tl.state(n).unwrap();
    assert_seeks_replay(&mut tl, &events, &[n - 3, n / 4, n / 2 + 7, 9]);
    assert!(tl.disk_loads() >= 3, "only {} seeks started from disk", tl.disk_loads());
}

#[test]
fn a_disk_that_cannot_be_written_slows_seeks_but_keeps_them_exact() {
    let events = demo_events();
    let n = events.len() as u64;
    let limits = Limits { spill_dir: Some("/nonexistent/recnet-spill".into()), ..disk_limits() };
    let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), 1, limits);
    tl.state(n).unwrap();
    assert!(tl.disk_error().is_some_and(|e| e.contains("temporary file")), "{:?}", tl.disk_error());
    assert_eq!(tl.disk_keyframes(), (0, 0));
    assert_seeks_replay(&mut tl, &events, &[n / 3, n / 2 + 5, n - 1]);
}

#[test]
fn the_keyframe_file_stops_at_its_budget_and_seeks_stay_exact() {
    let events = demo_events();
    let n = events.len() as u64;
    let limits = Limits { disk_budget: 20_000, ..disk_limits() };
    let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), 1, limits);
    tl.state(n).unwrap();
    let (count, bytes) = tl.disk_keyframes();
    assert!(count > 0 && bytes >= 20_000 && (count as u64) < n / 8 - 2, "{count} keyframes, {bytes} bytes");
    assert!(tl.disk_error().is_some_and(|e| e.contains("budget")), "{:?}", tl.disk_error());
    assert_seeks_replay(&mut tl, &events, &[n - 1, n / 2, 20]);
}

/// What a disk keyframe leaves out is rebuilt well enough to run on: an engine resumed from a
/// world loaded from disk emits exactly what one resumed from a replayed world does.
#[test]
fn an_engine_resumed_from_a_disk_keyframe_runs_like_one_from_a_replay() {
    let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
    let cfg = Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let events = demo_events();
    let mut tl = Timeline::with_limits(EventStore::memory(events.clone()), 1, disk_limits());
    tl.state(events.len() as u64).unwrap();
    let point = crate::run::branch::fork_point(&tl, events.len() as u64 / 2).unwrap();
    let loads = tl.disk_loads();
    let restored = tl.state(point).unwrap();
    assert!(tl.disk_loads() > loads, "the state at {point} did not come from disk");
    let mut replayed = World::new();
    replayed.apply_all(&events[..point as usize]).unwrap();
    let schedule = std::sync::Arc::new(sc.spec.schedule.clone());
    let run = |w: World| Engine::resume(w, schedule.clone(), cfg.clone(), 1).run_to_end(&mut Offline::new());
    let (from_disk, from_replay) = (run(restored), run(replayed));
    assert!(from_replay.len() > 20, "nothing left to run after step {point}");
    assert_eq!(from_disk, from_replay);
}

#[test]
fn five_forward_five_back_is_the_same_state() {
    let mut tl = Timeline::new(EventStore::memory(demo_events()), 16);
    let start = json(&tl.state(100).unwrap());
    for i in 1..=5 {
        tl.state(100 + i).unwrap();
    }
    for i in (0..5).rev() {
        tl.state(100 + i).unwrap();
    }
    assert_eq!(json(&tl.state(100).unwrap()), start);
}

/// A far jump's first pass (chunks parsed by workers taking turns, applied in order) reaches the
/// state a replay does, from the start or from a state part way, whatever the chunk size.
#[test]
fn a_first_pass_in_chunks_equals_replay() {
    let events = demo_events();
    let dir = tempfile::tempdir().unwrap();
    let f = SessionFile::open(&session_file(dir.path(), &events)).unwrap();
    let n = events.len() as u64;
    let mut replayed = World::new();
    replayed.apply_all(&events).unwrap();
    for (from, chunk) in [(0, 1), (0, 7), (n / 3, 64), (n / 2, 4096), (n - 1, 3)] {
        let mut world = World::new();
        world.apply_all(&events[..from as usize]).unwrap();
        f.each_chunk(from, n, chunk, |evs| evs.iter().try_for_each(|e| apply_one(&mut world, e, None))).unwrap();
        assert_eq!(json(&world), json(&replayed), "from {from}, chunks of {chunk}");
    }
    let mut tl = Timeline::new(EventStore::File(f), DEFAULT_KEYFRAME_EVERY);
    let mut world = tl.closest(n).unwrap();
    tl.advance(&mut world, n).unwrap();
    assert_eq!(json(&world), json(&replayed));
}
