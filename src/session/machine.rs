//! The step machine: what to do next in one step, decided from what just happened. Pure: no
//! I/O, no clock, no async. The runner's driver ([`super::runner`]) performs each [`Action`]
//! (asking, running the commands, recording, verifying, watching), feeds back what came of it
//! as an [`Input`], and reports the [`Event`]s the machine hands back.
//!
//! Every decision about a step's course lives here: which menu it gets; one more try
//! unattended when AWS throttled and nothing was created; using what exists when the commands
//! failed on "already exists" and the checks pass; refusing to run again unattended a step
//! whose resources partly exist; a confirmed skip; the menu after a failure; a fresh look at
//! what exists before running or checking again; an unattended run stopping at the first
//! failure.

use super::event::{Event, StepResult};
use crate::aws::ErrorClass;
use crate::lab::{Step, StepMode};

/// How a step ended, for the run loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on to the next step with this result (or stop, when it failed unattended).
    Next(StepResult),
    /// The student quit; progress is saved.
    Quit,
}

/// What the machine knows of a step and of the run: all it decides from.
#[derive(Debug, Clone)]
pub(crate) struct Situation {
    /// The lab's id, for the commands the notices suggest.
    pub lab: String,
    /// The step's id.
    pub step: String,
    /// Unattended: no menus, stop at the first failure.
    pub auto: bool,
    /// There is someone to ask (a prompter).
    pub can_ask: bool,
    /// The step has commands labrunner can run.
    pub runnable: bool,
    /// The step is done in the console.
    pub console: bool,
    /// The step has checks.
    pub has_checks: bool,
    /// The step declares resources it creates.
    pub creates: bool,
    /// Its commands may run again safely.
    pub idempotent: bool,
    /// Its hints' texts.
    pub hints: Vec<String>,
    /// Its commands may have run before (interrupted, or the ledger has its resources): it is
    /// looked at before anything runs.
    pub ran_before: bool,
}

impl Situation {
    /// The situation of `step` in lab `lab`.
    pub fn of(lab: &str, step: &Step, auto: bool, can_ask: bool, ran_before: bool) -> Self {
        Situation {
            lab: lab.to_string(),
            step: step.id.clone(),
            auto,
            can_ask,
            runnable: step.runnable_blocks().next().is_some(),
            console: step.mode == StepMode::Console,
            has_checks: !step.checks.is_empty(),
            creates: !step.creates.is_empty() || !step.aws_creates.is_empty(),
            idempotent: step.idempotent,
            hints: step.hints.iter().map(|h| h.text.clone()).collect(),
            ran_before,
        }
    }

    /// Menus are shown: someone to ask, and not unattended.
    fn interactive(&self) -> bool {
        self.can_ask && !self.auto
    }
}

/// Why a step's commands failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Throttling, an unreachable endpoint, ... as read from the aws CLI's output.
    pub class: Option<ErrorClass>,
    /// The output says what the commands create exists already ("already exists", "not
    /// idempotent", "Duplicate").
    pub exists: bool,
}

impl Failure {
    /// A failure that says nothing about the account: trying again later usually works.
    fn retryable(self) -> bool {
        self.class.is_some_and(ErrorClass::is_retryable)
    }
}

/// What looking at a step that ran before found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconciled {
    /// Its checks pass on what exists: done.
    Done,
    /// Nothing it creates exists: running it again is safe.
    Clear,
    /// Some of what it creates exists.
    Exists,
}

/// How running the step's commands went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    /// Every block succeeded and what they create was found.
    Succeeded,
    /// A block failed, or what they create was not found.
    Failed(Failure),
    /// Ctrl-C.
    Interrupted,
}

/// What came of the last action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// [`Action::Reconcile`]: what the look found.
    Reconciled(Reconciled),
    /// [`Action::LookBefore`]: the look at what exists worked, or why it did not.
    Looked(Result<(), String>),
    /// [`Action::Ask`]: the index of the item picked.
    Picked(usize),
    /// [`Action::ConfirmSkip`]: the answer.
    SkipConfirmed(bool),
    /// [`Action::Run`]: how the commands went.
    Ran(Ran),
    /// [`Action::LookForCreated`]: nothing the step creates exists.
    NothingCreated(bool),
    /// [`Action::LookIfAdoptable`]: the checks pass on what exists.
    Adoptable(bool),
    /// [`Action::Adopt`] is done.
    Adopted,
    /// [`Action::Verify`] or [`Action::Watch`]: how the step ended.
    Checked(StepResult),
    /// [`Action::ShowExisting`] is done.
    Shown,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Look at a step that ran before: resolve its intents, check it, say what exists.
    Reconcile,
    /// Note what matches the step's resources now: that is not the lab's to delete.
    LookBefore,
    /// Ask the student to pick one item.
    Ask(Menu),
    /// Ask before skipping (naming the steps that depend on this one).
    ConfirmSkip,
    /// Record intents, run the step's blocks, record what they created.
    Run,
    /// Look whether nothing the step creates exists (before trying again).
    LookForCreated,
    /// One look at the step's checks on what exists.
    LookIfAdoptable,
    /// Record what appeared since the step began, using what exists as it is.
    Adopt,
    /// Wait for the step's checks.
    Verify,
    /// The student does the step: watch the checks (or wait for them to say it is done).
    Watch,
    /// List what exists of what the step creates.
    ShowExisting,
    /// The step is over.
    Finish(Flow),
}

/// A question with items to pick from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Menu {
    /// The question.
    pub question: String,
    /// The items, in order.
    pub items: Vec<&'static str>,
}

/// The machine's answer to an input: events to report, then the action to perform.
#[derive(Debug, Clone)]
pub(crate) struct Next {
    /// Events to report, in order, before the action.
    pub events: Vec<Event>,
    /// What to do.
    pub action: Action,
}

/// What the student (or the unattended run) chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Run,
    /// The student does the step (or reads it); labrunner watches the checks meanwhile.
    DoItMyself,
    /// The student says the step is finished or fixed: look at the checks now.
    CheckNow,
    Skip,
    Quit,
    /// Unattended, and running the commands again could create a second copy.
    Refuse,
    /// The commands failed on "already exists", and the step's checks pass on what exists.
    Adopt,
}

/// An item of a menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Do(Choice),
    ShowExisting,
    ShowHints,
}

/// Which menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MenuKind {
    /// The step begins.
    First,
    /// The step ran before and some of what it creates exists.
    Again,
    /// The step failed; `adoptable` offers to use what exists.
    AfterFailure { adoptable: bool },
}

/// What happens once the look at what exists worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Choose(MenuKind),
    Do(Choice),
}

/// Where the step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Begin,
    Reconciling,
    LookingBefore(Then),
    Asking(MenuKind),
    ConfirmingSkip,
    Running,
    LookingForCreated(Failure),
    LookingIfAdoptable,
    Adopting,
    Checking,
    ShowingExisting { adoptable: bool },
    Finished,
}

/// The machine's state: where the step is, and whether the commands were tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    phase: Phase,
    /// The commands ran once more after throttling (once per step).
    retried: bool,
}

impl State {
    /// Before anything.
    pub fn begin() -> Self {
        State { phase: Phase::Begin, retried: false }
    }
}

/// One step's machine: a [`Situation`] and the state, moved on by [`transition`].
pub(crate) struct Machine {
    situation: Situation,
    state: State,
}

impl Machine {
    /// The machine of a step in `situation`.
    pub fn new(situation: Situation) -> Self {
        Machine { situation, state: State::begin() }
    }

    /// The first action.
    pub fn start(&mut self) -> Next {
        let (state, next) = start(&self.situation);
        self.state = state;
        next
    }

    /// What to do after `input`.
    pub fn feed(&mut self, input: Input) -> Next {
        let (state, next) = transition(&self.situation, self.state, input);
        self.state = state;
        next
    }
}

/// Where a step begins: a step that ran before is looked at first; then what exists is noted.
pub(crate) fn start(s: &Situation) -> (State, Next) {
    let phase =
        if s.ran_before { Phase::Reconciling } else { Phase::LookingBefore(Then::Choose(MenuKind::First)) };
    let action = if s.ran_before { Action::Reconcile } else { Action::LookBefore };
    (State { phase, retried: false }, Next { events: Vec::new(), action })
}

/// The transition: the state and what just happened → the next state, the events to report
/// and the action to perform.
pub(crate) fn transition(s: &Situation, state: State, input: Input) -> (State, Next) {
    let mut turn = Turn { s, events: Vec::new(), retried: state.retried };
    let (phase, action) = match (state.phase, input) {
        (Phase::Reconciling, Input::Reconciled(Reconciled::Done)) => turn.finish(StepResult::Done),
        (Phase::Reconciling, Input::Reconciled(Reconciled::Clear)) => {
            (Phase::LookingBefore(Then::Choose(MenuKind::First)), Action::LookBefore)
        }
        (Phase::Reconciling, Input::Reconciled(Reconciled::Exists)) => {
            (Phase::LookingBefore(Then::Choose(MenuKind::Again)), Action::LookBefore)
        }
        (Phase::LookingBefore(_), Input::Looked(Err(message))) => {
            turn.notice(format!(
                "could not look at the account before step `{}` ({message}); nothing was run. Try again in a moment: `labrunner resume {}`",
                s.step, s.lab
            ));
            turn.finish(StepResult::Failed)
        }
        (Phase::LookingBefore(Then::Choose(kind)), Input::Looked(Ok(()))) => turn.choose(kind),
        (Phase::LookingBefore(Then::Do(choice)), Input::Looked(Ok(()))) => turn.act(choice),
        (Phase::Asking(kind), Input::Picked(index)) => turn.picked(kind, index),
        (Phase::ConfirmingSkip, Input::SkipConfirmed(true)) => turn.finish(StepResult::Skipped),
        // Declined: back to the step's menu.
        (Phase::ConfirmingSkip, Input::SkipConfirmed(false)) => turn.choose(MenuKind::First),
        (Phase::Running, Input::Ran(Ran::Succeeded)) => (Phase::Checking, Action::Verify),
        (Phase::Running, Input::Ran(Ran::Interrupted)) => turn.ended(StepResult::Interrupted, false),
        (Phase::Running, Input::Ran(Ran::Failed(failure))) => {
            // A throttled or unavailable API is worth one more try unattended, but only while
            // nothing the step creates exists.
            if s.auto && !turn.retried && failure.retryable() {
                (Phase::LookingForCreated(failure), Action::LookForCreated)
            } else {
                turn.failed(failure)
            }
        }
        (Phase::LookingForCreated(_), Input::NothingCreated(true)) => {
            turn.retried = true;
            turn.notice("the commands failed on throttling or an unavailable service, and nothing they create exists yet: running them once more".into());
            (Phase::Running, Action::Run)
        }
        (Phase::LookingForCreated(failure), Input::NothingCreated(false)) => turn.failed(failure),
        (Phase::LookingIfAdoptable, Input::Adoptable(adoptable)) => {
            if adoptable && s.auto {
                turn.act(Choice::Adopt)
            } else {
                turn.ended(StepResult::Failed, adoptable)
            }
        }
        (Phase::Adopting, Input::Adopted) => (Phase::Checking, Action::Verify),
        (Phase::Checking, Input::Checked(result)) => turn.ended(result, false),
        (Phase::ShowingExisting { adoptable }, Input::Shown) => {
            turn.ask(MenuKind::AfterFailure { adoptable })
        }
        (phase, input) => {
            // The driver fed something this phase does not wait for: a bug, stopped safely
            // (the tables below would show it as an unknown notice).
            turn.notice(format!(
                "labrunner lost its place in step `{}` ({input:?} while {phase:?}); stopping here. `labrunner resume {}` looks at the step again",
                s.step, s.lab
            ));
            turn.finish(StepResult::Failed)
        }
    };
    (State { phase, retried: turn.retried }, Next { events: turn.events, action })
}

/// One transition being worked out: the events so far.
struct Turn<'s> {
    s: &'s Situation,
    events: Vec<Event>,
    retried: bool,
}

impl Turn<'_> {
    fn notice(&mut self, text: String) {
        self.events.push(Event::Notice { text });
    }

    /// The step ends with `result`, whatever the mode.
    fn finish(&mut self, result: StepResult) -> (Phase, Action) {
        self.events.push(Event::StepFinished { step: self.s.step.clone(), result });
        (Phase::Finished, Action::Finish(Flow::Next(result)))
    }

    /// The step's menu, or, unattended, what the run does by itself.
    fn choose(&mut self, kind: MenuKind) -> (Phase, Action) {
        let s = self.s;
        if s.interactive() {
            return self.ask(kind);
        }
        let choice = match kind {
            MenuKind::First if s.runnable => Choice::Run,
            MenuKind::First => Choice::DoItMyself,
            // Unattended: run again only when the step says its commands are idempotent.
            MenuKind::Again if s.idempotent && s.runnable => Choice::Run,
            MenuKind::Again => Choice::Refuse,
            MenuKind::AfterFailure { .. } => Choice::Quit,
        };
        self.act(choice)
    }

    fn ask(&mut self, kind: MenuKind) -> (Phase, Action) {
        let (menu, _) = menu(self.s, kind);
        (Phase::Asking(kind), Action::Ask(menu))
    }

    fn picked(&mut self, kind: MenuKind, index: usize) -> (Phase, Action) {
        let (_, picks) = menu(self.s, kind);
        match (kind, picks.get(index).copied()) {
            // Running or checking again: what exists now is looked at again first.
            (MenuKind::AfterFailure { .. }, Some(Pick::Do(choice @ (Choice::Run | Choice::CheckNow)))) => {
                (Phase::LookingBefore(Then::Do(choice)), Action::LookBefore)
            }
            (_, Some(Pick::Do(choice))) => self.act(choice),
            (MenuKind::AfterFailure { adoptable }, Some(Pick::ShowExisting)) => {
                (Phase::ShowingExisting { adoptable }, Action::ShowExisting)
            }
            (_, Some(Pick::ShowHints)) => {
                self.events.push(Event::Hints { step: self.s.step.clone(), hints: self.s.hints.clone() });
                self.ask(kind)
            }
            _ => self.act(Choice::Quit),
        }
    }

    fn act(&mut self, choice: Choice) -> (Phase, Action) {
        let s = self.s;
        match choice {
            Choice::Quit => (Phase::Finished, Action::Finish(Flow::Quit)),
            Choice::Skip if s.interactive() => (Phase::ConfirmingSkip, Action::ConfirmSkip),
            Choice::Skip => self.finish(StepResult::Skipped),
            Choice::Refuse => {
                self.notice(format!(
                    "step `{}` is not run again unattended: its commands already ran and some of what they create exists, so running them again could fail or make a second copy. Finish the step by hand (`labrunner show {} --step {}` shows it), then `labrunner resume {}`; or remove what it made with `labrunner cleanup {}`.",
                    s.step, s.lab, s.step, s.lab, s.lab
                ));
                self.ended(StepResult::Failed, false)
            }
            Choice::Run => (Phase::Running, Action::Run),
            Choice::Adopt => (Phase::Adopting, Action::Adopt),
            Choice::DoItMyself | Choice::CheckNow => (Phase::Checking, Action::Watch),
        }
    }

    /// The commands failed and are not tried again now.
    fn failed(&mut self, failure: Failure) -> (Phase, Action) {
        if failure.retryable() {
            self.notice(
                "AWS throttled or was unavailable (see the output above); running the commands again later usually works".into(),
            );
        }
        if failure.exists {
            (Phase::LookingIfAdoptable, Action::LookIfAdoptable)
        } else {
            self.ended(StepResult::Failed, false)
        }
    }

    /// The attempt ended with `result`. A failure stops an unattended run; otherwise the
    /// student gets the menu after a failure (with "use what exists" when `adoptable`).
    fn ended(&mut self, result: StepResult, adoptable: bool) -> (Phase, Action) {
        if result != StepResult::Failed {
            return self.finish(result);
        }
        let s = self.s;
        self.events.push(Event::StepFinished { step: s.step.clone(), result });
        if s.auto {
            return (Phase::Finished, Action::Finish(Flow::Next(StepResult::Failed)));
        }
        if !s.can_ask {
            return (Phase::Finished, Action::Finish(Flow::Quit));
        }
        if adoptable {
            self.notice(format!(
                "what step `{}` creates exists already, and the step's checks pass on it: you can use it as it is",
                s.step
            ));
        }
        self.ask(MenuKind::AfterFailure { adoptable })
    }
}

/// The menu of `kind` for the step, and what each item means.
fn menu(s: &Situation, kind: MenuKind) -> (Menu, Vec<Pick>) {
    let quit = "Quit (progress is saved)";
    let (question, items): (String, Vec<(&'static str, Pick)>) = match kind {
        MenuKind::First if s.runnable => (
            "What next?".into(),
            vec![
                ("Run it for me", Pick::Do(Choice::Run)),
                ("I'll do it myself", Pick::Do(Choice::DoItMyself)),
                ("Skip this step", Pick::Do(Choice::Skip)),
                (quit, Pick::Do(Choice::Quit)),
            ],
        ),
        MenuKind::First if s.console || s.has_checks => (
            "What next?".into(),
            vec![
                ("I'll do it now (labrunner watches the checks)", Pick::Do(Choice::DoItMyself)),
                ("Skip this step", Pick::Do(Choice::Skip)),
                (quit, Pick::Do(Choice::Quit)),
            ],
        ),
        MenuKind::First => (
            "What next?".into(),
            vec![("Continue", Pick::Do(Choice::DoItMyself)), (quit, Pick::Do(Choice::Quit))],
        ),
        MenuKind::Again => {
            let mut items = vec![("I finished it by hand: check now", Pick::Do(Choice::CheckNow))];
            if s.runnable {
                items.push((
                    "Run the commands again (they may fail on, or duplicate, what exists)",
                    Pick::Do(Choice::Run),
                ));
            }
            items.extend([("Skip this step", Pick::Do(Choice::Skip)), (quit, Pick::Do(Choice::Quit))]);
            (format!("Step `{}` ran before and some of it exists. What now?", s.step), items)
        }
        // What fits the step, with ways to look before choosing (what exists, the hints).
        MenuKind::AfterFailure { adoptable } => {
            let mut items = Vec::new();
            if adoptable {
                items.push(("Use what exists (its checks pass)", Pick::Do(Choice::Adopt)));
            }
            if s.has_checks {
                items.push(("I fixed it: check now", Pick::Do(Choice::CheckNow)));
            }
            if s.runnable {
                items.push(("Run the commands again", Pick::Do(Choice::Run)));
            }
            if s.creates {
                items.push(("Show what exists of what this step creates", Pick::ShowExisting));
            }
            if !s.hints.is_empty() {
                items.push(("Show the hints", Pick::ShowHints));
            }
            items.extend([("Skip this step", Pick::Do(Choice::Skip)), (quit, Pick::Do(Choice::Quit))]);
            (format!("Step `{}` is not done yet. What now?", s.step), items)
        }
    };
    let (items, picks) = items.into_iter().unzip();
    (Menu { question, items }, picks)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::session::prompt::{Prompter, ScriptedPrompter};

    /// A step with commands, checks, resources and a hint, not idempotent, never run before.
    fn step() -> Situation {
        Situation {
            lab: "lab".into(),
            step: "s".into(),
            auto: false,
            can_ask: true,
            runnable: true,
            console: false,
            has_checks: true,
            creates: true,
            idempotent: false,
            hints: vec!["try this".into()],
            ran_before: false,
        }
    }

    fn auto() -> Situation {
        Situation { auto: true, can_ask: false, ..step() }
    }

    fn resumed(s: Situation) -> Situation {
        Situation { ran_before: true, ..s }
    }

    const THROTTLED: Ran = Ran::Failed(Failure { class: Some(ErrorClass::Throttling), exists: false });
    const UNAVAILABLE: Ran = Ran::Failed(Failure { class: Some(ErrorClass::Transient), exists: false });
    const EXISTS: Ran = Ran::Failed(Failure { class: None, exists: true });
    const FAILED: Ran = Ran::Failed(Failure { class: None, exists: false });

    /// What the world answers to the driver's actions, in order. `LookBefore`, `Adopt` and
    /// `ShowExisting` need no answer unless a `Looked` is next.
    #[derive(Debug)]
    enum Fx {
        Found(Reconciled),
        Looked(Result<(), &'static str>),
        Commands(Ran),
        NothingCreated(bool),
        Adoptable(bool),
        Checked(StepResult),
    }

    /// Drives the machine like the runner does, with scripted answers for the questions and
    /// scripted outcomes for the effects. Returns the trace: actions and events, in order.
    fn drive(s: Situation, answers: &[&str], effects: Vec<Fx>) -> Vec<String> {
        let mut prompter = ScriptedPrompter::new(answers);
        let mut effects: VecDeque<Fx> = effects.into();
        let mut machine = Machine::new(s);
        let mut trace = Vec::new();
        let mut next = machine.start();
        for _ in 0..100 {
            trace.extend(next.events.iter().map(tag));
            let input = match next.action {
                Action::Reconcile => {
                    trace.push("reconcile".into());
                    match effects.pop_front() {
                        Some(Fx::Found(r)) => Input::Reconciled(r),
                        other => panic!("reconcile got {other:?}"),
                    }
                }
                Action::LookBefore => {
                    trace.push("look".into());
                    match effects.front() {
                        Some(Fx::Looked(r)) => {
                            let r = r.map_err(str::to_string);
                            effects.pop_front();
                            Input::Looked(r)
                        }
                        _ => Input::Looked(Ok(())),
                    }
                }
                Action::Ask(menu) => {
                    trace.push(format!("ask {}", menu.question));
                    let picked = prompter.select(&menu.question, &menu.items, 0).expect("a scripted answer");
                    Input::Picked(picked)
                }
                Action::ConfirmSkip => {
                    trace.push("confirm skip".into());
                    Input::SkipConfirmed(prompter.confirm("Skip?", false).expect("a scripted answer"))
                }
                Action::Run => {
                    trace.push("run".into());
                    match effects.pop_front() {
                        Some(Fx::Commands(r)) => Input::Ran(r),
                        other => panic!("run got {other:?}"),
                    }
                }
                Action::LookForCreated => {
                    trace.push("look for created".into());
                    match effects.pop_front() {
                        Some(Fx::NothingCreated(n)) => Input::NothingCreated(n),
                        other => panic!("look for created got {other:?}"),
                    }
                }
                Action::LookIfAdoptable => {
                    trace.push("look if adoptable".into());
                    match effects.pop_front() {
                        Some(Fx::Adoptable(a)) => Input::Adoptable(a),
                        other => panic!("look if adoptable got {other:?}"),
                    }
                }
                Action::Adopt => {
                    trace.push("adopt".into());
                    Input::Adopted
                }
                Action::Verify | Action::Watch => {
                    trace.push(if next.action == Action::Verify { "verify" } else { "watch" }.into());
                    match effects.pop_front() {
                        Some(Fx::Checked(r)) => Input::Checked(r),
                        other => panic!("{:?} got {other:?}", next.action),
                    }
                }
                Action::ShowExisting => {
                    trace.push("show existing".into());
                    Input::Shown
                }
                Action::Finish(flow) => {
                    trace.push(match flow {
                        Flow::Next(r) => format!("finish {}", result_name(r)),
                        Flow::Quit => "finish quit".into(),
                    });
                    assert!(effects.is_empty(), "effects left over: {effects:?}");
                    return trace;
                }
            };
            next = machine.feed(input);
        }
        panic!("no end after 100 actions: {trace:?}");
    }

    fn result_name(r: StepResult) -> String {
        format!("{r:?}").to_lowercase()
    }

    /// An event, in a few words.
    fn tag(event: &Event) -> String {
        match event {
            Event::StepFinished { result, .. } => format!("finished {}", result_name(*result)),
            Event::Hints { hints, .. } => format!("hints {}", hints.join("; ")),
            Event::Notice { text } => {
                let known = [
                    ("running them once more", "retry"),
                    ("AWS throttled or was unavailable", "throttled"),
                    ("is not run again unattended", "refused"),
                    ("you can use it as it is", "adoptable"),
                    ("could not look at the account", "cannot look"),
                ];
                let what = known.iter().find(|(k, _)| text.contains(k)).map_or(text.as_str(), |(_, w)| w);
                format!("notice {what}")
            }
            other => format!("{other:?}"),
        }
    }

    struct Case {
        name: &'static str,
        situation: Situation,
        answers: &'static [&'static str],
        effects: Vec<Fx>,
        want: &'static [&'static str],
    }

    #[test]
    fn the_course_of_a_step() {
        use Fx::*;
        let reading =
            Situation { runnable: false, has_checks: false, creates: false, hints: vec![], ..step() };
        let console = Situation { runnable: false, console: true, ..step() };
        let bare = Situation { creates: false, hints: vec![], ..step() };
        let cases = vec![
            Case {
                name: "unattended: run, then the checks pass",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(Ran::Succeeded), Checked(StepResult::Done)],
                want: &["look", "run", "verify", "finished done", "finish done"],
            },
            Case {
                name: "interactive: run it for me, then the checks pass",
                situation: step(),
                answers: &["run"],
                effects: vec![Commands(Ran::Succeeded), Checked(StepResult::Done)],
                want: &["look", "ask What next?", "run", "verify", "finished done", "finish done"],
            },
            Case {
                name: "unattended: throttled with nothing created runs once more",
                situation: auto(),
                answers: &[],
                effects: vec![
                    Commands(THROTTLED),
                    NothingCreated(true),
                    Commands(Ran::Succeeded),
                    Checked(StepResult::Done),
                ],
                want: &[
                    "look",
                    "run",
                    "look for created",
                    "notice retry",
                    "run",
                    "verify",
                    "finished done",
                    "finish done",
                ],
            },
            Case {
                name: "unattended: throttled twice is tried again only once",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(UNAVAILABLE), NothingCreated(true), Commands(THROTTLED)],
                want: &[
                    "look",
                    "run",
                    "look for created",
                    "notice retry",
                    "run",
                    "notice throttled",
                    "finished failed",
                    "finish failed",
                ],
            },
            Case {
                name: "unattended: throttled after something was created is not tried again",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(THROTTLED), NothingCreated(false)],
                want: &[
                    "look",
                    "run",
                    "look for created",
                    "notice throttled",
                    "finished failed",
                    "finish failed",
                ],
            },
            Case {
                name: "unattended: a plain failure is not tried again",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(FAILED)],
                want: &["look", "run", "finished failed", "finish failed"],
            },
            Case {
                name: "interactive: throttling is not tried again by itself",
                situation: step(),
                answers: &["run", "quit"],
                effects: vec![Commands(THROTTLED)],
                want: &[
                    "look",
                    "ask What next?",
                    "run",
                    "notice throttled",
                    "finished failed",
                    "ask Step `s` is not done yet. What now?",
                    "finish quit",
                ],
            },
            Case {
                name: "unattended: already exists and the checks pass: what exists is used",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(EXISTS), Adoptable(true), Checked(StepResult::Done)],
                want: &[
                    "look",
                    "run",
                    "look if adoptable",
                    "adopt",
                    "verify",
                    "finished done",
                    "finish done",
                ],
            },
            Case {
                name: "unattended: already exists and the checks fail: the run stops",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(EXISTS), Adoptable(false)],
                want: &["look", "run", "look if adoptable", "finished failed", "finish failed"],
            },
            Case {
                name: "interactive: already exists and the checks pass: the menu offers to use it",
                situation: step(),
                answers: &["run", "use what exists"],
                effects: vec![Commands(EXISTS), Adoptable(true), Checked(StepResult::Done)],
                want: &[
                    "look",
                    "ask What next?",
                    "run",
                    "look if adoptable",
                    "finished failed",
                    "notice adoptable",
                    "ask Step `s` is not done yet. What now?",
                    "adopt",
                    "verify",
                    "finished done",
                    "finish done",
                ],
            },
            Case {
                name: "interactive: already exists and the checks fail: no offer, check again",
                situation: step(),
                answers: &["run", "1"],
                effects: vec![Commands(EXISTS), Adoptable(false), Checked(StepResult::Done)],
                want: &[
                    "look",
                    "ask What next?",
                    "run",
                    "look if adoptable",
                    "finished failed",
                    "ask Step `s` is not done yet. What now?",
                    "look",
                    "watch",
                    "finished done",
                    "finish done",
                ],
            },
            Case {
                name: "resumed: the checks pass on what exists: done without running",
                situation: resumed(auto()),
                answers: &[],
                effects: vec![Found(Reconciled::Done)],
                want: &["reconcile", "finished done", "finish done"],
            },
            Case {
                name: "resumed: nothing exists: the step runs as new",
                situation: resumed(auto()),
                answers: &[],
                effects: vec![Found(Reconciled::Clear), Commands(Ran::Succeeded), Checked(StepResult::Done)],
                want: &["reconcile", "look", "run", "verify", "finished done", "finish done"],
            },
            Case {
                name: "resumed unattended: some of it exists, not idempotent: refused",
                situation: resumed(auto()),
                answers: &[],
                effects: vec![Found(Reconciled::Exists)],
                want: &["reconcile", "look", "notice refused", "finished failed", "finish failed"],
            },
            Case {
                name: "resumed unattended: some of it exists, idempotent: run again",
                situation: resumed(Situation { idempotent: true, ..auto() }),
                answers: &[],
                effects: vec![Found(Reconciled::Exists), Commands(Ran::Succeeded), Checked(StepResult::Done)],
                want: &["reconcile", "look", "run", "verify", "finished done", "finish done"],
            },
            Case {
                name: "resumed unattended: idempotent but nothing to run: refused",
                situation: resumed(Situation { idempotent: true, runnable: false, ..auto() }),
                answers: &[],
                effects: vec![Found(Reconciled::Exists)],
                want: &["reconcile", "look", "notice refused", "finished failed", "finish failed"],
            },
            Case {
                name: "resumed interactive: some of it exists: the student is asked",
                situation: resumed(step()),
                answers: &["i finished"],
                effects: vec![Found(Reconciled::Exists), Checked(StepResult::Done)],
                want: &[
                    "reconcile",
                    "look",
                    "ask Step `s` ran before and some of it exists. What now?",
                    "watch",
                    "finished done",
                    "finish done",
                ],
            },
            Case {
                name: "skip, confirmed",
                situation: step(),
                answers: &["skip", "y"],
                effects: vec![],
                want: &["look", "ask What next?", "confirm skip", "finished skipped", "finish skipped"],
            },
            Case {
                name: "skip, declined: back to the menu",
                situation: step(),
                answers: &["skip", "n", "quit"],
                effects: vec![],
                want: &["look", "ask What next?", "confirm skip", "ask What next?", "finish quit"],
            },
            Case {
                name: "skip after a failure, declined: back to the step's menu",
                situation: step(),
                answers: &["run", "skip", "n", "run"],
                effects: vec![Commands(FAILED), Commands(Ran::Succeeded), Checked(StepResult::Done)],
                want: &[
                    "look",
                    "ask What next?",
                    "run",
                    "finished failed",
                    "ask Step `s` is not done yet. What now?",
                    "confirm skip",
                    "ask What next?",
                    "run",
                    "verify",
                    "finished done",
                    "finish done",
                ],
            },
            Case {
                name: "after a failure, running again looks at what exists again first",
                situation: step(),
                answers: &["run", "run the commands again"],
                effects: vec![Commands(FAILED), Commands(Ran::Succeeded), Checked(StepResult::Done)],
                want: &[
                    "look",
                    "ask What next?",
                    "run",
                    "finished failed",
                    "ask Step `s` is not done yet. What now?",
                    "look",
                    "run",
                    "verify",
                    "finished done",
                    "finish done",
                ],
            },
            Case {
                name: "after a failure, a look that fails ends the step",
                situation: step(),
                answers: &["i'll", "i fixed"],
                effects: vec![Checked(StepResult::Failed), Looked(Err("throttled"))],
                want: &[
                    "look",
                    "ask What next?",
                    "watch",
                    "finished failed",
                    "ask Step `s` is not done yet. What now?",
                    "look",
                    "notice cannot look",
                    "finished failed",
                    "finish failed",
                ],
            },
            Case {
                name: "after a failure, what exists and the hints are shown, then the menu again",
                situation: step(),
                answers: &["run", "show what", "show the hints", "quit"],
                effects: vec![Commands(FAILED)],
                want: &[
                    "look",
                    "ask What next?",
                    "run",
                    "finished failed",
                    "ask Step `s` is not done yet. What now?",
                    "show existing",
                    "ask Step `s` is not done yet. What now?",
                    "hints try this",
                    "ask Step `s` is not done yet. What now?",
                    "finish quit",
                ],
            },
            Case {
                name: "unattended: failing checks stop the run",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(Ran::Succeeded), Checked(StepResult::Failed)],
                want: &["look", "run", "verify", "finished failed", "finish failed"],
            },
            Case {
                name: "nobody to ask and not unattended: a failure quits",
                situation: Situation { can_ask: false, ..step() },
                answers: &[],
                effects: vec![Commands(FAILED)],
                want: &["look", "run", "finished failed", "finish quit"],
            },
            Case {
                name: "quit at the first menu: no result",
                situation: bare.clone(),
                answers: &["quit"],
                effects: vec![],
                want: &["look", "ask What next?", "finish quit"],
            },
            Case {
                name: "interrupted while the commands run",
                situation: auto(),
                answers: &[],
                effects: vec![Commands(Ran::Interrupted)],
                want: &["look", "run", "finished interrupted", "finish interrupted"],
            },
            Case {
                name: "interrupted while the checks wait",
                situation: step(),
                answers: &["run"],
                effects: vec![Commands(Ran::Succeeded), Checked(StepResult::Interrupted)],
                want: &[
                    "look",
                    "ask What next?",
                    "run",
                    "verify",
                    "finished interrupted",
                    "finish interrupted",
                ],
            },
            Case {
                name: "the look before the step fails: nothing runs",
                situation: step(),
                answers: &[],
                effects: vec![Looked(Err("throttled"))],
                want: &["look", "notice cannot look", "finished failed", "finish failed"],
            },
            Case {
                name: "unattended console step: watched",
                situation: Situation { auto: true, can_ask: false, ..console.clone() },
                answers: &[],
                effects: vec![Checked(StepResult::Done)],
                want: &["look", "watch", "finished done", "finish done"],
            },
            Case {
                name: "interactive console step: done by hand",
                situation: console,
                answers: &["i'll do it now"],
                effects: vec![Checked(StepResult::Done)],
                want: &["look", "ask What next?", "watch", "finished done", "finish done"],
            },
            Case {
                name: "reading step: continue",
                situation: reading,
                answers: &["continue"],
                effects: vec![Checked(StepResult::Shown)],
                want: &["look", "ask What next?", "watch", "finished shown", "finish shown"],
            },
        ];
        for case in cases {
            let trace = drive(case.situation, case.answers, case.effects);
            assert_eq!(trace, case.want, "{}", case.name);
        }
    }

    #[test]
    fn the_menus_fit_the_step() {
        let reading =
            Situation { runnable: false, has_checks: false, creates: false, hints: vec![], ..step() };
        let console = Situation { runnable: false, console: true, has_checks: false, ..step() };
        let checks_only = Situation { runnable: false, creates: false, hints: vec![], ..step() };
        let commands_only = Situation { has_checks: false, creates: false, hints: vec![], ..step() };
        let cases: Vec<(&str, Situation, MenuKind, &[&str])> = vec![
            (
                "commands",
                step(),
                MenuKind::First,
                &["Run it for me", "I'll do it myself", "Skip this step", "Quit (progress is saved)"],
            ),
            (
                "console",
                console.clone(),
                MenuKind::First,
                &[
                    "I'll do it now (labrunner watches the checks)",
                    "Skip this step",
                    "Quit (progress is saved)",
                ],
            ),
            (
                "checks, no commands",
                checks_only.clone(),
                MenuKind::First,
                &[
                    "I'll do it now (labrunner watches the checks)",
                    "Skip this step",
                    "Quit (progress is saved)",
                ],
            ),
            ("reading", reading.clone(), MenuKind::First, &["Continue", "Quit (progress is saved)"]),
            (
                "ran before, commands",
                step(),
                MenuKind::Again,
                &[
                    "I finished it by hand: check now",
                    "Run the commands again (they may fail on, or duplicate, what exists)",
                    "Skip this step",
                    "Quit (progress is saved)",
                ],
            ),
            (
                "ran before, console",
                console.clone(),
                MenuKind::Again,
                &["I finished it by hand: check now", "Skip this step", "Quit (progress is saved)"],
            ),
            (
                "failed, everything",
                step(),
                MenuKind::AfterFailure { adoptable: true },
                &[
                    "Use what exists (its checks pass)",
                    "I fixed it: check now",
                    "Run the commands again",
                    "Show what exists of what this step creates",
                    "Show the hints",
                    "Skip this step",
                    "Quit (progress is saved)",
                ],
            ),
            (
                "failed, not adoptable",
                step(),
                MenuKind::AfterFailure { adoptable: false },
                &[
                    "I fixed it: check now",
                    "Run the commands again",
                    "Show what exists of what this step creates",
                    "Show the hints",
                    "Skip this step",
                    "Quit (progress is saved)",
                ],
            ),
            (
                "failed, commands without checks",
                commands_only,
                MenuKind::AfterFailure { adoptable: false },
                &["Run the commands again", "Skip this step", "Quit (progress is saved)"],
            ),
            (
                "failed, checks only",
                checks_only,
                MenuKind::AfterFailure { adoptable: false },
                &["I fixed it: check now", "Skip this step", "Quit (progress is saved)"],
            ),
            (
                "failed, console with resources and hints",
                console,
                MenuKind::AfterFailure { adoptable: false },
                &[
                    "Show what exists of what this step creates",
                    "Show the hints",
                    "Skip this step",
                    "Quit (progress is saved)",
                ],
            ),
        ];
        for (name, situation, kind, want) in cases {
            let (menu, picks) = menu(&situation, kind);
            assert_eq!(menu.items, want, "{name}");
            assert_eq!(picks.len(), menu.items.len(), "{name}");
        }
        let (again, _) = menu(&step(), MenuKind::Again);
        assert_eq!(again.question, "Step `s` ran before and some of it exists. What now?");
    }

    #[test]
    fn the_notices_name_the_step_and_the_commands_to_go_on() {
        let (_, next) = start(&resumed(auto()));
        assert_eq!(next.action, Action::Reconcile);
        let mut m = Machine::new(resumed(auto()));
        m.start();
        m.feed(Input::Reconciled(Reconciled::Exists));
        let next = m.feed(Input::Looked(Ok(())));
        let Event::Notice { text } = &next.events[0] else { panic!("{:?}", next.events) };
        assert!(text.starts_with("step `s` is not run again unattended"), "{text}");
        assert!(
            text.contains("`labrunner show lab --step s`") && text.contains("`labrunner cleanup lab`"),
            "{text}"
        );

        let mut m = Machine::new(step());
        m.start();
        let next = m.feed(Input::Looked(Err("looking for vpc x: throttled".into())));
        let Event::Notice { text } = &next.events[0] else { panic!("{:?}", next.events) };
        assert_eq!(
            text,
            "could not look at the account before step `s` (looking for vpc x: throttled); nothing was run. Try again in a moment: `labrunner resume lab`"
        );
    }

    #[test]
    fn an_out_of_range_pick_quits() {
        let mut m = Machine::new(step());
        m.start();
        m.feed(Input::Looked(Ok(())));
        assert_eq!(m.feed(Input::Picked(9)).action, Action::Finish(Flow::Quit));
    }

    #[test]
    fn the_retry_is_once_per_step_whatever_happens_between() {
        // Unattended, nothing comes between two runs but the look; the state keeps the flag.
        let s = auto();
        let (state, _) = start(&s);
        let (state, _) = transition(&s, state, Input::Looked(Ok(())));
        let (state, next) = transition(&s, state, Input::Ran(THROTTLED));
        assert_eq!(next.action, Action::LookForCreated);
        let (state, next) = transition(&s, state, Input::NothingCreated(true));
        assert_eq!(next.action, Action::Run);
        assert!(state.retried);
        let (_, next) = transition(&s, state, Input::Ran(THROTTLED));
        assert_ne!(next.action, Action::LookForCreated);
    }
}
