//! `labrunner start`/`resume` and `status` against the sandbox: the shipped lab unattended
//! (text and `--json`), the interactive flow through piped answers, interrupts and kills in
//! the middle of a step, a change of account, a failing step, secrets and pre-existing
//! resources. Each test runs in an account of its own with a state directory of its own.
//!
//! The helpers here ([`Sandboxed`], [`Live`], [`describe`]) are shared with `cleanup.rs`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::sandbox::{sandbox, TestAccount, REGION};
use crate::support::{fixtures, Outcome, BIN};

/// How long a test waits for something that should happen within seconds, before it gives
/// up (a hang guard, not a timing assertion).
/// A guard against a hung run, not a speed target: generous, so a loaded machine does not fail
/// a run that is merely slow.
const PATIENCE: Duration = Duration::from_secs(600);

/// labrunner runs in one sandbox account, with a state directory of its own.
pub struct Sandboxed {
    pub acct: TestAccount,
    state: TempDir,
    pub labs: PathBuf,
}

impl Sandboxed {
    /// A fresh account; labs from `tests/fixtures/runner/labs`.
    pub fn fixture() -> Self {
        Self::with_labs(fixtures().join("runner").join("labs"))
    }

    /// The shipped labs, on the sandbox whose clock runs ten times as fast: for the long lab
    /// runs (the whole flagship waits for alarm periods and scaling cooldowns; the other labs
    /// for services to settle), which would otherwise be most of the suite's time.
    pub fn shipped_fast() -> Self {
        Sandboxed {
            acct: crate::support::sandbox::fast_sandbox().account(),
            state: tempfile::Builder::new().prefix("labrunner-state-").tempdir().expect("state directory"),
            labs: Path::new(env!("CARGO_MANIFEST_DIR")).join("labs"),
        }
    }

    /// A fresh account; labs from `labs` (content beside it).
    pub fn with_labs(labs: PathBuf) -> Self {
        Sandboxed {
            acct: sandbox().account(),
            state: tempfile::Builder::new().prefix("labrunner-state-").tempdir().expect("state directory"),
            labs,
        }
    }

    /// The same state directory and labs, in another account: `other`.
    pub fn command_as(&self, who: &TestAccount, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        who.apply(&mut cmd);
        cmd.env("LABRUNNER_STATE_DIR", self.state.path())
            .env("NO_COLOR", "1")
            .env_remove("LABRUNNER_INTERACTIVE")
            .env_remove("CI")
            .arg("--labs-dir")
            .arg(&self.labs)
            .args(args)
            .current_dir(who.home())
            .stdin(Stdio::null());
        cmd
    }

    /// `labrunner <args>` in this account.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_as(&self.acct, args)
    }

    /// Runs `labrunner <args>` and waits.
    pub fn run(&self, args: &[&str]) -> Outcome {
        outcome(args, self.command(args))
    }

    /// Runs `labrunner <args>` in account `who` (same state directory) and waits.
    pub fn run_as(&self, who: &TestAccount, args: &[&str]) -> Outcome {
        outcome(args, self.command_as(who, args))
    }

    /// The state directory.
    pub fn state(&self) -> &Path {
        self.state.path()
    }

    /// `<state>/<lab>/<account>-<region>`.
    pub fn run_dir(&self, lab: &str) -> PathBuf {
        self.state.path().join(lab).join(format!("{}-{REGION}", self.acct.account_id()))
    }

    /// progress.json of `lab` in this account, parsed.
    pub fn progress(&self, lab: &str) -> Value {
        read_json(&self.run_dir(lab).join("progress.json"))
    }

    /// ledger.json of `lab` in this account, parsed.
    pub fn ledger(&self, lab: &str) -> Value {
        read_json(&self.run_dir(lab).join("ledger.json"))
    }

    /// `describe()` of every entry of the ledger, in order.
    pub fn ledger_resources(&self, lab: &str) -> Vec<String> {
        self.ledger(lab)["entries"].as_array().expect("ledger entries").iter().map(describe).collect()
    }

    /// What a student types in a second shell while labrunner watches: the lab's values from
    /// `eval "$(labrunner env LAB)"`, then `commands` (bash, `set -e`). Its stdout.
    pub fn in_the_students_shell(&self, lab: &str, commands: &str) -> String {
        let script =
            format!("set -e\neval \"$({BIN} --labs-dir {} env {lab})\"\n{commands}", self.labs.display());
        let mut shell = Command::new("bash");
        self.acct.apply(&mut shell);
        let out = shell
            .env("LABRUNNER_STATE_DIR", self.state())
            .current_dir(self.acct.home())
            .args(["-c", &script])
            .output()
            .expect("run the student's shell");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "the student's commands failed:\n{commands}\n--- stdout:\n{stdout}\n--- stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Whether the log group `name` exists in this account.
    pub fn log_group_exists(&self, name: &str) -> bool {
        let groups = self.acct.aws_json(["logs", "describe-log-groups", "--log-group-name-prefix", name]);
        groups["logGroups"].as_array().expect("logGroups").iter().any(|g| g["logGroupName"] == name)
    }
}

/// Runs `cmd` to the end (killed after [`PATIENCE`]).
pub fn outcome(args: &[&str], mut cmd: Command) -> Outcome {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let live = Live::spawn(args, cmd);
    live.finish()
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", path.display()))
}

/// A ledger entry as labrunner describes it (`ResourceSpec::describe`).
pub fn describe(entry: &Value) -> String {
    let resource = entry["resource"].as_object().expect("resource is a map");
    let (kind, f) = resource.iter().next().expect("one resource kind");
    let s = |k: &str| match &f[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match kind.as_str() {
        "subnet" => format!("subnet {} in {}", s("cidr"), s("vpc")),
        "internet_gateway" => format!("internet_gateway attached to {}", s("vpc")),
        "route_table" | "security_group" => format!("{kind} {} in {}", s("name"), s("vpc")),
        "ecs_cluster" => format!("ecs_cluster {}", s("cluster")),
        "ecs_service" => format!("ecs_service {}/{}", s("cluster"), s("service")),
        "listener" => format!("listener {}:{}", s("load_balancer"), s("port")),
        "listener_rule" => {
            format!("listener_rule {}:{} priority {}", s("load_balancer"), s("port"), s("priority"))
        }
        "task_definition" => format!("task_definition {}", s("family")),
        "cloudmap_service" => format!("cloudmap_service {}.{}", s("name"), s("namespace")),
        "dynamodb_table" => format!("dynamodb_table {}", s("table")),
        _ => format!("{kind} {}", s("name")),
    }
}

/// A labrunner process the test talks to while it runs.
pub struct Live {
    args: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Live {
    /// Starts `cmd` with piped stdout and stderr (and stdin if the command asks for it).
    pub fn spawn(args: &[&str], mut cmd: Command) -> Live {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let stdin = child.stdin.take();
        let (out, err) = (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(String::new())));
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), Arc::clone(&out)),
            collect(child.stderr.take().expect("piped stderr"), Arc::clone(&err)),
        ];
        Live { args: args.iter().map(|a| a.to_string()).collect(), child, stdin, out, err, readers }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything on stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().expect("stdout buffer").clone()
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().expect("stderr buffer").clone()
    }

    /// Waits until `cond` holds, failing the test with both streams after [`PATIENCE`].
    #[track_caller]
    pub fn wait_until(&mut self, what: &str, mut cond: impl FnMut(&Live) -> bool) {
        let start = Instant::now();
        loop {
            if cond(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                if cond(self) {
                    return;
                }
                self.fail(&format!("labrunner exited ({status}) before {what}"));
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                self.fail(&format!("gave up waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until stderr holds `needle` at least `n` times.
    #[track_caller]
    pub fn wait_stderr(&mut self, needle: &str, n: usize) {
        self.wait_until(&format!("stderr to show {needle:?} {n} time(s)"), |l| {
            l.stderr().matches(needle).count() >= n
        });
    }

    /// Sends one line on stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        writeln!(stdin, "{line}").expect("write to labrunner's stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Sends keys as they are, with no newline (`"\x1b[B"` is the down arrow).
    pub fn send_keys(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(keys.as_bytes()).expect("write to labrunner's stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("send signal");
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n\n$ labrunner {}\n--- stdout:\n{}--- stderr:\n{}--- end",
            self.args.join(" "),
            self.stdout(),
            self.stderr()
        )
    }

    /// Closes stdin and waits for the end. A death by signal gives code `-signal`.
    pub fn finish(mut self) -> Outcome {
        drop(self.stdin.take());
        let start = Instant::now();
        let status = loop {
            match self.child.try_wait().expect("wait for labrunner") {
                Some(status) => break status,
                None if start.elapsed() > PATIENCE => {
                    let _ = self.child.kill();
                    self.fail("labrunner did not finish");
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
        use std::os::unix::process::ExitStatusExt;
        Outcome {
            args: self.args.clone(),
            code: status.code().unwrap_or_else(|| -status.signal().unwrap_or(0)),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut pending = Vec::new();
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
            // Only whole UTF-8 characters go into the buffer.
            let valid = match std::str::from_utf8(&pending) {
                Ok(_) => pending.len(),
                Err(e) => e.valid_up_to(),
            };
            let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
            into.lock().expect("output buffer").push_str(&text);
            pending.drain(..valid);
        }
    })
}

/// Processes below `pid` (children, grandchildren, ...): (pid, argv).
pub fn descendants(pid: u32) -> Vec<(u32, Vec<String>)> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let mut fields = after.split_whitespace();
        let state = fields.next().unwrap_or("");
        let Some(ppid) = fields.next().and_then(|f| f.parse::<u32>().ok()) else { continue };
        if state != "Z" {
            parent_of.push((p, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found[1..].iter().map(|p| (*p, argv(*p))).collect()
}

/// The argv of a live process (empty when it is gone).
fn argv(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is alive (a zombie counts as dead).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').is_some_and(|i| !stat[i + 1..].trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls `read` until `cond` holds on its value (a hang guard of [`PATIENCE`]).
#[track_caller]
pub fn poll<T: std::fmt::Debug>(what: &str, mut read: impl FnMut() -> T, cond: impl Fn(&T) -> bool) -> T {
    let start = Instant::now();
    loop {
        let value = read();
        if cond(&value) {
            return value;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}; last seen: {value:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// progress.json, or Null while it does not exist or is being replaced.
fn progress_now(lab: &Sandboxed, id: &str) -> Value {
    std::fs::read_to_string(lab.run_dir(id).join("progress.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn finished_steps(progress: &Value) -> Vec<(String, String)> {
    progress["finished"]
        .as_array()
        .expect("finished")
        .iter()
        .map(|r| (r["step"].as_str().unwrap().to_string(), r["outcome"].as_str().unwrap().to_string()))
        .collect()
}

/// Lines of `text` without the `[hh:mm:ss] ` stamp of plain output.
fn unstamped(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| match l.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((stamp, rest)) if stamp.len() == 8 && stamp.as_bytes()[2] == b':' => rest,
            _ => l,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. The shipped lab, unattended.

#[test]
fn the_shipped_lab_runs_unattended_to_the_end_and_status_shows_it() {
    let lab = Sandboxed::shipped_fast();
    let acct = lab.acct.account_id().to_string();
    let run = lab.run(&["start", "flask-inventory", "--auto", "--yes"]);
    run.code(0).stderr_starts_with(&format!(
        "Lab: Flask inventory microservices on Amazon ECS (Fargate)\nAccount: {acct}\n"
    ));
    let lines = unstamped(&run.stdout);

    // Every step started in order, 1 to 55; each one with checks done, each reading step
    // (the CloudFormation page, the knowledge check) shown, never claimed as done.
    let started: Vec<(usize, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("Step "))
        .map(|l| {
            let (n, rest) = l.split_once("/55 · ").expect("Step n/55 · title [id]");
            let id = rest.rsplit_once(" [").expect("[id]").1.trim_end_matches(']');
            (n.parse().expect("step number"), id.to_string())
        })
        .collect();
    assert_eq!(started.iter().map(|(n, _)| *n).collect::<Vec<_>>(), (1..=55).collect::<Vec<_>>());
    let shipped = labrunner::lab::load_lab(&lab.labs.join("flask-inventory.yaml")).expect("the lab loads");
    for (_, id) in &started {
        let step = shipped.step(id).expect("a step of the lab");
        let want = if step.checks.is_empty() {
            format!("○ step {id} shown, not verified")
        } else {
            format!("✓ step {id} done")
        };
        assert!(lines.contains(&want.as_str()), "{want:?} missing:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("is not done"), "{}", run.stdout);
    // The sandbox ran the lab's own applications: the POST went through the load balancer and
    // the gateway to invsys (found by its Cloud Map name), whose real answer came back.
    assert!(
        run.stdout.contains(
            r#"│ {"Posted a device":{"id":"ecs-device-001","name":"ECS Test Device","location":"AWS Cloud","status":"active"}}"#
        ),
        "the application's own answer to the POST:\n{}",
        run.stdout
    );
    assert!(
        lines.contains(&"✓ lab finished: 47 of 55 steps done, 8 shown but not verified, 0 skipped"),
        "{}",
        run.stdout
    );
    let resources = lab.ledger_resources("flask-inventory");
    assert_eq!(
        lines.last().copied(),
        Some(
            format!(
                "Reminder: {} resource(s) this lab created are still in your account and may cost money. \
                 Remove them with: labrunner cleanup flask-inventory",
                resources.len()
            )
            .as_str()
        ),
        "the run ends with the cleanup reminder"
    );

    // progress.json: every step finished, in lab order, nothing under way.
    let progress = lab.progress("flask-inventory");
    let finished = finished_steps(&progress);
    assert_eq!(finished.len(), 55);
    assert_eq!(finished.iter().filter(|(_, o)| o == "done").count(), 47, "{finished:?}");
    assert_eq!(finished.iter().filter(|(_, o)| o == "shown").count(), 8, "{finished:?}");
    assert_eq!(
        finished.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        started.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>()
    );
    assert_eq!(progress["current"], Value::Null);
    assert_eq!(progress["account"], acct.as_str());
    assert!(progress["variables"]["VPC_ID"].as_str().is_some_and(|v| v.starts_with("vpc-")), "{progress}");

    // status: the counts, every recorded resource, and the cleanup command.
    let status = lab.run(&["status"]);
    status
        .code(0)
        .stdout_starts_with(&format!(
            "flask-inventory (account-region {acct}-{REGION})\n  steps: 47 done, 8 shown but not verified, 0 skipped, of 55\n  ✓ every step is finished\n"
        ))
        .stdout_contains(&format!("  ! {} resource(s) still recorded:\n", resources.len()))
        .stdout_contains("  remove them with: labrunner cleanup flask-inventory\n")
        // What they cost: the load balancer by the hour, the services' tasks on top.
        .stdout_contains("  cost: about $0.0225 per hour while they exist, about $0.02 so far (us-east-1 on-demand list prices of November 2026; the ")
        .stdout_contains(" service(s)' Fargate tasks and data transfer bill on top)\n");
    // And cleanup removes every one of them.
    lab.run(&["cleanup", "flask-inventory", "--yes"])
        .code(0)
        .stdout_contains("Everything the lab created is gone.");
}

// ---------------------------------------------------------------------------------------
// 2. --json

#[test]
fn json_events_describe_the_whole_run_in_order() {
    let lab = Sandboxed::shipped_fast();
    // The first module: the network, the load balancer and the cluster (the whole lab runs in
    // the_shipped_lab_runs_unattended_to_the_end_and_status_shows_it).
    let run =
        lab.run(&["start", "flask-inventory", "--auto", "--yes", "--json", "--until", "create-listener"]);
    run.code(0);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["event"].is_string(), "no event field: {l}");
            v
        })
        .collect();
    let kind = |v: &Value| v["event"].as_str().unwrap().to_string();

    let first = &events[0];
    assert_eq!(kind(first), "lab_started");
    assert_eq!(first["lab"], "flask-inventory");
    assert_eq!(first["account"], lab.acct.account_id());
    assert_eq!(first["total"], 55);
    assert_eq!(first["resumed"], false);
    let last = events.last().unwrap();
    assert_eq!(kind(last), "lab_finished");
    assert_eq!(
        (&last["done"], &last["total"], &last["resources"], &last["complete"]),
        (&12.into(), &55.into(), &14.into(), &false.into())
    );

    // Between step_started and step_finished of a step, only that step's events.
    let mut current: Option<String> = None;
    let mut steps = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for e in &events[1..events.len() - 1] {
        let k = kind(e);
        *seen.entry(k.clone()).or_default() += 1;
        match k.as_str() {
            "step_started" => {
                assert_eq!(current, None, "step_started inside step {current:?}");
                assert_eq!(e["number"], steps.len() + 1);
                current = Some(e["step"].as_str().unwrap().to_string());
                steps.push(current.clone().unwrap());
            }
            "step_finished" => {
                assert_eq!(e["step"].as_str(), current.as_deref());
                assert_eq!(e["result"], "done", "{e}");
                current = None;
            }
            "output" | "check_finished" | "resource_recorded" | "block_started" | "block_finished"
            | "checks_started" | "check_progress" => {
                assert_eq!(e["step"].as_str(), current.as_deref(), "{k} outside its step: {e}");
                if k == "check_finished" {
                    assert_eq!(e["outcome"]["status"], "pass", "{e}");
                }
            }
            "variable_set" => assert!(current.is_some(), "variable_set between steps: {e}"),
            "module_started" => assert_eq!(current, None, "a module starts between steps: {e}"),
            "notice" => assert!(
                e["text"].as_str().is_some_and(|t| t.starts_with("stopped after step `create-listener`")),
                "{e}"
            ),
            other => panic!("unexpected event {other} in a clean run: {e}"),
        }
    }
    assert_eq!(current, None);
    assert_eq!(steps.len(), 12);
    for k in ["output", "check_finished", "resource_recorded", "step_started", "step_finished"] {
        assert!(seen.get(k).copied().unwrap_or(0) > 0, "no {k} event: {seen:?}");
    }
    assert_eq!(seen["resource_recorded"], 14);
    assert_eq!(seen["step_finished"], 12);
    // Nothing but events on stdout: no reminder, no "Progress saved".
    assert!(!run.stdout.contains("Reminder:"));
}

// ---------------------------------------------------------------------------------------
// 3. The interactive flow through piped answers.

const MENU: &str = "What next?\n  1) Run it for me\n  2) I'll do it myself\n  3) Skip this step\n  4) Quit (progress is saved)\n> ";
const CONFIRM: &str = "Work in this account and region? [Y/n] ";

fn interactive(lab: &Sandboxed, args: &[&str]) -> Live {
    let mut cmd = lab.command(args);
    cmd.env("LABRUNNER_INTERACTIVE", "1").stdin(Stdio::piped());
    Live::spawn(args, cmd)
}

/// labrunner in a real pseudo-terminal (util-linux `script`), as a student meets it: the
/// dialoguer menus and the live spinners, with keys typed into the terminal.
fn in_a_terminal(lab: &Sandboxed, args: &[&str]) -> Live {
    let mut line = format!("{BIN} --labs-dir {}", lab.labs.display());
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut cmd = Command::new("script");
    lab.acct.apply(&mut cmd);
    cmd.env("LABRUNNER_STATE_DIR", lab.state())
        .env("TERM", "xterm")
        .env("COLUMNS", "70")
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .args(["-qfec", &line, "/dev/null"])
        .current_dir(lab.acct.home())
        .stdin(Stdio::piped());
    Live::spawn(args, cmd)
}

/// An Enter pressed while labrunner waits on a step's checks must not answer the menu that
/// follows: pending keys are thrown away before every question.
#[test]
fn in_a_terminal_a_key_pressed_during_a_wait_never_answers_the_next_menu() {
    let lab = Sandboxed::fixture();
    let mut live = in_a_terminal(&lab, &["start", "rt-failing", "--yes"]);
    // A menu waiting for its answer reads "? What next? ›"; an answered one "✔ What next? · ...".
    let waiting = |l: &Live| l.stdout().matches("? What next? ›").count();
    let answered = |l: &Live| l.stdout().matches("✔ What next? · Run it for me").count();
    live.wait_until("the first menu", |l| waiting(l) >= 1);
    live.send(""); // Run it for me: make-group.
    live.wait_until("the second step's menu", |l| waiting(l) >= 2);
    live.send(""); // Run it for me: the impossible step, whose check waits 3 s.
                   // The live line of the check ("log group /rt/never-created exists: ..."), not the page's list.
    live.wait_until("the wait", |l| answered(l) >= 2 && l.stdout().contains("/rt/never-created exists:"));
    live.send(""); // The stray Enter, pressed while watching.
    live.wait_until("the recovery menu", |l| l.stdout().contains("is not done yet. What now?"));
    std::thread::sleep(Duration::from_secs(2));
    let screen = live.stdout();
    assert!(!screen.contains("What now? ·"), "the stray Enter answered the menu:\n{screen}");
    assert!(screen.contains("RT-HINT-MATCHED"), "the matching hint is shown:\n{screen}");
    // What the student sees once the terminal has drawn it all: the Enter was not echoed into
    // the live lines, so every redraw landed where it should and no spinner frame is left.
    let mut terminal = vt100::Parser::new(400, 80, 0);
    terminal.process(screen.replace('\n', "\r\n").as_bytes());
    let seen = terminal.screen().contents();
    let spinner =
        |line: &str| line.trim_start().starts_with(|c: char| ('\u{2800}'..='\u{28ff}').contains(&c));
    assert!(!seen.lines().any(spinner), "a stale spinner frame is left on the screen:\n{seen}");
    assert!(seen.contains("✗ log group /rt/never-created exists"), "{seen}");
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let _ = live.finish();
}

/// What a student does by hand in another shell: a table made with the aws CLI.
fn make_table_by_hand(acct: &TestAccount, name: &str) {
    let made = acct.aws([
        "dynamodb",
        "create-table",
        "--table-name",
        name,
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
    assert!(made.status.success(), "making table {name}: {}", String::from_utf8_lossy(&made.stderr));
}

/// The down arrow, as a terminal sends it.
const DOWN: &str = "\x1b[B";

/// "I'll do it myself" in a real terminal: the watch starts at once and says how to get the
/// lab's values into another shell; the student does the step there, with
/// `eval "$(labrunner env LAB)"` and the command from the page, and the watch sees the table
/// and finishes the step without a key pressed.
#[test]
fn in_a_terminal_a_step_done_by_hand_in_a_second_shell_with_labrunner_env_is_seen() {
    let lab = Sandboxed::fixture();
    let mut live = in_a_terminal(&lab, &["start", "rt-interactive", "--yes"]);
    live.wait_until("the first menu", |l| l.stdout().contains("What next?"));
    live.send(""); // Run it for me: the log group.
    live.wait_until("the table's name asked", |l| l.stdout().contains("TABLE_NAME"));
    live.send("rt-by-hand-items");
    // The menu's question as drawn while it waits (an answered one reads "✔ What next? ·").
    let menus = |l: &Live| l.stdout().matches("? What next? ›").count();
    live.wait_until("the second menu", |l| menus(l) >= 2);
    live.send_keys(DOWN); // "I'll do it myself"
    live.send("");
    live.wait_until("the watch", |l| l.stdout().contains("labrunner is watching the checks"));
    let screen = live.stdout();
    assert!(screen.contains("✔ What next? · I'll do it myself"), "{screen}");
    assert!(
        screen.replace('\n', " ").contains("labrunner env rt-interactive"),
        "the screen says how:\n{screen}"
    );

    // The second shell: the lab's values from `labrunner env`, the command from the page.
    let by_hand = lab.in_the_students_shell(
        "rt-interactive",
        r#"echo "table: $TABLE_NAME"
aws dynamodb create-table --table-name "$TABLE_NAME" \
  --attribute-definitions AttributeName=id,AttributeType=S \
  --key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST >/dev/null"#,
    );
    assert_eq!(by_hand, "table: rt-by-hand-items\n");

    live.wait_until("the step seen done", |l| l.stdout().contains("step create-table done"));
    live.wait_until("the third menu", |l| menus(l) >= 3);
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let _ = live.finish();
    // Made during the step, by the student: recorded for cleanup like the lab's own.
    assert_eq!(
        lab.ledger_resources("rt-interactive"),
        ["log_group /rt/interactive", "dynamodb_table rt-by-hand-items"]
    );
}

/// A run killed half-way through a step's commands (the log group made, the table not yet),
/// resumed in a real terminal: the step's checks do not pass, and what it made exists, so the
/// menu names what exists and offers to check once the student has finished by hand; the
/// student makes the table in a second shell, "check now" finds the step done, and both are
/// recorded for cleanup.
#[test]
fn in_a_terminal_a_step_interrupted_mid_create_is_finished_by_hand_and_checked() {
    let lab = Sandboxed::fixture();
    let args = ["start", "rt-recover", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    cmd.env("RT_SLOW", "1");
    let mut run = Live::spawn(&args, cmd);
    run.wait_until("the log group made", |_| {
        let groups =
            lab.acct.aws_json(["logs", "describe-log-groups", "--log-group-name-prefix", "/rt/recover"]);
        groups["logGroups"].as_array().is_some_and(|g| !g.is_empty())
    });
    run.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = run.finish();

    let mut live = in_a_terminal(&lab, &["resume", "rt-recover", "--yes"]);
    live.wait_until("the recovery menu", |l| {
        l.stdout().contains("ran before and some of it exists. What now?")
    });
    let screen = live.stdout();
    assert!(screen.contains("log_group /rt/recover"), "what exists is named:\n{screen}");
    assert!(screen.contains("I finished it by hand: check now"), "{screen}");
    make_table_by_hand(&lab.acct, "rt-recover-items");
    live.send(""); // I finished it by hand: check now
    live.wait_until("the step done", |l| l.stdout().contains("step make-pair done"));
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let _ = live.finish();
    assert_eq!(
        lab.ledger_resources("rt-recover"),
        ["log_group /rt/recover", "dynamodb_table rt-recover-items"]
    );
    let groups = lab.acct.aws_json(["logs", "describe-log-groups", "--log-group-name-prefix", "/rt/recover"]);
    assert_eq!(groups["logGroups"].as_array().map(Vec::len), Some(1), "one log group, not two");
}

/// The retail-carts policy, on `resources` (JSON strings), as a student writes it to a file.
fn carts_policy(resources: &str) -> String {
    format!(
        r#"cat > carts-policy.json <<EOF
{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
  "Resource": [{resources}]}}]}}
EOF"#
    )
}

/// A shipped lab's failure step as a student meets it, in a real terminal: retail-carts has run
/// up to the proof that the task role may not query the table's index. At the fix the student
/// does the work in their own shell and gets it half right (a policy on the table, not its
/// indexes); Enter shows the diagnosis and the hint that matches it; the student corrects the
/// policy, and the watch sees the step done and records the policy, made by hand, for cleanup.
#[test]
fn in_a_terminal_the_retail_carts_fix_made_by_hand_wrong_then_right_with_the_matching_hint() {
    let lab = Sandboxed::shipped_fast();
    lab.run(&["start", "retail-carts", "--auto", "--yes", "--until", "confirm-missing-permission"])
        .code(0)
        .stdout_contains("✓ step confirm-missing-permission done");

    let mut live = in_a_terminal(&lab, &["resume", "retail-carts", "--yes"]);
    live.wait_until("the fix step's menu", |l| {
        l.stdout().contains("attach-dynamodb-policy") && l.stdout().contains("? What next? ›")
    });
    live.send_keys(DOWN); // "I'll do it myself"
    live.send("");
    live.wait_until("the watch", |l| l.stdout().contains("labrunner is watching the checks"));

    let table = r#""arn:aws:dynamodb:$AWS_REGION:$ACCOUNT_ID:table/retail-store-ecs-carts""#;
    let indexes = r#""arn:aws:dynamodb:$AWS_REGION:$ACCOUNT_ID:table/retail-store-ecs-carts/index/*""#;
    lab.in_the_students_shell(
        "retail-carts",
        &format!(
            r#"{}
ARN=$(aws iam create-policy --policy-name retailStoreEcsCartsDynamoDBPolicy \
  --policy-document file://carts-policy.json --query Policy.Arn --output text)
aws iam attach-role-policy --role-name retailStoreEcsTaskRole --policy-arn "$ARN""#,
            carts_policy(table)
        ),
    );
    // Enter: look now.
    live.send("");
    // The screen's words, whatever the terminal's width wrapped.
    let words = |l: &Live| l.stdout().split_whitespace().collect::<Vec<_>>().join(" ");
    live.wait_until("the matching hint", |l| words(l).contains("Check the policy's second resource"));
    let screen = words(&live);
    assert!(
        screen.contains("role retailStoreEcsTaskRole → dynamodb:Query on")
            && screen.contains("no policy allows it"),
        "the diagnosis names the role, the action and why:\n{}",
        live.stdout()
    );
    assert!(!screen.contains("step attach-dynamodb-policy done"), "{}", live.stdout());

    lab.in_the_students_shell(
        "retail-carts",
        &format!(
            r#"{}
aws iam create-policy-version \
  --policy-arn "arn:aws:iam::$ACCOUNT_ID:policy/retailStoreEcsCartsDynamoDBPolicy" \
  --policy-document file://carts-policy.json --set-as-default >/dev/null"#,
            carts_policy(&format!("{table}, {indexes}"))
        ),
    );
    live.wait_until("the step seen done", |l| l.stdout().contains("step attach-dynamodb-policy done"));
    live.wait_until("the next step's menu", |l| l.stdout().contains("redeploy-carts"));
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let _ = live.finish();
    let recorded = lab.ledger_resources("retail-carts");
    assert!(
        recorded.iter().any(|r| r == "iam_policy retailStoreEcsCartsDynamoDBPolicy"),
        "the policy made by hand is the lab's: {recorded:?}"
    );
    let policies =
        lab.acct.aws_json(["iam", "list-attached-role-policies", "--role-name", "retailStoreEcsTaskRole"]);
    assert_eq!(policies["AttachedPolicies"].as_array().map(Vec::len), Some(1), "{policies}");
}

#[test]
fn interactive_answers_run_watch_quit_and_resume() {
    let lab = Sandboxed::fixture();
    let id = "rt-interactive";

    let mut live = interactive(&lab, &["start", id]);
    live.wait_stderr(CONFIRM, 1);
    live.send("y");
    // Step 1: run it for me.
    live.wait_stderr(MENU, 1);
    live.send("1");
    // Step 2 needs TABLE_NAME first, then the menu: the student does the work by hand.
    live.wait_stderr("TABLE_NAME (Name of the table) [rt-default-items]: ", 1);
    live.send("rt-chosen-items");
    live.wait_stderr(MENU, 2);
    make_table_by_hand(&lab.acct, "rt-chosen-items");
    live.send("i'll");
    // Step 3: quit.
    live.wait_stderr(MENU, 3);
    live.send("quit");
    let run = live.finish();
    run.code(0)
        .stdout_contains("log group created")
        .stdout_contains("✓ step create-log-group done")
        .stdout_contains("labrunner is watching the checks")
        .stdout_contains("✓ step create-table done")
        .stdout_lacks("step three ran for rt-")
        .stdout_contains("Progress saved. Continue with: labrunner resume rt-interactive\n");
    assert_eq!(run.stderr.matches(MENU).count(), 3, "{}", run.stderr);

    let progress = lab.progress(id);
    assert_eq!(
        finished_steps(&progress),
        [("create-log-group".into(), "done".into()), ("create-table".into(), "done".into())]
    );
    assert_eq!(progress["current"], "describe-table");
    assert_eq!(progress["variables"]["TABLE_NAME"], "rt-chosen-items");
    assert_eq!(lab.ledger_resources(id), ["log_group /rt/interactive", "dynamodb_table rt-chosen-items"]);

    // Someone deletes the log group between sessions: resume finds step 1 drifted.
    let deleted = lab.acct.aws(["logs", "delete-log-group", "--log-group-name", "/rt/interactive"]);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));

    // Resume: the saved answer is used, step 1 is done again, step 3 runs, the lab ends.
    let mut live = interactive(&lab, &["resume", id]);
    live.wait_stderr(CONFIRM, 1);
    live.send("y");
    live.wait_stderr(MENU, 1);
    live.send("run");
    live.wait_stderr(MENU, 2);
    live.send("run");
    let run = live.finish();
    run.code(0)
        .stdout_contains("Continuing: 2 of 3 steps finished before.")
        .stdout_contains(
            "! step create-log-group no longer checks out; it is looked at again before anything runs:",
        )
        .stdout_contains("✓ step create-log-group done")
        .stdout_contains("step three ran for rt-chosen-items")
        .stdout_contains("✓ the table is ACTIVE")
        .stdout_contains("✓ lab finished: 3 of 3 steps done, 0 skipped")
        .stdout_lacks("Progress saved");
    assert!(!run.stderr.contains("TABLE_NAME"), "asked for TABLE_NAME again:\n{}", run.stderr);
    assert_eq!(run.stderr.matches(MENU).count(), 2, "steps 1 and 3 are asked about:\n{}", run.stderr);
    let progress = lab.progress(id);
    assert_eq!(finished_steps(&progress).len(), 3);
    assert_eq!(progress["current"], Value::Null);
    assert!(lab.log_group_exists("/rt/interactive"));
    assert_eq!(lab.ledger_resources(id), ["log_group /rt/interactive", "dynamodb_table rt-chosen-items"]);
}

#[test]
fn a_watch_that_finds_the_work_without_enter_does_not_eat_the_next_answer() {
    let lab = Sandboxed::fixture();
    let id = "rt-interactive";
    let mut live = interactive(&lab, &["start", id, "--yes"]);
    live.wait_stderr(MENU, 1);
    live.send("skip");
    // Skipping is confirmed, naming what it means.
    live.wait_stderr(
        "Skip step `create-log-group`? It stays unverified, and `status` lists it as skipped. [y/N] ",
        1,
    );
    live.send("y");
    live.wait_stderr("TABLE_NAME (Name of the table) [rt-default-items]: ", 1);
    live.send("");
    live.wait_stderr(MENU, 2);
    live.send("2");
    // The watch looks, finds nothing, and waits; the table appears; the watch finds it on
    // its own (every 5 s), with no Enter pressed.
    live.wait_until("the watch to look once", |l| {
        l.stdout()
            .split_once("labrunner is watching the checks")
            .is_some_and(|(_, after)| after.contains('…'))
    });
    let made = lab.acct.aws([
        "dynamodb",
        "create-table",
        "--table-name",
        "rt-default-items",
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    live.wait_stderr(MENU, 3);
    // The answer to the next question must reach that question.
    live.send("quit");
    let run = live.finish();
    run.code(0)
        .stdout_contains("» step create-log-group skipped")
        .stdout_contains("  … table rt-default-items is ACTIVE: table rt-default-items not found\n")
        .stdout_contains("✓ step create-table done")
        .stdout_contains("Progress saved. Continue with: labrunner resume rt-interactive");
    assert_eq!(lab.progress(id)["current"], "describe-table");
}

// ---------------------------------------------------------------------------------------
// 4. Killed or interrupted in the middle of a step.

/// Starts rt-kill with the slow block and waits until it sleeps inside `long-step` with
/// THING_ID saved. Returns the process, THING_ID, the pid of the `sleep 30` and every
/// process below labrunner at that moment.
fn start_slow(lab: &Sandboxed) -> (Live, String, u32, Vec<u32>) {
    let args = ["start", "rt-kill", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    cmd.env("RT_SLOW", "1");
    let mut live = Live::spawn(&args, cmd);
    let progress = poll(
        "progress to show long-step under way with THING_ID",
        || progress_now(lab, "rt-kill"),
        |p| p["current"] == "long-step" && p["variables"]["THING_ID"].is_string(),
    );
    let thing = progress["variables"]["THING_ID"].as_str().unwrap().to_string();
    assert!(thing.starts_with("thing-"), "{thing}");
    let pid = live.pid();
    let mut sleeper = 0;
    live.wait_until("the block's `sleep 30`", |_| {
        sleeper =
            descendants(pid).into_iter().find(|(_, argv)| argv == &["sleep", "30"]).map_or(0, |(p, _)| p);
        sleeper != 0
    });
    let below = descendants(pid).into_iter().map(|(p, _)| p).collect();
    (live, thing, sleeper, below)
}

/// Resumes rt-kill unattended (no slow block) and checks it continues at long-step with
/// the THING_ID saved before: the interrupted step is looked at first, and since its check
/// passes on what exists, its commands are not run a second time.
fn resume_continues_at_long_step(lab: &Sandboxed, thing: &str) {
    let run = lab.run(&["resume", "rt-kill", "--auto", "--yes"]);
    run.code(0)
        .stdout_contains("Continuing: 1 of 3 steps finished before.")
        .stdout_lacks("Step 1/3")
        .stdout_lacks("prepared")
        .stdout_contains("step `long-step` ran before and its checks pass on what exists: it counts as done")
        .stdout_lacks("made thing-")
        .stdout_contains(&format!("after: THING_ID={thing}"))
        .stdout_contains("✓ lab finished: 3 of 3 steps done, 0 skipped");
    let first_step = unstamped(&run.stdout).into_iter().find(|l| l.starts_with("Step ")).map(str::to_string);
    assert_eq!(first_step.as_deref(), Some("Step 2/3 · Make a thing, slowly [long-step]"));
    let progress = lab.progress("rt-kill");
    assert_eq!(finished_steps(&progress).len(), 3);
    assert_eq!(progress["variables"]["THING_ID"], thing);
    assert_eq!(progress["current"], Value::Null);
}

#[test]
fn sigint_mid_step_stops_the_block_exits_130_and_resume_continues_there() {
    let lab = Sandboxed::fixture();
    let (live, thing, sleeper, below) = start_slow(&lab);
    // While it runs, a second labrunner on the same lab and account is refused.
    lab.run(&["resume", "rt-kill", "--auto", "--yes"])
        .code(4)
        .stderr_contains("error: lab `rt-kill` is already being run by another labrunner (lock ");
    live.signal(nix::sys::signal::Signal::SIGINT);
    let run = live.finish();
    run.code(130)
        .stdout_contains("■ step long-step interrupted")
        .stderr_contains("error: interrupted; progress and the cleanup ledger are saved\n")
        .stderr_contains("hint: run `labrunner resume rt-kill` to continue where you stopped");
    // No orphan: the block's bash and its sleep ended with the runner.
    assert!(below.contains(&sleeper));
    poll(
        "the block's processes to end",
        || below.iter().copied().filter(|p| alive(*p)).collect::<Vec<_>>(),
        Vec::is_empty,
    );
    let progress = lab.progress("rt-kill");
    assert_eq!(progress["current"], "long-step");
    assert_eq!(progress["variables"]["THING_ID"], thing.as_str());
    assert_eq!(finished_steps(&progress), [("prepare".into(), "done".into())]);

    resume_continues_at_long_step(&lab, &thing);
}

#[test]
fn sigkill_mid_step_loses_nothing_saved_and_resume_continues_there() {
    let lab = Sandboxed::fixture();
    let (live, thing, sleeper, below) = start_slow(&lab);
    live.signal(nix::sys::signal::Signal::SIGKILL);
    let run = live.finish();
    assert_eq!(run.code, -9, "killed by SIGKILL");
    // Nothing of the block runs on: its watcher ends the group when labrunner dies.
    assert!(below.contains(&sleeper));
    poll(
        "the killed run's block to end",
        || below.iter().copied().filter(|p| alive(*p)).collect::<Vec<_>>(),
        Vec::is_empty,
    );
    let progress = lab.progress("rt-kill");
    assert_eq!(progress["current"], "long-step");
    assert_eq!(progress["commands_began"], true);
    assert_eq!(progress["variables"]["THING_ID"], thing.as_str());
    resume_continues_at_long_step(&lab, &thing);
}

// ---------------------------------------------------------------------------------------
// 5. Another account.

#[test]
fn resume_in_another_account_is_refused_and_names_the_labs_account() {
    let lab = Sandboxed::fixture();
    lab.run(&["start", "rt-failing", "--auto", "--yes"]).code(1);
    let other = sandbox().account();
    let run = lab.run_as(&other, &["resume", "rt-failing", "--auto", "--yes"]);
    run.code(4)
        .stderr_contains(&format!(
            "error: refusing to resume lab `rt-failing` here: this lab's progress belongs to account {} in {REGION}, but the current credentials are for account {} in {REGION}\n",
            lab.acct.account_id(),
            other.account_id()
        ))
        .stdout_empty();
    // Nothing was written, or even created, for the other account.
    assert!(!lab.state().join("rt-failing").join(format!("{}-{REGION}", other.account_id())).exists());
}

#[test]
fn credentials_that_change_mid_lab_stop_the_run_before_the_next_step() {
    let lab = Sandboxed::fixture();
    let a = &lab.acct;
    let b = sandbox().account();
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // A credential_process that answers with A's keys until `swapped` exists, then B's;
    // the credentials expire at once, so the SDK asks again before every call.
    let script = d.join("creds.sh");
    let json = |k: &TestAccount| {
        format!(
            r#"{{"Version":1,"AccessKeyId":"{}","SecretAccessKey":"{}","SessionToken":"{}","Expiration":"%s"}}"#,
            k.access_key_id, k.secret_access_key, k.session_token
        )
    };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexp=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)\nif [ -f '{swapped}' ]; then printf '{b}' \"$exp\"; else printf '{a}' \"$exp\"; fi\n",
            swapped = d.join("swapped").display(),
            a = json(a),
            b = json(&b),
        ),
    )
    .expect("write credential script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = d.join("config");
    std::fs::write(
        &config,
        format!("[profile rt]\ncredential_process = {}\nregion = {REGION}\n", script.display()),
    )
    .unwrap();

    let args = ["start", "rt-account", "--auto", "--yes"];
    let mut cmd = lab.command(&args);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "rt")
        .env("RT_DIR", d);
    let mut live = Live::spawn(&args, cmd);
    live.wait_until("step 2 to run", |_| d.join("step2-started").exists());
    std::fs::write(d.join("swapped"), "").unwrap();
    let run = live.finish();
    run.code(4)
        .stdout_contains("credentials were swapped")
        .stdout_contains("✓ step wait-for-swap done")
        .stdout_lacks("Step 3/3")
        .stderr_contains(&format!(
            "error: stopping before the next step: this lab's progress belongs to account {} in {REGION}, but the current credentials are for account {} in {REGION}\n",
            a.account_id(),
            b.account_id()
        ));
    assert!(!d.join("step3-ran").exists(), "step 3's commands ran in the other account");
    let in_b = b.aws_json(["logs", "describe-log-groups"]);
    assert_eq!(in_b["logGroups"], serde_json::json!([]), "nothing was created in account B");
    let progress = lab.progress("rt-account");
    assert_eq!(
        finished_steps(&progress),
        [("one".into(), "done".into()), ("wait-for-swap".into(), "done".into())]
    );
    assert_eq!(lab.ledger_resources("rt-account"), ["log_group /rt/account"]);
    assert!(lab.log_group_exists("/rt/account"));
}

// ---------------------------------------------------------------------------------------
// 6. A failing step.

#[test]
fn a_failing_check_in_auto_mode_exits_1_with_diagnostics_and_the_matching_hint() {
    let lab = Sandboxed::fixture();
    let run = lab.run(&["start", "rt-failing", "--auto", "--yes"]);
    let lines = unstamped(&run.stdout);
    run.code(1);
    let has = |want: &str| {
        assert!(lines.iter().any(|l| l.starts_with(want)), "no line starting {want:?}:\n{}", run.stdout)
    };
    has("✓ step make-group done");
    has("✗ log group /rt/never-created exists: log group /rt/never-created not found (");
    has("    gave up after ");
    has("    log group /rt/never-created does not exist");
    has("Hint: RT-HINT-MATCHED: create the group `/rt/never-created` first.");
    has("✗ step impossible is not done");
    has("1 of 3 steps done, 0 skipped");
    run.stdout_lacks("RT-HINT-UNRELATED").stdout_lacks("Step 3/3").stdout_contains(
        "Reminder: 1 resource(s) this lab created are still in your account and may cost money. Remove them with: labrunner cleanup rt-failing\n",
    );
    assert!(!lab.acct.home().join("rt-unreached-ran").exists());
    let progress = lab.progress("rt-failing");
    assert_eq!(finished_steps(&progress), [("make-group".into(), "done".into())]);
    assert_eq!(progress["current"], "impossible");
    let status = lab.run(&["status", "rt-failing"]);
    status
        .code(0)
        .stdout_contains("  steps: 1 done, 0 skipped, of 3\n  stopped in step: impossible\n")
        .stdout_contains(&format!(
            "  ! 1 resource(s) still recorded:\n    log_group /rt/failing (arn:aws:logs:{REGION}:{}:log-group:/rt/failing)\n  remove them with: labrunner cleanup rt-failing\n",
            lab.acct.account_id()
        ));

    // reset: only with confirmation; forgets progress, keeps the ledger.
    lab.run(&["reset", "rt-failing"]).code(2).stderr_contains("error: reset needs confirmation\n");
    assert!(lab.run_dir("rt-failing").join("progress.json").exists());
    lab.run(&["reset", "rt-failing", "--yes"]).code(0).stdout(&format!(
        "Forgot progress in {} (cleanup ledger kept).\n",
        lab.run_dir("rt-failing").display()
    ));
    assert!(!lab.run_dir("rt-failing").join("progress.json").exists());
    assert_eq!(lab.ledger_resources("rt-failing"), ["log_group /rt/failing"]);
    lab.run(&["status", "rt-failing"]).code(0).stdout_contains(
        "  no progress (reset), but the cleanup ledger remains\n  ! 1 resource(s) still recorded:\n    log_group /rt/failing (arn:aws:logs:",
    );
}

// ---------------------------------------------------------------------------------------
// 7. Secrets.

#[test]
fn a_secret_a_block_exports_is_never_shown_or_saved() {
    const SECRET: &str = "hunter2hunter2";
    let lab = Sandboxed::fixture();
    let text = lab.run(&["start", "rt-secret", "--auto", "--yes"]);
    text.code(0)
        .stdout_contains("the password is ****")
        .stdout_contains("on stderr: ****")
        .stdout_contains("DB_PASSWORD = ****")
        .stdout_contains("still ****")
        .stdout_contains("✓ the password is usable: ")
        .stdout_contains("✓ lab finished: 2 of 2 steps done, 0 skipped");
    let progress = std::fs::read_to_string(lab.run_dir("rt-secret").join("progress.json")).unwrap();
    lab.run(&["reset", "rt-secret", "--yes"]).code(0);
    let json = lab.run(&["start", "rt-secret", "--auto", "--yes", "--json"]);
    json.code(0).stdout_contains(r#""line":"the password is ****""#);
    for (what, text) in [
        ("text stdout", &text.stdout),
        ("text stderr", &text.stderr),
        ("progress.json", &progress),
        ("json stdout", &json.stdout),
        ("json stderr", &json.stderr),
    ] {
        assert!(!text.contains(SECRET), "the secret appears in {what}:\n{text}");
    }
    assert!(!progress.contains("DB_PASSWORD"), "{progress}");
}

// ---------------------------------------------------------------------------------------
// 8. Pre-existing resources.

#[test]
fn a_resource_that_existed_before_the_step_is_not_recorded_and_cleanup_leaves_it() {
    let lab = Sandboxed::fixture();
    let made = lab.acct.aws(["logs", "create-log-group", "--log-group-name", "/rt/shared"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let run = lab.run(&["start", "rt-preexisting", "--auto", "--yes"]);
    run.code(0)
        .stdout_contains("/rt/shared exists already")
        .stdout_contains(
            "  ! log_group /rt/shared existed before this step; it is not recorded, so cleanup will leave it\n",
        )
        .stdout_contains("  + recorded for cleanup: log_group /rt/own (arn:aws:logs:")
        .stdout_lacks("recorded for cleanup: log_group /rt/shared");
    assert_eq!(lab.ledger_resources("rt-preexisting"), ["log_group /rt/own"]);

    let clean = lab.run(&["cleanup", "rt-preexisting", "--yes"]);
    clean
        .code(0)
        .stdout_contains("  deleted       log_group /rt/own (arn:aws:logs:")
        .stdout_lacks("/rt/shared");
    assert!(lab.log_group_exists("/rt/shared"), "cleanup deleted the pre-existing log group");
    assert!(!lab.log_group_exists("/rt/own"));
}
