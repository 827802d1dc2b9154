//! Asking the student: the trait the runner asks through, and a scripted implementation for
//! tests. The terminal and line-based implementations belong to the UI ([`crate::ui::prompt`]).

use std::collections::VecDeque;
use std::io;

use tokio::sync::oneshot;

/// Questions the runner asks.
pub trait Prompter: Send {
    /// Picks one of `items`; returns its index.
    fn select(&mut self, prompt: &str, items: &[&str], default: usize) -> io::Result<usize>;
    /// Asks for a text value, offering `default`.
    fn input(&mut self, prompt: &str, default: Option<&str>) -> io::Result<String>;
    /// Yes or no.
    fn confirm(&mut self, prompt: &str, default: bool) -> io::Result<bool>;
    /// Resolves when the student presses Enter (used while watching checks). Dropping the
    /// wait stops listening and undoes whatever the prompter changed for it.
    fn enter(&mut self) -> EnterWait;
}

/// A wait for Enter while checks are watched: [`EnterWait::pressed`] resolves `true` on
/// Enter, `false` once input has ended. Whatever the prompter changed for the wait (a
/// terminal's echo) is put back when the wait is dropped, at once, not when a reader thread
/// next notices.
pub struct EnterWait {
    rx: oneshot::Receiver<()>,
    _restore: Option<Box<dyn Send>>,
}

impl EnterWait {
    /// A wait resolved through `rx`; `restore` is dropped with it.
    pub fn new(rx: oneshot::Receiver<()>, restore: Option<Box<dyn Send>>) -> Self {
        EnterWait { rx, _restore: restore }
    }

    /// True when Enter was pressed, false when it never can be (input closed).
    pub async fn pressed(&mut self) -> bool {
        (&mut self.rx).await.is_ok()
    }
}

/// Answers given in advance, for tests of the runner's logic.
#[derive(Debug, Default)]
pub struct ScriptedPrompter {
    answers: VecDeque<String>,
    /// Every question asked, in order.
    pub asked: Vec<String>,
}

impl ScriptedPrompter {
    /// Answers in order: an item's number or label for `select`, text for `input`, y/n.
    pub fn new(answers: &[&str]) -> Self {
        ScriptedPrompter { answers: answers.iter().map(|s| s.to_string()).collect(), asked: Vec::new() }
    }

    fn next(&mut self, prompt: &str) -> io::Result<String> {
        self.asked.push(prompt.to_string());
        self.answers.pop_front().ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, format!("no scripted answer for {prompt:?}"))
        })
    }
}

impl Prompter for ScriptedPrompter {
    fn select(&mut self, prompt: &str, items: &[&str], default: usize) -> io::Result<usize> {
        let answer = self.next(prompt)?;
        Ok(pick(&answer, items).unwrap_or(default))
    }

    fn input(&mut self, prompt: &str, default: Option<&str>) -> io::Result<String> {
        let answer = self.next(prompt)?;
        Ok(if answer.is_empty() { default.unwrap_or("").to_string() } else { answer })
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> io::Result<bool> {
        Ok(match self.next(prompt)?.as_str() {
            "y" => true,
            "n" => false,
            _ => default,
        })
    }

    fn enter(&mut self) -> EnterWait {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        EnterWait::new(rx, None)
    }
}

/// An answer as a 1-based number, or the start of an item's label (case-insensitive).
pub(crate) fn pick(answer: &str, items: &[&str]) -> Option<usize> {
    let answer = answer.trim().to_ascii_lowercase();
    if answer.is_empty() {
        return None;
    }
    if let Ok(n) = answer.parse::<usize>() {
        return (1..=items.len()).contains(&n).then(|| n - 1);
    }
    items.iter().position(|item| item.to_ascii_lowercase().starts_with(&answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_number_or_label() {
        let items = ["Run it for me", "I'll do it myself", "Skip", "Quit"];
        let cases = [
            ("1", Some(0)),
            ("4", Some(3)),
            ("9", None),
            ("run", Some(0)),
            ("i'll", Some(1)),
            ("q", Some(3)),
            ("", None),
        ];
        for (answer, want) in cases {
            assert_eq!(pick(answer, &items), want, "{answer:?}");
        }
    }
}
