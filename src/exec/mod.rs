//! Running a step's shell blocks: bash with errexit and pipefail in the lab's working
//! directory, output streamed line by line, exported variables captured afterwards.
//!
//! What a kill of labrunner must not leave behind shapes this module:
//! - **No orphans.** The block runs in a process group of its own, and a small watcher (a
//!   second bash, in its own group) holds the read end of a pipe only labrunner writes to.
//!   When labrunner ends, however it ends (SIGKILL included), the pipe closes and the watcher
//!   ends the block's whole group. A block that finishes tells the watcher to go quietly.
//! - **No secrets on disk.** The block's script sits in the run's private scratch directory
//!   (0700, file 0600) and holds only the lab's code. Credentials reach the child through its
//!   environment, never a file. The exported variables come back through a pipe (the wrapper
//!   dumps `env -0` to it from an EXIT trap, so exports made before a failure are captured
//!   too), never through a file. Files the block writes are private (`umask 077`).
//! - **Ids survive a kill.** The same EXIT trap (which bash runs when the watcher ends it)
//!   also writes the values of the lab's step variables named in [`Block::keep`] (ids, never
//!   secrets) to a private file, which [`reap_leftovers`] hands to the next run: a VPC id
//!   exported just before labrunner was killed is not lost.
//! - **Leftovers of a killed run** (a script, a group still alive) are removed by
//!   [`reap_leftovers`] when the next run of the lab begins.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
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

/// One block to run and the world it runs in.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// The bash code.
    pub code: &'a str,
    /// Variables added to (or replacing) the inherited environment: lab values, the AWS
    /// identity and region.
    pub env: &'a BTreeMap<String, String>,
    /// Inherited variables the block must not see.
    pub unset: &'a [String],
    /// Where the block runs (created if missing).
    pub workdir: &'a Path,
    /// A private directory for the script and the watcher's notes (created 0700 if missing).
    pub scratch: &'a Path,
    /// Names of variables whose values may be kept in `scratch` for the next run if this one
    /// is killed (the lab's step variables that are not secret).
    pub keep: &'a [String],
}

/// Variables of the wrapper shell itself, never lab exports.
const SHELL_OWN: &[&str] =
    &["PWD", "OLDPWD", "SHLVL", "_", "LR_BLOCK", "LR_KEEP", "LR_KEPT", "BASH_FUNC", "LINES", "COLUMNS"];

/// The script file and the note naming the running block's process group, in `scratch`.
const SCRIPT: &str = "block.sh";
const GROUP_NOTE: &str = "block.pgid";
const KEPT: &str = "kept.env";
/// What the EXIT trap writes after the environment dump.
const END: &[u8] = b"\0LR-END\0";
/// How long to wait for the dump once bash has exited.
const DUMP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs the block with bash. `on_line` receives every output line as it arrives. Fails only
/// when bash cannot start or the scratch directory cannot be written.
pub async fn run_block(
    block: &Block<'_>,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
    cancel: &CancellationToken,
) -> std::io::Result<BlockResult> {
    private_dir(block.workdir)?;
    private_dir(block.scratch)?;
    let script = block.scratch.join(SCRIPT);
    write_private(&script, block.code.as_bytes())?;

    // fd 0 of the wrapper is the write end of the exports pipe; it moves it to fd 3 and gives
    // the block /dev/null as standard input.
    // The kept values are written first: if labrunner is gone, writing to the pipe kills bash.
    let wrapper = r#"umask 077
exec 3>&0 0</dev/null
lr_keep() { local IFS=' ' n; for n in $LR_KEEP; do if [ -n "${!n+x}" ]; then printf '%s=%s\0' "$n" "${!n}"; fi; done > "$LR_KEPT"; }
set -o errexit -o pipefail
trap '{ lr_keep; } 2>/dev/null || true; env -0 >&3; printf "\0LR-END\0" >&3' EXIT
source "$LR_BLOCK""#;
    let (exports_rx, exports_tx) = std::io::pipe()?;
    let mut child = {
        let mut cmd = Command::new("bash");
        cmd.arg("--noprofile").arg("--norc").arg("-c").arg(wrapper).current_dir(block.workdir);
        for name in block.unset {
            cmd.env_remove(name);
        }
        cmd.envs(block.env)
            .env("LR_BLOCK", &script)
            .env("LR_KEEP", block.keep.join(" "))
            .env("LR_KEPT", block.scratch.join(KEPT))
            .stdin(Stdio::from(exports_tx))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // Spawned in a scope so the builder, and with it this process's copy of the pipe's
        // write end, is gone once bash has it: the reader then sees EOF when bash is done.
        cmd.spawn()?
    };
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let watcher = pid.and_then(|pgid| Watcher::start(pgid, Some(block.scratch)));
    // Read up to the end marker, not to EOF: a background job the block started (`nohup
    // app &`) inherits the pipe and would hold EOF back for as long as it runs.
    let dump = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        let mut rx = exports_rx;
        let mut chunk = [0u8; 8192];
        loop {
            match rx.read(&mut chunk) {
                Ok(0) => return Ok(bytes),
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    if bytes.ends_with(END) {
                        bytes.truncate(bytes.len() - END.len());
                        return Ok(bytes);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    });

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
    // A bash killed before its trap wrote the marker leaves only EOF, which a background job
    // may hold back: the dump gets a moment, not forever.
    let bytes = match tokio::time::timeout(DUMP_PATIENCE, dump).await {
        Ok(joined) => joined.map_err(std::io::Error::other)?.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    if let Some(w) = watcher {
        w.dismiss();
    }
    let _ = std::fs::remove_file(&script);
    let _ = std::fs::remove_file(block.scratch.join(KEPT));
    let exports = exported(&bytes, block.env);
    Ok(BlockResult { status: status.code(), exports, cancelled })
}

/// Ends what a killed run left in `scratch`: a block's process group that is somehow still
/// alive (only if it is really that block: its environment names the script) and the script.
/// Returns the values the killed block had for its kept variables.
pub fn reap_leftovers(scratch: &Path) -> BTreeMap<String, String> {
    let note = scratch.join(GROUP_NOTE);
    if let Some(pgid) = std::fs::read_to_string(&note).ok().and_then(|t| t.trim().parse::<i32>().ok()) {
        let marker = format!("LR_BLOCK={}", scratch.join(SCRIPT).display());
        let ours = std::fs::read(format!("/proc/{pgid}/environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == marker.as_bytes()));
        if ours {
            use nix::sys::signal::{killpg, Signal};
            let _ = killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(&note);
    let _ = std::fs::remove_file(scratch.join(SCRIPT));
    let kept = std::fs::read(scratch.join(KEPT)).unwrap_or_default();
    let _ = std::fs::remove_file(scratch.join(KEPT));
    kept.split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok()?.split_once('='))
        .filter(|(name, _)| crate::lab::vars::is_valid_name(name))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The process that ends a process group (a block, a command check) if labrunner dies while
/// it runs.
pub(crate) struct Watcher {
    stdin: Option<tokio::process::ChildStdin>,
    note: Option<PathBuf>,
}

impl Watcher {
    /// Best effort: the group still runs if the watcher cannot start. With `scratch`, a note
    /// names the group for [`reap_leftovers`].
    pub(crate) fn start(pgid: i32, scratch: Option<&Path>) -> Option<Watcher> {
        // `read` returns at EOF too: labrunner gone. "done" means the block finished.
        let script = r#"read -r line
[ "$line" = done ] && exit 0
kill -TERM -- "-$1" 2>/dev/null || exit 0
sleep 1
kill -KILL -- "-$1" 2>/dev/null
exit 0"#;
        let mut child = Command::new("bash")
            .arg("--noprofile")
            .arg("--norc")
            .arg("-c")
            .arg(script)
            .arg("labrunner-watch")
            .arg(pgid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .ok()?;
        let note = scratch.map(|dir| dir.join(GROUP_NOTE));
        if let Some(note) = &note {
            let _ = write_private(note, pgid.to_string().as_bytes());
        }
        Some(Watcher { stdin: child.stdin.take(), note })
    }

    /// The group is over: let the watcher exit without touching anything.
    pub(crate) fn dismiss(mut self) {
        if let Some(stdin) = self.stdin.take() {
            if let Ok(mut fd) = stdin.into_owned_fd().map(std::fs::File::from) {
                let _ = fd.write_all(b"done\n");
            }
        }
        if let Some(note) = &self.note {
            let _ = std::fs::remove_file(note);
        }
    }
}

/// Creates `dir` (and missing parents) and makes it private to the user.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to `path`, readable and writable by the user only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

/// Sends SIGTERM to the child's process group (bash and everything it started).
fn terminate_group(pid: Option<i32>) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    if let Some(pid) = pid {
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
        let scratch = dir.path().join("scratch");
        let block = Block { code, env: &env, unset: &[], workdir: dir.path(), scratch: &scratch, keep: &[] };
        let result = run_block(&block, &mut |s, l| lines.push((s, l.to_string())), &CancellationToken::new())
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
        let scratch = dir.path().join("scratch");
        let env = BTreeMap::new();
        let block = Block {
            code: "export X=1\nsleep 30 | cat\n",
            env: &env,
            unset: &[],
            workdir: dir.path(),
            scratch: &scratch,
            keep: &[],
        };
        let r = run_block(&block, &mut |_, _| {}, &cancel).await.unwrap();
        assert!(r.cancelled);
        assert!(!r.success());
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the sleep was killed");
    }

    #[tokio::test]
    async fn nothing_of_the_block_stays_on_disk_and_what_it_writes_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let env =
            BTreeMap::from([("AWS_SECRET_ACCESS_KEY".to_string(), "s3cr3t-value-for-test".to_string())]);
        let block = Block {
            code: "export OUT=1\necho data > written.txt\n",
            env: &env,
            unset: &[],
            workdir: dir.path(),
            scratch: &scratch,
            keep: &[],
        };
        let r = run_block(&block, &mut |_, _| {}, &CancellationToken::new()).await.unwrap();
        assert!(r.success());
        assert_eq!(r.exports.get("OUT").map(String::as_str), Some("1"));
        assert_eq!(std::fs::metadata(&scratch).unwrap().permissions().mode() & 0o777, 0o700);
        let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
        assert!(left.is_empty(), "script and notes removed: {left:?}");
        let mode = std::fs::metadata(dir.path().join("written.txt")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "files the block writes are private");
    }

    #[tokio::test]
    async fn unset_variables_are_not_inherited() {
        std::env::set_var("LABRUNNER_TEST_INHERITED", "yes");
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let env = BTreeMap::new();
        let unset = vec!["LABRUNNER_TEST_INHERITED".to_string()];
        let block = Block {
            code: "echo \"[${LABRUNNER_TEST_INHERITED:-}]\"\n",
            env: &env,
            unset: &unset,
            workdir: dir.path(),
            scratch: &scratch,
            keep: &[],
        };
        let mut lines = Vec::new();
        run_block(&block, &mut |_, l| lines.push(l.to_string()), &CancellationToken::new()).await.unwrap();
        assert_eq!(lines, ["[]"]);
    }

    #[tokio::test]
    async fn a_background_job_does_not_hold_the_block_open() {
        let started = std::time::Instant::now();
        let (r, _) = run("export A=1\nnohup sleep 20 >/dev/null 2>&1 &\necho $! > bg.pid\n", &[]).await;
        assert!(r.success());
        assert_eq!(r.exports.get("A").map(String::as_str), Some("1"));
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "waited for the background job");
    }

    #[tokio::test]
    async fn strict_mode_ifs_in_a_block_changes_nothing_of_its_ending() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let env = BTreeMap::new();
        let keep = vec!["ONE".to_string(), "TWO".to_string()];
        let code = "IFS=$'\\n\\t'\nexport ONE=1 TWO=2\n";
        let block =
            Block { code, env: &env, unset: &[], workdir: dir.path(), scratch: &scratch, keep: &keep };
        let r = run_block(&block, &mut |_, _| {}, &CancellationToken::new()).await.unwrap();
        assert_eq!(r.status, Some(0));
        assert_eq!(r.exports.get("TWO").map(String::as_str), Some("2"));
    }

    #[tokio::test]
    async fn the_trap_keeps_the_named_values_when_the_block_is_terminated() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let env = BTreeMap::new();
        let keep = vec!["VPC_ID".to_string()];
        // SIGTERM the block's group the way the watcher does when labrunner dies; the kept
        // file is left because nobody reads the exports (labrunner is "gone").
        let code = "export VPC_ID=vpc-9\nkill -TERM -- -$$\nsleep 5\n";
        let block =
            Block { code, env: &env, unset: &[], workdir: dir.path(), scratch: &scratch, keep: &keep };
        let r = run_block(&block, &mut |_, _| {}, &CancellationToken::new()).await.unwrap();
        assert_eq!(r.exports.get("VPC_ID").map(String::as_str), Some("vpc-9"), "exports read from the pipe");
        assert!(!r.success());
    }

    #[tokio::test]
    async fn kept_names_never_change_how_a_block_ends() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let env = BTreeMap::new();
        let keep = vec!["SET".to_string(), "UNSET".to_string()];
        for (code, status) in [("export SET=1\n", Some(0)), ("export SET=1\nexit 3\n", Some(3))] {
            let block =
                Block { code, env: &env, unset: &[], workdir: dir.path(), scratch: &scratch, keep: &keep };
            let r = run_block(&block, &mut |_, _| {}, &CancellationToken::new()).await.unwrap();
            assert_eq!(r.status, status, "{code}");
            assert_eq!(r.exports.get("SET").map(String::as_str), Some("1"));
        }
    }

    #[tokio::test]
    async fn a_terminated_block_keeps_the_named_values_for_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let env = BTreeMap::new();
        let keep = vec!["VPC_ID".to_string(), "NEVER_SET".to_string()];
        let block = Block {
            code: "export VPC_ID=vpc-123\nexport OTHER=x\nsleep 30\n",
            env: &env,
            unset: &[],
            workdir: dir.path(),
            scratch: &scratch,
            keep: &keep,
        };
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let r = run_block(&block, &mut |_, _| {}, &cancel).await.unwrap();
        assert!(r.cancelled);
        // A normal end removes the file; a killed labrunner would have left it. Write it the
        // way the trap does and read it back.
        std::fs::write(scratch.join(KEPT), b"VPC_ID=vpc-123\0BAD NAME=x\0").unwrap();
        let kept = reap_leftovers(&scratch);
        assert_eq!(kept, BTreeMap::from([("VPC_ID".to_string(), "vpc-123".to_string())]));
        assert!(!scratch.join(KEPT).exists());
    }

    #[test]
    fn leftovers_of_a_killed_run_are_removed_and_a_reused_group_number_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SCRIPT), "echo hi").unwrap();
        // Our own process group: its environment does not name the script, so it survives.
        std::fs::write(dir.path().join(GROUP_NOTE), std::process::id().to_string()).unwrap();
        reap_leftovers(dir.path());
        assert!(!dir.path().join(SCRIPT).exists());
        assert!(!dir.path().join(GROUP_NOTE).exists());
    }
}
