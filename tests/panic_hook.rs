//! The inspector's panic hook (its own test binary: a panic hook is global to the process).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A panic on another thread (a job, the live engine) leaves the terminal to the UI; a panic on
/// the UI's thread still restores it.
#[test]
fn only_the_ui_threads_panics_restore_the_terminal() {
    let restored = Arc::new(AtomicUsize::new(0));
    let seen = restored.clone();
    // Stands in for ratatui's hook, which restores the terminal.
    std::panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    recnet::tui::ui_thread_panics_only();
    let job = std::thread::spawn(|| panic!("a job's panic"));
    assert!(job.join().is_err());
    assert_eq!(restored.load(Ordering::SeqCst), 0, "a job's panic restored the terminal");
    assert!(std::panic::catch_unwind(|| panic!("the UI's panic")).is_err());
    assert_eq!(restored.load(Ordering::SeqCst), 1, "the UI's panic did not restore the terminal");
    let _ = std::panic::take_hook();
}
