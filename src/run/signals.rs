//! Termination signals (SIGINT, SIGTERM, SIGHUP): a flag that runs check at stage boundaries, and
//! a watchdog a caller can set while it needs more than the flag (the inspector, whose terminal
//! may be gone). Outside a `cooperate` section and without a watchdog, nothing polls the flag
//! (a read blocked on a FIFO, an export of a big session): the process ends at once, deleting the
//! outputs it had not yet put in place. This module knows nothing about terminals.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The number of the first signal caught (0: none), for the shell's 128+N exit code.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

type Watchdog = Arc<dyn Fn() + Send + Sync>;

static WATCHDOG: Mutex<Option<Watchdog>> = Mutex::new(None);

/// How many `Cooperating` guards are alive: while any is, a signal only sets the flag.
static COOPERATING: AtomicUsize = AtomicUsize::new(0);

fn on_signal(signo: i32) {
    let _ = SIGNAL.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
    INTERRUPTED.store(true, Ordering::SeqCst);
    // Cloned out so that clearing the watchdog never waits on a running one.
    let watchdog = WATCHDOG.lock().ok().and_then(|w| w.clone());
    match watchdog {
        Some(w) => w(),
        None if COOPERATING.load(Ordering::SeqCst) == 0 => stop_now(signo),
        None => {}
    }
}

/// End the process for signal `signo` (exit 128+N), deleting every output not yet in place, and
/// say so: nothing was polling the flag, so waiting for the work to notice could be forever.
fn stop_now(signo: i32) -> ! {
    use std::io::Write;
    let dests = crate::util::atomic::discard_all();
    let name = match signo {
        1 => "SIGHUP",
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    };
    let what = if dests.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = dests.iter().map(|d| crate::util::text::sanitize(&d.display().to_string(), 300)).collect();
        format!(": nothing was written to {}", names.join(", "))
    };
    // Not eprintln: a closed stderr must not turn the exit into a panic.
    let _ = writeln!(std::io::stderr(), "recnet: interrupted by {name}{what}");
    std::process::exit(128 + signo.clamp(1, 127))
}

/// While this guard lives, a signal only sets the flag: the holder polls `interrupted` at its
/// boundaries and stops there with what it has written so far kept (a run's valid prefix).
pub struct Cooperating(());

pub fn cooperate() -> Cooperating {
    COOPERATING.fetch_add(1, Ordering::SeqCst);
    Cooperating(())
}

impl Drop for Cooperating {
    fn drop(&mut self) {
        COOPERATING.fetch_sub(1, Ordering::SeqCst);
        // A signal that came during the section is handled by the holder, who saw the flag.
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
