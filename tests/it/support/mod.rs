//! The hermetic harness every integration test runs labrunner through.
//!
//! [`Test`] is a fluent builder around one run of the real binary. The process gets a cleared
//! environment: only `PATH`, a fresh `HOME`, a fresh `LABRUNNER_STATE_DIR`, `NO_COLOR=1`, AWS
//! config and credentials files that do not exist, and whatever the test sets itself. Without
//! [`Test::current_dir`] it runs in an empty temporary directory, so nothing on the machine
//! running the tests (a real `labs/`, `~/.aws`, a coloured terminal) can change the outcome.
//!
//! [`Outcome`] holds the exit code and both streams; its assertions compare whole outputs
//! and print everything on failure. [`LabTree`] writes a lab (`labs/<id>.yaml` plus
//! `content/<id>/*.md`) into a temporary directory, from strings or from `tests/fixtures`.

pub mod sandbox;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_labrunner");

/// `tests/fixtures`, where the fixture lab trees live.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// One labrunner invocation, built fluently and run with [`Test::run`].
#[must_use = "a Test does nothing until .run()"]
pub struct Test {
    home: TempDir,
    args: Vec<OsString>,
    current_dir: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// A run with no arguments, in an empty temporary directory, with a fresh home.
    pub fn new() -> Self {
        Test {
            home: tempfile::Builder::new().prefix("labrunner-it-").tempdir().expect("temporary directory"),
            args: Vec::new(),
            current_dir: None,
            env: Vec::new(),
            stdin: None,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs in `dir` instead of an empty temporary directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Sets an environment variable (on top of the hermetic base; may override it).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Feeds `text` on standard input (otherwise stdin is empty).
    pub fn stdin(mut self, text: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// Runs labrunner and waits for it.
    pub fn run(self) -> Outcome {
        let home = self.home.path().join("home");
        let state = self.home.path().join("state");
        let work = self.home.path().join("work");
        for dir in [&home, &state, &work] {
            std::fs::create_dir_all(dir).expect("create harness directory");
        }
        let mut command = Command::new(BIN);
        command
            .args(&self.args)
            .current_dir(self.current_dir.as_deref().unwrap_or(&work))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("LABRUNNER_STATE_DIR", &state)
            .env("NO_COLOR", "1")
            .env("AWS_CONFIG_FILE", self.home.path().join("no-such-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.path().join("no-such-aws-credentials"))
            // Never ask the instance metadata service (169.254.169.254): tests stay on loopback.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let input = self.stdin.unwrap_or_default();
        let mut pipe = child.stdin.take().expect("piped stdin");
        // Written from a thread so a child that does not read its input cannot deadlock us.
        let writer = std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                // A child that exits without reading closes the pipe; that is not a test failure.
                let _ = pipe.write_all(&input);
            })
            .expect("spawn stdin writer");
        let output = child.wait_with_output().expect("wait for labrunner");
        writer.join().expect("stdin writer");
        Outcome {
            args: self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
            code: output
                .status
                .code()
                .unwrap_or_else(|| panic!("labrunner died by a signal: {:?}", output.status)),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// What a run produced. Every assertion returns `&Self`, so they chain.
#[derive(Debug)]
pub struct Outcome {
    /// The arguments it ran with (for failure messages).
    pub args: Vec<String>,
    /// The exit code.
    pub code: i32,
    /// Everything written to standard output.
    pub stdout: String,
    /// Everything written to standard error.
    pub stderr: String,
}

impl Outcome {
    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n\n$ labrunner {}\n--- exit code: {}\n--- stdout:\n{}--- stderr:\n{}--- end",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        if self.code != want {
            self.fail(&format!("expected exit code {want}, got {}", self.code));
        }
        self
    }

    /// Asserts the whole of standard output.
    #[track_caller]
    pub fn stdout(&self, want: &str) -> &Self {
        if self.stdout != want {
            self.fail(&format!("stdout differs; expected:\n{want}{}", first_difference(want, &self.stdout)));
        }
        self
    }

    /// Asserts the whole of standard error.
    #[track_caller]
    pub fn stderr(&self, want: &str) -> &Self {
        if self.stderr != want {
            self.fail(&format!("stderr differs; expected:\n{want}{}", first_difference(want, &self.stderr)));
        }
        self
    }

    /// Asserts that standard output contains `needle`.
    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Self {
        if !self.stdout.contains(needle) {
            self.fail(&format!("stdout does not contain:\n{needle}"));
        }
        self
    }

    /// Asserts that standard output does not contain `needle`.
    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        if self.stdout.contains(needle) {
            self.fail(&format!("stdout contains, but must not:\n{needle}"));
        }
        self
    }

    /// Asserts that standard error contains `needle`.
    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        if !self.stderr.contains(needle) {
            self.fail(&format!("stderr does not contain:\n{needle}"));
        }
        self
    }

    /// Asserts that standard error is empty.
    #[track_caller]
    pub fn stderr_empty(&self) -> &Self {
        self.stderr("")
    }

    /// Asserts that standard output is empty.
    #[track_caller]
    pub fn stdout_empty(&self) -> &Self {
        self.stdout("")
    }

    /// Asserts the first lines of standard output.
    #[track_caller]
    pub fn stdout_starts_with(&self, want: &str) -> &Self {
        if !self.stdout.starts_with(want) {
            self.fail(&format!(
                "stdout does not start with:\n{want}{}",
                first_difference(want, &self.stdout)
            ));
        }
        self
    }

    /// Asserts the first lines of standard error.
    #[track_caller]
    pub fn stderr_starts_with(&self, want: &str) -> &Self {
        if !self.stderr.starts_with(want) {
            self.fail(&format!(
                "stderr does not start with:\n{want}{}",
                first_difference(want, &self.stderr)
            ));
        }
        self
    }

    /// Standard output parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| self.fail(&format!("stdout is not JSON: {e}")))
    }
}

/// Names the first line where `got` departs from `want`, which a long output hides.
fn first_difference(want: &str, got: &str) -> String {
    let (mut w, mut g) = (want.split_inclusive('\n'), got.split_inclusive('\n'));
    for n in 1.. {
        match (w.next(), g.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => break,
            (a, b) => return format!("\nfirst difference at line {n}:\n  want {a:?}\n  got  {b:?}"),
        }
    }
    String::new()
}

/// A lab tree in a temporary directory: `labs/<id>.yaml` and `content/<id>/<page>`.
///
/// Run labrunner with `.current_dir(tree.path())` and the default `--labs-dir labs`, so paths
/// in messages are the short relative ones an author sees.
#[must_use]
pub struct LabTree {
    dir: TempDir,
}

impl Default for LabTree {
    fn default() -> Self {
        Self::new()
    }
}

impl LabTree {
    /// An empty tree (not even `labs/`).
    pub fn new() -> Self {
        LabTree {
            dir: tempfile::Builder::new().prefix("labrunner-lab-").tempdir().expect("temporary directory"),
        }
    }

    /// A copy of `tests/fixtures/<name>`, so a test can never change the fixture.
    pub fn fixture(name: &str) -> Self {
        let tree = LabTree::new();
        let from = fixtures().join(name);
        assert!(from.is_dir(), "no fixture directory {}", from.display());
        copy_dir(&from, tree.path());
        tree
    }

    /// Writes `labs/<id>.yaml`.
    pub fn manifest(self, id: &str, yaml: &str) -> Self {
        self.file(&format!("labs/{id}.yaml"), yaml)
    }

    /// Writes `content/<id>/<name>`.
    pub fn page(self, id: &str, name: &str, markdown: &str) -> Self {
        self.file(&format!("content/{id}/{name}"), markdown)
    }

    /// Writes any file, relative to the tree's root, creating its directories.
    pub fn file(self, relative: &str, text: &str) -> Self {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create directories");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// Creates an empty directory, relative to the tree's root.
    pub fn dir(self, relative: &str) -> Self {
        std::fs::create_dir_all(self.path().join(relative)).expect("create directory");
        self
    }

    /// The tree's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `.current_dir(&tree)`. Only by reference: a tree passed by value would be deleted
/// before labrunner starts in it.
impl AsRef<Path> for &LabTree {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read fixture directory") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}
