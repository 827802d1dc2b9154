//! Running a step's shell blocks: bash with errexit and pipefail in the lab's working
//! directory, output streamed line by line, exported variables captured afterwards.
//!
//! The block runs through `source` in a wrapper shell whose EXIT trap dumps the
//! environment, so variables exported before a failure are still captured (a VPC id from a
//! half-finished block is exactly what cleanup needs). The child gets its own process group
//! so an interrupt ends the `aws` processes it started, not only bash.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a block ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockResult {
    /// Exit status (`None` when killed by a signal).
    pub status: Option<i32>,
    /// Variables the block exported or changed.
    pub exports: BTreeMap<String, String>,
    /// The block was stopped because `cancel` fired.
    pub cancelled: bool,
}

impl BlockResult {
    /// Whether the block succeeded.
    pub fn success(&self) -> bool {
        self.status == Some(0) && !self.cancelled
    }
}

/// Variables of the wrapper shell itself, never lab exports.
const SHELL_OWN: &[&str] =
    &["PWD", "OLDPWD", "SHLVL", "_", "LR_ENV_OUT", "LR_BLOCK", "BASH_FUNC", "LINES", "COLUMNS"];

/// Runs `code` with bash in `workdir`, with `env` added to the inherited environment.
/// `on_line` receives every output line as it arrives. Fails only when bash cannot start.
pub async fn run_block(
    code: &str,
    env: &BTreeMap<String, String>,
    workdir: &Path,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
    cancel: &CancellationToken,
) -> std::io::Result<BlockResult> {
    std::fs::create_dir_all(workdir)?;
    let scratch = tempfile::tempdir()?;
    let block = scratch.path().join("block.sh");
    let env_out = scratch.path().join("env.out");
    std::fs::write(&block, code)?;

    let wrapper = r#"set -o errexit -o pipefail
trap 'env -0 > "$LR_ENV_OUT"' EXIT
source "$LR_BLOCK""#;
    let mut child = Command::new("bash")
        .arg("--noprofile")
        .arg("--norc")
        .arg("-c")
        .arg(wrapper)
        .current_dir(workdir)
        .envs(env)
        .env("LR_BLOCK", &block)
        .env("LR_ENV_OUT", &env_out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id();

    let stdout =
        child.stdout.take().ok_or_else(|| std::io::Error::other("bash's stdout was not captured"))?;
    let stderr =
        child.stderr.take().ok_or_else(|| std::io::Error::other("bash's stderr was not captured"))?;
    let mut out = BufReader::new(stdout).lines();
    let mut err = BufReader::new(stderr).lines();
    let (mut out_open, mut err_open) = (true, true);
    let mut cancelled = false;
    while out_open || err_open {
        tokio::select! {
            line = out.next_line(), if out_open => match line? {
                Some(l) => on_line(Stream::Stdout, &l),
                None => out_open = false,
            },
            line = err.next_line(), if err_open => match line? {
                Some(l) => on_line(Stream::Stderr, &l),
                None => err_open = false,
            },
            () = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                terminate_group(pid);
            }
        }
    }
    let status = child.wait().await?;
    let exports = std::fs::read(&env_out).map(|bytes| exported(&bytes, env)).unwrap_or_default();
    Ok(BlockResult { status: status.code(), exports, cancelled })
}

/// Sends SIGTERM to the child's process group (bash and everything it started).
fn terminate_group(pid: Option<u32>) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
    }
}

/// The variables in a NUL-separated `env -0` dump that are new or changed compared with
/// what the block was given and with this process's own environment.
fn exported(dump: &[u8], given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for entry in dump.split(|b| *b == 0) {
        let Ok(entry) = std::str::from_utf8(entry) else { continue };
        let Some((name, value)) = entry.split_once('=') else { continue };
        if !crate::lab::vars::is_valid_name(name)
            || SHELL_OWN.contains(&name)
            || name.starts_with("BASH_FUNC")
        {
            continue;
        }
        let before = given.get(name).cloned().or_else(|| std::env::var(name).ok());
        if before.as_deref() != Some(value) {
            found.insert(name.to_string(), value.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(code: &str, env: &[(&str, &str)]) -> (BlockResult, Vec<(Stream, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut lines = Vec::new();
        let result = run_block(
            code,
            &env,
            dir.path(),
            &mut |s, l| lines.push((s, l.to_string())),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        (result, lines)
    }

    #[tokio::test]
    async fn exports_are_captured_and_output_streamed() {
        let (r, lines) = run("echo hello\necho oops >&2\nexport VPC_ID=vpc-123\nLOCAL_ONLY=x\n", &[]).await;
        assert!(r.success());
        assert_eq!(r.exports, BTreeMap::from([("VPC_ID".to_string(), "vpc-123".to_string())]));
        assert!(lines.contains(&(Stream::Stdout, "hello".into())));
        assert!(lines.contains(&(Stream::Stderr, "oops".into())));
    }

    #[tokio::test]
    async fn errexit_and_pipefail_stop_the_block_but_keep_earlier_exports() {
        let (r, lines) = run("export A=1\nfalse | cat\necho never\n", &[]).await;
        assert_eq!(r.status, Some(1));
        assert_eq!(r.exports.get("A").map(String::as_str), Some("1"));
        assert!(!lines.iter().any(|(_, l)| l == "never"));
    }

    #[tokio::test]
    async fn given_variables_are_visible_and_only_changes_count() {
        let (r, lines) = run(
            "echo \"$CLUSTER\"\nexport CLUSTER=$CLUSTER\nexport NEW=\"$CLUSTER-2\"\n",
            &[("CLUSTER", "c1")],
        )
        .await;
        assert!(r.success());
        assert_eq!(lines, vec![(Stream::Stdout, "c1".to_string())]);
        assert_eq!(r.exports, BTreeMap::from([("NEW".to_string(), "c1-2".to_string())]));
    }

    #[tokio::test]
    async fn multi_line_values_survive() {
        let (r, _) = run("export DOC=$'line1\\nline2'\n", &[]).await;
        assert_eq!(r.exports["DOC"], "line1\nline2");
    }

    #[tokio::test]
    async fn cancel_ends_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let r =
            run_block("export X=1\nsleep 30 | cat\n", &BTreeMap::new(), dir.path(), &mut |_, _| {}, &cancel)
                .await
                .unwrap();
        assert!(r.cancelled);
        assert!(!r.success());
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the sleep was killed");
    }
}
