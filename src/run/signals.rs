//! Termination signals (SIGINT, SIGTERM, SIGHUP): a flag that runs check at stage boundaries, and
//! a watchdog a caller can set while it needs more than the flag (the inspector, whose terminal
//! may be gone). This module knows nothing about terminals.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The number of the first signal caught (0: none), for the shell's 128+N exit code.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

type Watchdog = Arc<dyn Fn() + Send + Sync>;

static WATCHDOG: Mutex<Option<Watchdog>> = Mutex::new(None);

fn on_signal(signo: i32) {
    let _ = SIGNAL.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
    INTERRUPTED.store(true, Ordering::SeqCst);
    // Cloned out so that clearing the watchdog never waits on a running one.
    let watchdog = WATCHDOG.lock().ok().and_then(|w| w.clone());
    if let Some(w) = watchdog {
        w();
    }
}

/// Catch the signals: runs stop at the next stage boundary with a valid session, loops that poll
/// `interrupted` leave, and the watchdog (if one is set) runs on a thread of its own (not in the
/// signal handler, so it may lock and allocate).
#[cfg(unix)]
pub fn install_interrupt_handler() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // Past the file-size limit the kernel's default is to kill us without a word; caught, the
    // write fails with EFBIG instead and the error says which file and why.
    let _ = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, Arc::new(AtomicBool::new(false)));
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    let _ = std::thread::Builder::new().name("signals".into()).spawn(move || {
        for signo in signals.forever() {
            on_signal(signo);
        }
    });
}

#[cfg(not(unix))]
pub fn install_interrupt_handler() {
    // SIGINT's number: Ctrl-C (and the console's close events) exit 130 as on Unix.
    let _ = ctrlc::set_handler(|| on_signal(2));
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The signal that interrupted this process, if one did (2 SIGINT, 15 SIGTERM, 1 SIGHUP).
pub fn signal() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// Set (or clear, with `None`) what runs after the flag on a signal.
pub fn set_watchdog(watchdog: Option<Watchdog>) {
    if let Ok(mut w) = WATCHDOG.lock() {
        *w = watchdog;
    }
}
