//! Termination signals (SIGINT, SIGTERM, SIGHUP): a flag that runs check at stage boundaries, and
//! a watchdog a caller can set while it needs more than the flag (the inspector, whose terminal
//! may be gone). This module knows nothing about terminals.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

type Watchdog = Arc<dyn Fn() + Send + Sync>;

static WATCHDOG: Mutex<Option<Watchdog>> = Mutex::new(None);

/// Catch the signals: runs stop at the next stage boundary with a valid session, loops that poll
/// `interrupted` leave, and the watchdog (if one is set) runs on the handler's thread.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        // Cloned out so that clearing the watchdog never waits on a running one.
        let watchdog = WATCHDOG.lock().ok().and_then(|w| w.clone());
        if let Some(w) = watchdog {
            w();
        }
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Set (or clear, with `None`) what runs after the flag on a signal.
pub fn set_watchdog(watchdog: Option<Watchdog>) {
    if let Ok(mut w) = WATCHDOG.lock() {
        *w = watchdog;
    }
}
