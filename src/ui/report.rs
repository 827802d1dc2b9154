//! Drawing the runner's events: on a terminal (step pages, live spinners per check), as
//! plain timestamped lines (no terminal, or CI), or as one JSON object per line (`--json`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::markdown::{render, RenderOptions};
use super::page::step_page_with;
use super::{wrap_words, Styles};
use crate::cleanup::CleanupEvent;
use crate::clock::{Clock, SystemClock};
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
    /// The terminal's echo is off while spinners are drawn (`ui::tty`).
    quiet: Option<super::tty::EchoOff>,
    checks: Vec<String>,
    /// The live details last printed per check (plain mode prints them when they change).
    details: HashMap<usize, Vec<String>>,
    /// Where timestamps come from.
    clock: Arc<dyn Clock>,
    /// Where the live view draws (standard error, or a test's in-memory terminal).
    draw_target: Box<dyn Fn() -> ProgressDrawTarget + Send>,
    /// Spinners animate on their own (off for a reproducible drawing).
    steady_tick: bool,
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
            quiet: None,
            checks: Vec::new(),
            details: HashMap::new(),
            clock: Arc::new(SystemClock),
            draw_target: Box::new(ProgressDrawTarget::stderr),
            steady_tick: true,
        }
    }

    /// Timestamps from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The live view drawn on what `target` makes instead of standard error, without its own
    /// animation (each frame is drawn by an event): the drawing is reproducible.
    pub fn with_draw_target(mut self, target: impl Fn() -> ProgressDrawTarget + Send + 'static) -> Self {
        self.draw_target = Box::new(target);
        self.steady_tick = false;
        self
    }

    fn line(&mut self, text: &str) {
        if !self.fancy {
            let _ = writeln!(self.out, "[{}] {text}", time_of_day(self.clock.wall()));
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
        let draw_target = &self.draw_target;
        // Keys typed now would be echoed into the live lines and shift every redraw.
        self.quiet.get_or_insert_with(super::tty::echo_off);
        let multi = self.multi.get_or_insert_with(|| MultiProgress::with_draw_target(draw_target()));
        let label = self.checks.get(index).cloned().unwrap_or_default();
        let width = self.render.width;
        let steady_tick = self.steady_tick;
        Some(self.spinners.entry(index).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(fit(&label, width.saturating_sub(24)));
            if steady_tick {
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            bar
        }))
    }

    fn clear_spinners(&mut self) {
        for (_, bar) in self.spinners.drain() {
            bar.finish_and_clear();
        }
        self.multi = None;
        self.quiet = None;
    }
}

/// `text` cut to `width` columns (with `…`), so a redrawn line never wraps.
fn fit(text: &str, width: usize) -> String {
    console::truncate_str(text, width.max(8), "…").into_owned()
}

/// `HH:MM:SS` (UTC) of `at`.
fn time_of_day(at: std::time::SystemTime) -> String {
    let now = humantime::format_rfc3339_seconds(at).to_string();
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
            Event::ResourceAwaited { resource, .. } => self.line(&format!(
                "  {} {resource}: AWS makes it for the lab; it is recorded when it appears (cleanup looks for it too)",
                s.dim.apply_to("…")
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
    use std::sync::Mutex;

    use indicatif::{InMemoryTerm, TermLike};

    use super::*;
    use crate::clock::FakeClock;
    use crate::verify::Outcome;

    /// What the reporter wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::ErrorKind::Other)?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// Lines written outside the live view go to the same in-memory terminal.
    struct TermWriter(InMemoryTerm);

    impl Write for TermWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write_str(&String::from_utf8_lossy(buf).replace('\n', "\r\n"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lab() -> Lab {
        let page = "# Services\n\n## Create the cluster\n\n<!-- labrunner:step\nid: create-cluster\n-->\n```bash\naws ecs create-cluster --cluster-name demo\n```\n";
        let module = crate::lab::parse::parse_module(std::path::Path::new("m.md"), page).unwrap();
        Lab { manifest: Default::default(), manifest_path: "labs/x.yaml".into(), modules: vec![module] }
    }

    fn outcome(
        status: Status,
        description: &str,
        evidence: &str,
        diagnostics: &[&str],
        secs: u64,
    ) -> Outcome {
        Outcome {
            kind: "service_stable",
            description: description.into(),
            status,
            evidence: evidence.into(),
            diagnostics: diagnostics.iter().map(|d| d.to_string()).collect(),
            attempts: 3,
            elapsed: Duration::from_secs(secs),
        }
    }

    fn step(id: &str) -> String {
        id.to_string()
    }

    /// A step whose service cannot start: the events the runner sends, in order.
    fn failing_step() -> Vec<Event> {
        let check = "service web in cluster demo is stable".to_string();
        vec![
            Event::LabStarted {
                lab: "demo".into(),
                title: "Demo lab".into(),
                account: "123456789012".into(),
                arn: "arn:aws:iam::123456789012:user/student".into(),
                region: "eu-west-1".into(),
                total: 2,
                finished: 0,
                resumed: false,
            },
            Event::ModuleStarted { title: "Services".into(), intro: String::new(), resumed: false },
            Event::StepStarted {
                step: step("create-cluster"),
                title: "Create the cluster".into(),
                number: 1,
                total: 2,
                checks: vec![check.clone()],
                creates: vec![],
            },
            Event::BlockStarted { step: step("create-cluster"), block: 1, code: "aws ecs create-cluster --cluster-name demo\n".into() },
            Event::Output { step: step("create-cluster"), stream: Stream::Stdout, line: "{\"cluster\": \"demo\"}".into() },
            Event::BlockFinished { step: step("create-cluster"), block: 1, status: Some(0) },
            Event::ResourceRecorded { step: step("create-cluster"), resource: "ecs_cluster demo".into() },
            Event::ChecksStarted { step: step("create-cluster"), checks: vec![check.clone()] },
            Event::CheckProgress {
                step: step("create-cluster"),
                index: 0,
                status: "0/2 running, 2 pending, rollout IN_PROGRESS".into(),
                details: vec!["event: (service web) has started 2 tasks: (task 1a2b) (task 3c4d).".into()],
                attempt: 1,
            },
            Event::CheckProgress {
                step: step("create-cluster"),
                index: 0,
                status: "0/2 running, 2 pending, 4 failed tasks, rollout IN_PROGRESS".into(),
                details: vec![
                    "stopped task 1a2b: CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:missing".into(),
                ],
                attempt: 2,
            },
            Event::CheckFinished {
                step: step("create-cluster"),
                index: 0,
                outcome: outcome(
                    Status::Fail,
                    &check,
                    "0/2 running, rollout FAILED",
                    &["stopped task 1a2b: CannotPullContainerError: image not found"],
                    42,
                ),
            },
            Event::Hints { step: step("create-cluster"), hints: vec!["Check the image name.".into()] },
            Event::StepFinished { step: step("create-cluster"), result: StepResult::Failed },
            Event::LabFinished {
                done: 0,
                shown: 0,
                skipped: 0,
                skipped_steps: vec![],
                total: 2,
                resources: 1,
                complete: false,
            },
        ]
    }

    #[test]
    fn plain_lines_carry_the_injected_time_and_the_whole_failure() {
        let out = Buffer::default();
        let clock = FakeClock::new();
        let render = RenderOptions { color: false, width: 100 };
        let mut reporter =
            TextReporter::new(lab(), Box::new(out.clone()), render, false, false).with_clock(clock.clone());
        for (i, event) in failing_step().iter().enumerate() {
            if i == 9 {
                // The second look comes two seconds after the first.
                futures_util::FutureExt::now_or_never(clock.sleep(Duration::from_secs(2)));
            }
            reporter.event(event);
        }
        assert_eq!(
            out.text(),
            "\
[09:00:00] Demo lab
[09:00:00] Account 123456789012 (arn:aws:iam::123456789012:user/student), region eu-west-1
[09:00:00] Module · Services
[09:00:00] Step 1/2 · Create the cluster [create-cluster]
[09:00:00] ▶ block 1: aws ecs create-cluster --cluster-name demo
[09:00:00]   │ {\"cluster\": \"demo\"}
[09:00:00]   + recorded for cleanup: ecs_cluster demo
[09:00:00] checking 1 thing(s)
[09:00:00]   … service web in cluster demo is stable: 0/2 running, 2 pending, rollout IN_PROGRESS
[09:00:00]       event: (service web) has started 2 tasks: (task 1a2b) (task 3c4d).
[09:00:02]   … service web in cluster demo is stable: 0/2 running, 2 pending, 4 failed tasks, rollout IN_PROGRESS
[09:00:02]       stopped task 1a2b: CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:missing
[09:00:02] ✗ service web in cluster demo is stable: 0/2 running, rollout FAILED (42s)
[09:00:02]     stopped task 1a2b: CannotPullContainerError: image not found
[09:00:02] Hint: Check the image name.
[09:00:02] ✗ step create-cluster is not done
[09:00:02] 0 of 2 steps done, 0 skipped
"
        );
    }

    #[test]
    fn plain_details_are_printed_again_only_when_they_change() {
        let out = Buffer::default();
        let render = RenderOptions { color: false, width: 100 };
        let mut reporter = TextReporter::new(lab(), Box::new(out.clone()), render, false, false)
            .with_clock(FakeClock::new());
        reporter.event(&Event::ChecksStarted { step: step("s"), checks: vec!["targets healthy".into()] });
        for (attempt, detail) in
            [(1, "10.0.1.5:80 initial"), (2, "10.0.1.5:80 initial"), (3, "10.0.1.5:80 healthy")]
        {
            reporter.event(&Event::CheckProgress {
                step: step("s"),
                index: 0,
                status: format!("look {attempt}"),
                details: vec![detail.into()],
                attempt,
            });
        }
        assert_eq!(
            out.text(),
            "\
[09:00:00] checking 1 thing(s)
[09:00:00]   … targets healthy: look 1
[09:00:00]       10.0.1.5:80 initial
[09:00:00]   … targets healthy: look 2
[09:00:00]   … targets healthy: look 3
[09:00:00]       10.0.1.5:80 healthy
"
        );
    }

    /// The screen of a 70-column terminal after the failing step: every line fits, the live
    /// view is gone, and nothing it drew is left behind (no stale status or spinner line).
    #[test]
    fn on_a_70_column_terminal_the_live_view_leaves_no_stale_lines() {
        let term = InMemoryTerm::new(60, 70);
        let render = RenderOptions { color: false, width: 70 };
        let target = term.clone();
        let mut reporter = TextReporter::new(lab(), Box::new(TermWriter(term.clone())), render, true, false)
            .with_clock(FakeClock::new())
            .with_draw_target(move || ProgressDrawTarget::term_like(Box::new(target.clone())));
        for event in failing_step() {
            reporter.event(&event);
        }
        let screen = term.contents();
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(
            lines,
            [
                "Demo lab",
                "Account 123456789012 (arn:aws:iam::123456789012:user/student), region",
                "eu-west-1",
                "Module · Services",
                "Step 1/2 · Create the cluster [create-cluster]",
                "▶ block 1: aws ecs create-cluster --cluster-name demo",
                "  │ {\"cluster\": \"demo\"}",
                "  + recorded for cleanup: ecs_cluster demo",
                "✗ service web in cluster demo is stable: 0/2 running, rollout FAILED",
                "(42s)",
                "    stopped task 1a2b: CannotPullContainerError: image not found",
                "Hint: Check the image name.",
                "✗ step create-cluster is not done",
                "0 of 2 steps done, 0 skipped",
            ],
            "the screen:\n{screen}"
        );
    }

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
