//! The prompters of a real process: dialoguer on a terminal, and lines read from standard
//! input when LABRUNNER_INTERACTIVE=1 forces the interactive flow through a pipe (how tests
//! drive prompts). Which one a command gets is decided in one place: [`prompter_for`].

use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::oneshot;

use crate::session::prompt::{pick, EnterWait, Prompter};

/// The prompter for a command: none when it may not ask (`interactive` is false: no
/// terminal, CI, or an unattended run), dialoguer on a terminal, lines from a piped standard
/// input otherwise.
pub fn prompter_for(interactive: bool) -> Option<Box<dyn Prompter>> {
    if !interactive {
        return None;
    }
    Some(if io::stdin().is_terminal() {
        Box::new(TerminalPrompter::new())
    } else {
        Box::new(LinePrompter::new())
    })
}

/// Prompts on the terminal with dialoguer.
pub struct TerminalPrompter {
    theme: dialoguer::theme::ColorfulTheme,
}

impl TerminalPrompter {
    /// A terminal prompter.
    pub fn new() -> Self {
        TerminalPrompter { theme: dialoguer::theme::ColorfulTheme::default() }
    }
}

impl Default for TerminalPrompter {
    fn default() -> Self {
        Self::new()
    }
}

/// Throws away keys pressed before the question was asked (an Enter hit while a check was
/// being watched must not answer the next menu).
fn discard_pending_keys() {
    use std::os::fd::AsFd;
    let stdin = io::stdin();
    let _ = nix::sys::termios::tcflush(stdin.as_fd(), nix::sys::termios::FlushArg::TCIFLUSH);
}

fn to_io(e: dialoguer::Error) -> io::Error {
    match e {
        dialoguer::Error::IO(e) => e,
    }
}

impl Prompter for TerminalPrompter {
    fn select(&mut self, prompt: &str, items: &[&str], default: usize) -> io::Result<usize> {
        discard_pending_keys();
        dialoguer::Select::with_theme(&self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact_on_opt(&console::Term::stderr())
            .map_err(to_io)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::Interrupted, "cancelled"))
    }

    fn input(&mut self, prompt: &str, default: Option<&str>) -> io::Result<String> {
        discard_pending_keys();
        let mut input = dialoguer::Input::<String>::with_theme(&self.theme).with_prompt(prompt);
        if let Some(d) = default {
            input = input.default(d.to_string());
        }
        input.interact_text_on(&console::Term::stderr()).map_err(to_io)
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> io::Result<bool> {
        discard_pending_keys();
        dialoguer::Confirm::with_theme(&self.theme)
            .with_prompt(prompt)
            .default(default)
            .interact_on(&console::Term::stderr())
            .map_err(to_io)
    }

    fn enter(&mut self) -> EnterWait {
        let (tx, rx) = oneshot::channel();
        let echo = super::tty::echo_off();
        // Wait for input without taking it, and give up once the watch drops the receiver:
        // a blocked read left behind would swallow the student's next keystroke.
        std::thread::spawn(move || {
            use std::os::fd::AsFd;
            let stdin = io::stdin();
            while !tx.is_closed() {
                let mut fds = [nix::poll::PollFd::new(stdin.as_fd(), nix::poll::PollFlags::POLLIN)];
                match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)) {
                    Ok(0) => continue,
                    Ok(_) => {
                        if !tx.is_closed() && read_whole_line(&stdin) {
                            let _ = tx.send(());
                        }
                        return;
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => return,
                }
            }
        });
        EnterWait::new(rx, Some(Box::new(echo)))
    }
}

/// Reads one line from the terminal, straight from the descriptor: the terminal is in canonical
/// mode, so the line is whole once the descriptor is readable, and nothing is echoed back (a
/// line editor such as `console`'s writes each key and a newline to the screen, under the
/// live lines). False at end of input.
fn read_whole_line(stdin: &io::Stdin) -> bool {
    use std::os::fd::AsFd;
    let mut buf = [0u8; 256];
    loop {
        match nix::unistd::read(stdin.as_fd(), &mut buf) {
            Ok(0) => return false,
            Ok(n) if buf[..n].contains(&b'\n') => return true,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// Reads answers as lines from standard input; writes questions to standard error.
/// Used when LABRUNNER_INTERACTIVE=1 forces the interactive flow without a terminal.
///
/// One reader thread owns standard input. A line goes to the watch waiting for Enter if
/// there is one, otherwise it is queued as the answer to the next question; a watch that
/// ended on its own leaves nothing behind that could swallow a later answer.
pub struct LinePrompter {
    shared: Arc<(Mutex<Lines>, Condvar)>,
}

#[derive(Default)]
struct Lines {
    queued: VecDeque<String>,
    closed: bool,
    /// The watch waiting for Enter, if any.
    enter: Option<oneshot::Sender<()>>,
    /// After end of input, Enter can never come: such senders are kept, never fired.
    never: Vec<oneshot::Sender<()>>,
}

impl LinePrompter {
    /// Starts the reader of standard input.
    pub fn new() -> Self {
        let shared = Arc::new((Mutex::new(Lines::default()), Condvar::new()));
        let reader = Arc::clone(&shared);
        std::thread::spawn(move || {
            let (lock, ready) = &*reader;
            for line in io::stdin().lock().lines().map_while(Result::ok) {
                let Ok(mut lines) = lock.lock() else { return };
                match lines.enter.take() {
                    Some(tx) if !tx.is_closed() => {
                        let _ = tx.send(());
                    }
                    _ => lines.queued.push_back(line),
                }
                ready.notify_all();
            }
            if let Ok(mut lines) = lock.lock() {
                lines.closed = true;
                let pending: Vec<_> = lines.enter.take().into_iter().collect();
                lines.never.extend(pending);
            }
            ready.notify_all();
        });
        LinePrompter { shared }
    }

    fn next_line(&self) -> io::Result<String> {
        let (lock, ready) = &*self.shared;
        let mut lines = lock.lock().map_err(|_| io::Error::other("prompt reader poisoned"))?;
        // A question means no watch is waiting for Enter any more.
        lines.enter = None;
        loop {
            if let Some(line) = lines.queued.pop_front() {
                return Ok(line);
            }
            if lines.closed {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "standard input closed"));
            }
            lines = ready.wait(lines).map_err(|_| io::Error::other("prompt reader poisoned"))?;
        }
    }
}

impl Default for LinePrompter {
    fn default() -> Self {
        Self::new()
    }
}

impl Prompter for LinePrompter {
    fn select(&mut self, prompt: &str, items: &[&str], default: usize) -> io::Result<usize> {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{prompt}");
        for (i, item) in items.iter().enumerate() {
            let _ = writeln!(err, "  {}) {item}", i + 1);
        }
        let _ = write!(err, "> ");
        let _ = err.flush();
        drop(err);
        let answer = self.next_line()?;
        Ok(pick(&answer, items).unwrap_or(default))
    }

    fn input(&mut self, prompt: &str, default: Option<&str>) -> io::Result<String> {
        let _ = write!(io::stderr(), "{prompt}{}: ", default.map(|d| format!(" [{d}]")).unwrap_or_default());
        let answer = self.next_line()?;
        let answer = answer.trim();
        Ok(if answer.is_empty() { default.unwrap_or("").to_string() } else { answer.to_string() })
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> io::Result<bool> {
        let _ = write!(io::stderr(), "{prompt} [{}] ", if default { "Y/n" } else { "y/N" });
        let answer = self.next_line()?;
        Ok(match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => true,
            "n" | "no" => false,
            _ => default,
        })
    }

    fn enter(&mut self) -> EnterWait {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut lines) = self.shared.0.lock() {
            if lines.closed {
                lines.never.push(tx);
            } else {
                lines.enter = Some(tx);
            }
        }
        EnterWait::new(rx, None)
    }
}
