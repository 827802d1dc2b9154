//! `command`: the escape hatch. Runs `bash -eo pipefail -c SCRIPT` with the lab variables in
//! its environment; passes when it exits 0 (and its output contains the expected text).
//!
//! The script runs in its own process group, killed when the deadline passes or the wait is
//! cancelled (dropping the future kills it), so no stray children outlive the check.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::text::{one_line, tail};
use super::{Fetch, LookError, Verdict};
use crate::aws::ErrorClass;
use crate::lab::check::Command;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunObs {
    /// The exit code; `None` when killed by a signal or the time limit.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

/// `command`, pure.
pub(crate) fn evaluate_command(p: &Command, r: &RunObs) -> Verdict {
    let last = tail(&r.stdout, 1).pop().or_else(|| tail(&r.stderr, 1).pop()).unwrap_or_default();
    let last = one_line(&last, 200);
    if r.timed_out {
        return Verdict::fail(format!("still running at the deadline; last output: {last}"));
    }
    match r.code {
        Some(0) => match &p.output_contains {
            Some(want) if !r.stdout.contains(want.as_str()) => {
                Verdict::fail(format!("exit 0, but the output does not contain {want:?}; last line: {last}"))
            }
            _ => Verdict::pass(if last.is_empty() { "exit 0".to_string() } else { last }),
        },
        Some(code) => {
            // What went wrong is on stderr more often than not; with no output at all, say
            // which command found nothing rather than print a bare status.
            let said = tail(&r.stderr, 1).pop().or_else(|| tail(&r.stdout, 1).pop()).unwrap_or_default();
            if said.trim().is_empty() {
                let first = p.run.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
                Verdict::fail(format!("exit {code} with no output from `{}`", one_line(first, 100)))
            } else {
                Verdict::fail(format!("exit {code}: {}", one_line(&said, 200)))
            }
        }
        None => Verdict::fail(format!("killed by a signal: {last}")),
    }
}

/// Kills the whole process group when dropped, unless disarmed.
struct GroupKiller(Option<i32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // The child leads its own process group, so this reaches everything it started.
            let _ =
                nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Runs the script with a time limit.
pub(crate) async fn run(
    script: &str,
    env: &[(String, String)],
    unset: &[String],
    workdir: Option<&std::path::Path>,
    limit: Duration,
) -> std::io::Result<RunObs> {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-eo").arg("pipefail").arg("-c").arg(script);
    for name in unset {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = workdir {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0).kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let guard = GroupKiller(pgid);
    // If labrunner itself is killed during a long check, the watcher ends the check's group.
    let watcher = pgid.and_then(|p| crate::exec::Watcher::start(p, None));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let work = async {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let (r1, r2, status) = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e), child.wait());
        r1?;
        r2?;
        Ok::<_, std::io::Error>((status?, o, e))
    };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => {
            let (status, o, e) = result?;
            // Exited: background children it left are still in the group; end them too.
            drop(guard);
            if let Some(w) = watcher {
                w.dismiss();
            }
            Ok(RunObs {
                code: status.code(),
                timed_out: false,
                stdout: String::from_utf8_lossy(&o).into_owned(),
                stderr: String::from_utf8_lossy(&e).into_owned(),
            })
        }
        Err(_) => {
            drop(guard);
            if let Some(w) = watcher {
                w.dismiss();
            }
            Ok(RunObs { code: None, timed_out: true, stdout: String::new(), stderr: String::new() })
        }
    }
}

/// `command`: one run, limited to the time left before the deadline.
pub(crate) async fn command(ctx: &Fetch<'_>, p: &Command) -> Result<Verdict, LookError> {
    ctx.count();
    let limit = ctx.remaining.max(Duration::from_secs(1));
    let env = &ctx.settings.command_env;
    match run(&p.run, env, &ctx.settings.command_unset, ctx.settings.workdir.as_deref(), limit).await {
        Ok(r) => {
            let mut v = evaluate_command(p, &r);
            if v.status != super::Status::Pass {
                let stderr = tail(&r.stderr, 3);
                if !stderr.is_empty() {
                    v.evidence.push_str(&format!(" (stderr: {})", stderr.join(" | ")));
                }
                // A throttled, refused or unreachable call says nothing about the account:
                // that is "could not look", never "not there" (resume decides drift on it).
                if let Some(class) = crate::aws::cli_failure_class(&r.stderr) {
                    return Err(LookError::new(class, v.evidence));
                }
            }
            Ok(v)
        }
        Err(e) => Err(LookError::new(ErrorClass::Other, format!("cannot run bash: {e}"))),
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    fn c(contains: Option<&str>) -> Command {
        Command { run: "x".into(), output_contains: contains.map(String::from) }
    }

    fn r(code: Option<i32>, stdout: &str, stderr: &str) -> RunObs {
        RunObs { code, timed_out: false, stdout: stdout.into(), stderr: stderr.into() }
    }

    #[test]
    fn command_table() {
        #[rustfmt::skip]
        let cases = vec![
            ("exit 0", c(None), r(Some(0), "a\nlast line\n\n", ""), Pass, "last line"),
            ("silent", c(None), r(Some(0), "", ""), Pass, "exit 0"),
            ("contains", c(Some("ok")), r(Some(0), "all ok\ndone", ""), Pass, "done"),
            ("lacks", c(Some("ok")), r(Some(0), "nope", ""), Fail, "does not contain \"ok\""),
            ("exit 1", c(None), r(Some(1), "", "curl: (7) Failed to connect\n"), Fail, "exit 1: curl: (7) Failed to connect"),
            ("signal", c(None), r(None, "", ""), Fail, "killed by a signal"),
            ("deadline", c(None), RunObs { timed_out: true, ..r(None, "", "") }, Fail, "still running"),
        ];
        for (name, p, run, status, evidence) in cases {
            let v = evaluate_command(&p, &run);
            assert_eq!(v.status, status, "{name}: {}", v.evidence);
            assert!(v.evidence.contains(evidence), "{name}: {:?}", v.evidence);
        }
    }

    #[tokio::test]
    async fn runs_bash_with_pipefail_env_and_workdir() {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![("CLUSTER_NAME".to_string(), "lab-cluster".to_string())];
        let ok = run(
            "echo \"$CLUSTER_NAME in $(basename \"$PWD\")\"",
            &env,
            &[],
            Some(dir.path()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let base = dir.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!((ok.code, ok.stdout.trim()), (Some(0), format!("lab-cluster in {base}").as_str()));
        let piped = run("false | true", &[], &[], None, Duration::from_secs(10)).await.unwrap();
        assert_eq!(piped.code, Some(1), "pipefail");
        let errexit = run("false\necho after", &[], &[], None, Duration::from_secs(10)).await.unwrap();
        assert_eq!((errexit.code, errexit.stdout.as_str()), (Some(1), ""), "errexit");
    }

    #[tokio::test]
    async fn a_slow_command_is_killed_at_the_limit() {
        let started = std::time::Instant::now();
        let r = run("sleep 30 & wait", &[], &[], None, Duration::from_millis(300)).await.unwrap();
        assert!(r.timed_out);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
