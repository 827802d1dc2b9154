//! What a student sees if labrunner itself fails (a panic: a bug, never bad input).
//!
//! The release build aborts on a panic (no unwinding tables: a smaller binary), so nothing is
//! dropped on the way out. The hook prints Rust's own message, which names the file and line of
//! labrunner's code that failed, then puts back the cursor a progress bar or menu hid and says
//! what is safe: progress and the ledger are written to disk as each step and resource is
//! recorded, so `resume` and `cleanup` carry on from there.

use std::io::{IsTerminal, Write};

/// Installs the hook, keeping Rust's default report (and `RUST_BACKTRACE`) in front of ours.
pub fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let stderr = std::io::stderr();
        if stderr.is_terminal() {
            let _ = console::Term::stderr().show_cursor();
        }
        // A release build aborts: no guard is dropped, so the terminal's echo comes back here.
        super::tty::restore();
        // Straight to stderr: the `Ui` that owns the output may be what failed.
        let _ = writeln!(stderr.lock(), "{}", note());
    }));
}

fn note() -> String {
    format!(
        "\nlabrunner {} stopped on an internal error (a bug in labrunner, not in your lab or \
         account).\nEverything recorded so far is on disk: `labrunner resume` continues the lab and \
         `labrunner cleanup` removes what it made.\nPlease report the message above, with the \
         command you ran.",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_note_says_what_is_safe_and_what_to_run() {
        let note = super::note();
        assert!(note.contains(env!("CARGO_PKG_VERSION")));
        assert!(note.contains("`labrunner resume`"));
        assert!(note.contains("`labrunner cleanup`"));
    }
}
