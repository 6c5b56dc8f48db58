//! SIGINT (Ctrl-C) and SIGTERM (a scheduler's time limit) during `bench run`: the first one
//! only sets a flag that the runner polls between samples, so the point in flight stops
//! promptly, is recorded as failed with reason `interrupted`, and run.json keeps every
//! finished point; the process then exits 130 (SIGINT) or 143 (SIGTERM). A second signal ends
//! the process at once with the same status (run.json is still whole: it is only ever
//! replaced by a rename). The handlers are signal-hook's async-signal-safe flag setters.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// A signal that asks the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }

    /// The shell's status for a process ended by this signal (128 + its number).
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }
}

struct Flags {
    any: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() -> std::io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        any: Arc::new(AtomicBool::new(false)),
        which: Arc::new(AtomicUsize::new(0)),
    };
    for (sig, status) in [(SIGINT, 130), (SIGTERM, 143)] {
        // The shutdown goes first: it fires only once the flag below is already set.
        signal_hook::flag::register_conditional_shutdown(sig, status, Arc::clone(&flags.any))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&flags.which), sig as usize)?;
        signal_hook::flag::register(sig, Arc::clone(&flags.any))?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The signal received since [`install`], if any.
pub fn requested() -> Option<Signal> {
    let f = FLAGS.get()?;
    if !f.any.load(Ordering::SeqCst) {
        return None;
    }
    match f.which.load(Ordering::SeqCst) as i32 {
        SIGTERM => Some(Signal::Term),
        _ => Some(Signal::Int),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(Signal::Int.exit_code(), 128 + SIGINT as u8);
        assert_eq!(Signal::Term.exit_code(), 128 + SIGTERM as u8);
        assert_eq!(requested(), None, "nothing installed, nothing requested");
    }
}
