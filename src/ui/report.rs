//! Drawing the runner's events: on a terminal (step pages, live spinners per check), as
//! plain timestamped lines (no terminal, or CI), or as one JSON object per line (`--json`).

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::markdown::{render, RenderOptions};
use super::page::step_page_with;
use super::{wrap_words, Styles};
use crate::cleanup::CleanupEvent;
use crate::exec::Stream;
use crate::lab::Lab;
use crate::session::event::{Event, Reporter, StepResult};
use crate::verify::Status;

/// Writes events as JSON lines.
pub struct JsonReporter {
    out: Box<dyn Write + Send>,
}

impl JsonReporter {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        JsonReporter { out }
    }
}

impl Reporter for JsonReporter {
    fn event(&mut self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

/// Draws events as text: pages and spinners on a terminal, timestamped lines otherwise.
pub struct TextReporter {
    lab: Lab,
    out: Box<dyn Write + Send>,
    styles: Styles,
    render: RenderOptions,
    /// Terminal mode: step pages and spinners. Plain mode: timestamped lines.
    fancy: bool,
    /// Show each step's instructions (interactive runs).
    pages: bool,
    multi: Option<MultiProgress>,
    spinners: HashMap<usize, ProgressBar>,
    checks: Vec<String>,
    /// The live details last printed per check (plain mode prints them when they change).
    details: HashMap<usize, Vec<String>>,
}

impl TextReporter {
    /// A reporter for `lab` writing to `out`. `fancy` turns on spinners (a terminal);
    /// `pages` shows each step's instructions.
    pub fn new(
        lab: Lab,
        out: Box<dyn Write + Send>,
        render: RenderOptions,
        fancy: bool,
        pages: bool,
    ) -> Self {
        TextReporter {
            lab,
            out,
            styles: Styles::new(render.color),
            render,
            fancy,
            pages,
            multi: None,
            spinners: HashMap::new(),
            checks: Vec::new(),
            details: HashMap::new(),
        }
    }

    fn line(&mut self, text: &str) {
        if !self.fancy {
            let _ = writeln!(self.out, "[{}] {text}", clock());
            return;
        }
        // On a terminal every line fits its width: a line the terminal wraps itself is
        // miscounted by the live view, which then leaves stale copies behind.
        let lines = wrap_words(text, self.render.width);
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(lines.join("\n"));
            }
            None => {
                for line in lines {
                    let _ = writeln!(self.out, "{line}");
                }
            }
        }
    }

    fn spinner(&mut self, index: usize) -> Option<&ProgressBar> {
        if !self.fancy {
            return None;
        }
        let multi =
            self.multi.get_or_insert_with(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let label = self.checks.get(index).cloned().unwrap_or_default();
        let width = self.render.width;
        Some(self.spinners.entry(index).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(fit(&label, width.saturating_sub(24)));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    fn clear_spinners(&mut self) {
        for (_, bar) in self.spinners.drain() {
            bar.finish_and_clear();
        }
        self.multi = None;
    }
}

/// `text` cut to `width` columns (with `…`), so a redrawn line never wraps.
fn fit(text: &str, width: usize) -> String {
    console::truncate_str(text, width.max(8), "…").into_owned()
}

fn clock() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.get(11..19).unwrap_or(&now).to_string()
}

impl Reporter for TextReporter {
    fn event(&mut self, event: &Event) {
        let s = self.styles.clone();
        match event {
            Event::LabStarted { title, account, arn, region, total, finished, resumed, .. } => {
                self.line(&format!("{}", s.heading.apply_to(title)));
                self.line(&format!("Account {account} ({arn}), region {region}"));
                if *resumed {
                    self.line(&format!("Continuing: {finished} of {total} steps finished before."));
                }
            }
            Event::Notice { text } => {
                // Wrapped at words to the terminal: a notice is read, not copied.
                self.line(&format!("{}", s.dim.apply_to(text)));
            }
            Event::ModuleStarted { title, intro, resumed } => {
                let heading = if *resumed { format!("{title} (continued)") } else { title.clone() };
                if self.pages {
                    let rule = "━".repeat(self.render.width.clamp(20, 100));
                    let _ = writeln!(self.out, "\n{}\n{}", s.heading.apply_to(&heading), s.dim.apply_to(rule));
                    if !intro.trim().is_empty() {
                        let _ = write!(self.out, "{}", render(intro, self.render));
                    }
                } else {
                    self.line(&format!("{} {heading}", s.heading.apply_to("Module ·")));
                }
            }
            Event::StepStarted { step, title, number, total, checks, creates } => {
                if self.pages {
                    if let Some(st) = self.lab.step(step) {
                        let page = step_page_with(st, *number, *total, self.render, checks, creates);
                        let _ = writeln!(self.out, "\n{page}");
                    }
                } else {
                    self.line(&format!(
                        "{} {title} [{step}]",
                        s.heading.apply_to(format!("Step {number}/{total} ·"))
                    ));
                }
            }
            Event::BlockStarted { block, code, .. } => {
                let first = code.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
                self.line(&format!(
                    "{} {}",
                    s.bold.apply_to(format!("▶ block {block}:")),
                    s.code.apply_to(first)
                ));
            }
            Event::Output { stream, line, .. } => {
                let bar = if *stream == Stream::Stderr {
                    s.warn.apply_to("│").to_string()
                } else {
                    s.dim.apply_to("│").to_string()
                };
                self.line(&format!("  {bar} {line}"));
            }
            Event::BlockFinished { block, status, .. } => match status {
                Some(0) => {}
                Some(code) => {
                    self.line(&format!("{} block {block} exited with status {code}", s.mark(false)))
                }
                None => self.line(&format!("{} block {block} was stopped", s.mark(false))),
            },
            Event::VariableSet { name, value } => {
                self.line(&format!("  {} {name} = {value}", s.dim.apply_to("•")))
            }
            Event::ResourceRecorded { resource, .. } => {
                self.line(&format!("  {} recorded for cleanup: {resource}", s.dim.apply_to("+")))
            }
            Event::ResourcePreexisting { resource, .. } => self.line(&format!(
                "  {} {resource} existed before this step; it is not recorded, so cleanup will leave it",
                s.warn.apply_to("!")
            )),
            Event::ResourceNotFound { resource, reason, .. } => {
                self.line(&format!("  {} not recorded: {resource} ({reason})", s.warn.apply_to("!")))
            }
            Event::ChecksStarted { checks, .. } => {
                self.checks = checks.clone();
                if !self.fancy {
                    self.line(&format!("checking {} thing(s)", checks.len()));
                }
            }
            Event::CheckProgress { index, status, details, .. } => {
                let width = self.render.width;
                let label_width = console::measure_text_width(self.checks.get(*index).map_or("", String::as_str));
                if let Some(bar) = self.spinner(*index) {
                    // Every line fits the terminal: a wrapped line would leave stale copies.
                    let first = fit(status, width.saturating_sub(label_width + 4));
                    let mut message = first;
                    for d in details {
                        message.push('\n');
                        message.push_str(&fit(&format!("    {d}"), width.saturating_sub(1)));
                    }
                    bar.set_message(message);
                } else if !self.fancy {
                    let label = self.checks.get(*index).cloned().unwrap_or_default();
                    self.line(&format!("  … {label}: {status}"));
                    if self.details.get(index) != Some(details) {
                        for d in details {
                            self.line(&format!("      {d}"));
                        }
                        self.details.insert(*index, details.clone());
                    }
                }
            }
            Event::CheckFinished { index, outcome, .. } => {
                if let Some(bar) = self.spinners.remove(index) {
                    bar.finish_and_clear();
                }
                let mark = match outcome.status {
                    Status::Pass => s.mark(true),
                    Status::Fail => s.mark(false),
                    Status::Error => s.warn.apply_to("!").to_string(),
                };
                let elapsed =
                    humantime::format_duration(Duration::from_millis(outcome.elapsed.as_millis() as u64));
                self.line(&format!(
                    "{mark} {}: {} {}",
                    outcome.description,
                    outcome.evidence,
                    s.dim.apply_to(format!("({elapsed})"))
                ));
                for d in &outcome.diagnostics {
                    self.line(&format!("    {}", s.dim.apply_to(d)));
                }
                if self.spinners.is_empty() {
                    self.clear_spinners();
                }
            }
            Event::Hints { hints, .. } => {
                for h in hints {
                    let text = render(h, self.render);
                    self.line(&format!("{} {}", s.warn.apply_to("Hint:"), text.trim_end()));
                }
            }
            Event::StepFinished { step, result } => {
                self.clear_spinners();
                let text = match result {
                    StepResult::Done => format!("{} step {step} done", s.mark(true)),
                    StepResult::Shown => format!("{} step {step} shown, not verified", s.dim.apply_to("○")),
                    StepResult::Skipped => format!("{} step {step} skipped", s.warn.apply_to("»")),
                    StepResult::Failed => format!("{} step {step} is not done", s.mark(false)),
                    StepResult::Interrupted => format!("{} step {step} interrupted", s.warn.apply_to("■")),
                };
                self.line(&text);
            }
            Event::Drifted { step, evidence } => {
                self.line(&format!(
                    "{} step {step} no longer checks out; it is looked at again before anything runs:",
                    s.warn.apply_to("!")
                ));
                for e in evidence {
                    self.line(&format!("    {}", s.dim.apply_to(e)));
                }
            }
            Event::Unchecked { step, evidence } => {
                self.line(&format!(
                    "{} step {step} could not be checked again; it stays done and nothing is re-run:",
                    s.warn.apply_to("!")
                ));
                for e in evidence {
                    self.line(&format!("    {}", s.dim.apply_to(e)));
                }
            }
            Event::ResourcesExist { step, resources } => {
                self.line(&format!(
                    "{} step {step} ran before; of what it creates, these exist now:",
                    s.warn.apply_to("!")
                ));
                for r in resources {
                    self.line(&format!("    {r}"));
                }
            }
            Event::ResourceAmbiguous { resource, ids, .. } => self.line(&format!(
                "  {} {} resources match {resource} and appeared during this step: {}; all are recorded for cleanup",
                s.warn.apply_to("!"),
                ids.len(),
                ids.join(", ")
            )),
            Event::LabFinished { done, shown, skipped, skipped_steps, total, complete, .. } => {
                let mut counts = format!("{done} of {total} steps done");
                if *shown > 0 {
                    counts.push_str(&format!(", {shown} shown but not verified"));
                }
                counts.push_str(&format!(", {skipped} skipped"));
                if !skipped_steps.is_empty() {
                    counts.push_str(&format!(" ({})", skipped_steps.join(", ")));
                }
                let text = match (*complete, *done) {
                    // Reading steps only: nothing was checked, so nothing is claimed.
                    (true, 0) if *shown > 0 => format!("{} lab read to its end: {counts}", s.dim.apply_to("○")),
                    (true, _) => format!("{} lab finished: {counts}", s.mark(true)),
                    (false, _) => counts,
                };
                self.line(&text);
            }
        }
    }
}

/// One line for a cleanup event (cleanup reports progress on standard error as it goes).
pub fn cleanup_line(event: &CleanupEvent, s: &Styles) -> String {
    match event {
        CleanupEvent::WaveStarted { wave, count } => {
            format!("{}", s.dim.apply_to(format!("wave {wave}: {count} resource(s)")))
        }
        CleanupEvent::Deleting { resource } => format!("  deleting {resource}"),
        CleanupEvent::Waiting { resource, what } => {
            format!("  {} {resource}: waiting for {what}", s.dim.apply_to("…"))
        }
        CleanupEvent::Deleted { resource } => format!("  {} deleted {resource}", s.mark(true)),
        CleanupEvent::AlreadyGone { resource } => format!("  {} already gone: {resource}", s.mark(true)),
        CleanupEvent::Failed { resource, error } => format!("  {} {resource}: {error}", s.mark(false)),
        CleanupEvent::Retrying { resource, attempt, error } => {
            format!("  {} {resource}: retry {attempt} after {error}", s.warn.apply_to("↻"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_lines_in_plain_text() {
        let s = Styles::new(false);
        let cases = [
            (CleanupEvent::WaveStarted { wave: 2, count: 3 }, "wave 2: 3 resource(s)"),
            (CleanupEvent::Deleted { resource: "log_group /x".into() }, "  ✓ deleted log_group /x"),
            (
                CleanupEvent::Failed { resource: "vpc v".into(), error: "DependencyViolation".into() },
                "  ✗ vpc v: DependencyViolation",
            ),
            (
                CleanupEvent::Retrying { resource: "vpc v".into(), attempt: 2, error: "Throttling".into() },
                "  ↻ vpc v: retry 2 after Throttling",
            ),
        ];
        for (event, want) in cases {
            assert_eq!(cleanup_line(&event, &s), want);
        }
    }
}
