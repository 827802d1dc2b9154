//! The terminal's echo, off while labrunner draws live lines (check spinners, a watch waiting
//! for Enter). Keys typed then would otherwise be echoed into the live lines: the cursor moves,
//! the next redraw starts a line or two off, and stale spinner frames stay above the result.
//! Lines are still read whole (canonical mode stays on), so Enter still means "look now", and
//! Ctrl-C still interrupts.
//!
//! Holders nest and may end in any order: the first turns echo off, the last puts the
//! terminal back as it was. [`restore`] puts it back at once (before exiting).

use std::io;
use std::sync::Mutex;

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};

struct Quiet {
    holders: usize,
    /// The settings before the first holder, if standard input is a terminal.
    saved: Option<Termios>,
}

static QUIET: Mutex<Quiet> = Mutex::new(Quiet { holders: 0, saved: None });

/// Echo is off while this lives (if standard input is a terminal).
#[must_use = "echo comes back when the guard is dropped"]
pub struct EchoOff(());

/// Turns the terminal's echo off until the guard (and every other one) is dropped.
pub fn echo_off() -> EchoOff {
    let mut quiet = QUIET.lock().unwrap_or_else(|e| e.into_inner());
    if quiet.holders == 0 {
        let stdin = io::stdin();
        if let Ok(saved) = tcgetattr(&stdin) {
            let mut silent = saved.clone();
            silent.local_flags.remove(LocalFlags::ECHO | LocalFlags::ECHONL);
            if tcsetattr(&stdin, SetArg::TCSANOW, &silent).is_ok() {
                quiet.saved = Some(saved);
            }
        }
    }
    quiet.holders += 1;
    EchoOff(())
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let mut quiet = QUIET.lock().unwrap_or_else(|e| e.into_inner());
        quiet.holders = quiet.holders.saturating_sub(1);
        if quiet.holders == 0 {
            put_back(&mut quiet);
        }
    }
}

/// Puts the terminal back as it was before echo was turned off, whoever still holds it.
pub fn restore() {
    put_back(&mut QUIET.lock().unwrap_or_else(|e| e.into_inner()));
}

fn put_back(quiet: &mut Quiet) {
    if let Some(saved) = quiet.saved.take() {
        let _ = tcsetattr(io::stdin(), SetArg::TCSANOW, &saved);
    }
}
