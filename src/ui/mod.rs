//! The user interface: where output goes, every style, error rendering, prompts and the
//! terminal Markdown renderer. Engine code never prints; it returns values or emits events
//! that this layer draws.

pub mod crash;
pub mod markdown;
pub mod page;
pub mod prompt;
pub mod report;
pub mod style;
pub mod tty;

use std::io::{IsTerminal, Write};

use crate::cli::ColorChoice;
use crate::error::Error;
pub use style::Styles;

/// Writes to the UI's stdout, ignoring a closed pipe (`labrunner show | head`).
#[macro_export]
macro_rules! out {
    ($ui:expr, $($arg:tt)*) => {{
        let _ = writeln!($ui.out(), $($arg)*);
    }};
}

/// Writes to the UI's stderr, ignoring a closed pipe.
#[macro_export]
macro_rules! err {
    ($ui:expr, $($arg:tt)*) => {{
        let _ = writeln!($ui.err(), $($arg)*);
    }};
}

/// Output streams and what kind of terminal they are.
pub struct Ui {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    /// Colour on stdout.
    pub out_color: bool,
    /// Colour on stderr.
    pub err_color: bool,
    /// Prompts and spinners are allowed: stdin and stderr are terminals and CI is not set,
    /// or LABRUNNER_INTERACTIVE=1 forces it (how tests drive prompts through a pipe).
    pub interactive: bool,
    /// Width to wrap rendered text at.
    pub width: usize,
    /// Standard output is a terminal (so a live view may redraw it in place).
    pub out_terminal: bool,
}

impl Ui {
    /// The UI of the real process: stdout, stderr, the terminal's width and colour settings.
    pub fn from_process(color: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |terminal: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color,
        };
        let stdout_terminal = std::io::stdout().is_terminal();
        let stderr_terminal = std::io::stderr().is_terminal();
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        let forced = std::env::var("LABRUNNER_INTERACTIVE").is_ok_and(|v| v == "1");
        let interactive = forced || (std::io::stdin().is_terminal() && stderr_terminal && !ci);
        // The terminal's width; piped, `COLUMNS` when set (as `less`, `fmt` and git honour it).
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok());
        let width = console::Term::stdout()
            .size_checked()
            .map(|(_, w)| usize::from(w))
            .or(columns)
            .unwrap_or(100)
            .clamp(40, 120);
        Ui {
            out: Box::new(std::io::stdout()),
            err: Box::new(std::io::stderr()),
            out_color: decide(stdout_terminal),
            err_color: decide(stderr_terminal),
            interactive,
            width,
            out_terminal: stdout_terminal,
        }
    }

    /// A UI writing into the given sinks (tests), without colour or prompts.
    pub fn captured(out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Self {
        Ui {
            out,
            err,
            out_color: false,
            err_color: false,
            interactive: false,
            width: 100,
            out_terminal: false,
        }
    }

    /// Standard output: the command's result.
    pub fn out(&mut self) -> &mut dyn Write {
        &mut *self.out
    }

    /// Standard error: status, progress, errors.
    pub fn err(&mut self) -> &mut dyn Write {
        &mut *self.err
    }

    /// Styles for stdout.
    pub fn styles(&self) -> Styles {
        Styles::new(self.out_color)
    }

    /// Styles for stderr.
    pub fn err_styles(&self) -> Styles {
        Styles::new(self.err_color)
    }

    /// Options for rendering Markdown to stdout.
    pub fn render_options(&self) -> markdown::RenderOptions {
        markdown::RenderOptions { color: self.out_color, width: self.width }
    }

    /// Renders an error, with its hint, on stderr. The one place errors are printed.
    pub fn report_error(&mut self, error: &Error) {
        let s = self.err_styles();
        if let Error::Lab { errors } = error {
            for e in errors {
                err!(self, "{} {}: {}", s.fail.apply_to("error:"), e.location, e.message);
                if let Some(hint) = &e.hint {
                    err!(self, "  {} {hint}", s.dim.apply_to("hint:"));
                }
            }
        }
        err!(self, "{} {error}", s.fail.apply_to("error:"));
        if let Some(hint) = error.hint() {
            err!(self, "  {} {hint}", s.dim.apply_to("hint:"));
        }
    }
}

/// `text` broken into lines of at most `width` columns at spaces (a word longer than a line
/// keeps its own line whole). The text's indentation starts every line, continuations too.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let body = text.trim_start_matches(' ');
    let indent = &text[..text.len() - body.len()];
    let room = width.saturating_sub(indent.len()).max(1);
    let mut lines = vec![String::new()];
    for word in body.split(' ') {
        let last = lines.last_mut().expect("one line at least");
        let needed = console::measure_text_width(last)
            + usize::from(!last.is_empty())
            + console::measure_text_width(word);
        if !last.is_empty() && needed > room {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines.into_iter().map(|line| format!("{indent}{line}")).collect()
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap_words;

    #[test]
    fn words_wrap_at_the_width_and_keep_the_indentation() {
        assert_eq!(
            wrap_words("    stopped task: image not found", 20),
            ["    stopped task:", "    image not found"]
        );
        assert_eq!(wrap_words("a b c", 3), ["a b", "c"]);
        assert_eq!(
            wrap_words("  arn:aws:ecs:eu-west-1:123456789012:service/x", 10),
            ["  arn:aws:ecs:eu-west-1:123456789012:service/x"]
        );
        assert_eq!(wrap_words("", 10), [""]);
    }
}
