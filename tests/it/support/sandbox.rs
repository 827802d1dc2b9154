//! The local AWS sandbox (see docs/sandbox.md) for integration tests.
//!
//! One sandbox server runs per test binary: the first call to [`sandbox()`]
//! runs `scripts/sandbox install` (quick when already installed), starts
//! `.venv/bin/python -m labsandbox --port 0 --exit-on-stdin-eof` and reads the
//! ports from its ready line. The server holds the read end of a pipe whose
//! write end lives in this process; when the test binary exits, however it
//! exits, the pipe closes and the server exits too, so no orphan survives.
//!
//! Each test takes an account of its own with [`Sandbox::account`]: STS
//! AssumeRole into a fresh 12-digit account id returns credentials that act
//! only in that account, so tests can run in parallel against one server.
//!
//! ```ignore
//! let acct = support::sandbox::sandbox().account();
//! let out = acct.aws(["ecs", "list-clusters"]);
//! assert!(out.status.success());
//! let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_labrunner"));
//! acct.apply(&mut cmd);
//! ```
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

/// How long the first start may take (venv install included).
const START_TIMEOUT: Duration = Duration::from_secs(600);
const READY_PREFIX: &str = "LABSANDBOX READY ";
pub const REGION: &str = "us-east-1";

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
static FAST_SANDBOX: OnceLock<Sandbox> = OnceLock::new();
static NEXT_ACCOUNT: AtomicU64 = AtomicU64::new(1);

/// The sandbox of this test binary, started on first use.
pub fn sandbox() -> &'static Sandbox {
    SANDBOX.get_or_init(|| Sandbox::start(&[]).unwrap_or_else(|e| panic!("starting the AWS sandbox: {e}")))
}

/// A second sandbox whose clock runs ten times as fast as real time, as `scripts/demo` runs
/// it, and that runs the flagship's own applications (its app map): for the long lab runs,
/// whose alarm periods and scaling cooldowns last minutes.
pub fn fast_sandbox() -> &'static Sandbox {
    FAST_SANDBOX.get_or_init(|| {
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("content/flask-inventory/sandbox/apps.yaml");
        Sandbox::start(&[
            ("LABSANDBOX_TIME_SCALE", "10"),
            ("LABSANDBOX_STOPPED_RETENTION", "36000"),
            ("LABSANDBOX_INACTIVE_RETENTION", "6000"),
            ("LABSANDBOX_APPS", apps.to_str().expect("a UTF-8 path")),
        ])
        .unwrap_or_else(|e| panic!("starting the fast AWS sandbox: {e}"))
    })
}

/// A running sandbox server.
pub struct Sandbox {
    /// AWS API + `/_sandbox/` control port.
    pub port: u16,
    /// UDP DNS responder.
    pub dns_port: u16,
    /// HTTP proxy standing in for load balancers.
    pub proxy_port: u16,
    /// The CA that signs what HTTPS listeners present through the proxy (PEM).
    pub ca_file: String,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Server process id.
    pub pid: u32,
    repo: PathBuf,
    venv_bin: PathBuf,
    state_dir: PathBuf,
    // Never dropped (statics are not): the pipe stays open for the life of
    // this process, and closes when it exits.
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
    _stdout: Mutex<BufReader<ChildStdout>>,
}

impl Sandbox {
    fn start(env: &[(&str, &str)]) -> Result<Sandbox, String> {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let venv_bin = repo.join(".venv").join("bin");
        let state_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("labsandbox").join(format!(
            "{}{}",
            std::process::id(),
            if env.is_empty() { "" } else { "-fast" }
        ));
        fs::create_dir_all(&state_dir).map_err(|e| format!("creating {}: {e}", state_dir.display()))?;

        let install = Command::new("bash")
            .arg(repo.join("scripts").join("sandbox"))
            .arg("install")
            .current_dir(&repo)
            .output()
            .map_err(|e| format!("running scripts/sandbox install: {e}"))?;
        if !install.status.success() {
            return Err(format!(
                "scripts/sandbox install failed: {}{}",
                String::from_utf8_lossy(&install.stdout),
                String::from_utf8_lossy(&install.stderr)
            ));
        }

        let log_path = state_dir.join("server.log");
        let log = fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let mut cmd = Command::new(venv_bin.join("python"));
        cmd.args(["-m", "labsandbox", "--port", "0", "--exit-on-stdin-eof"])
            .current_dir(&repo)
            .env("PYTHONPATH", repo.join("sandbox"))
            .env_remove("MOTO_ACCOUNT_ID")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().map_err(|e| format!("spawning labsandbox: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));

        // Read the ready line on a helper thread so a hung start times out.
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut line = String::new();
            let result = loop {
                line.clear();
                match stdout.read_line(&mut line) {
                    Ok(0) => break Err("server exited before it was ready".to_string()),
                    Ok(_) if line.starts_with(READY_PREFIX) => break Ok(line.clone()),
                    Ok(_) => continue,
                    Err(e) => break Err(format!("reading server stdout: {e}")),
                }
            };
            let _ = tx.send(result);
            stdout
        });
        let ready = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => {
                let _ = child.kill();
                return Err(format!("{e}; log: {}", read_log(&log_path)));
            }
            Err(_) => {
                let _ = child.kill();
                return Err(format!("no ready line within {START_TIMEOUT:?}; log: {}", read_log(&log_path)));
            }
        };
        let stdout = reader.join().map_err(|_| "stdout reader panicked".to_string())?;
        let info: serde_json::Value = serde_json::from_str(ready[READY_PREFIX.len()..].trim())
            .map_err(|e| format!("bad ready line {ready:?}: {e}"))?;
        let port_of = |key: &str| -> Result<u16, String> {
            info[key]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("ready line lacks {key}: {ready}"))
        };
        let port = port_of("port")?;
        let sandbox = Sandbox {
            port,
            dns_port: port_of("dns_port")?,
            proxy_port: port_of("proxy_port")?,
            ca_file: info["ca_file"].as_str().unwrap_or_default().to_string(),
            endpoint: format!("http://127.0.0.1:{port}"),
            pid: child.id(),
            repo,
            venv_bin,
            state_dir,
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
            _stdout: Mutex::new(stdout),
        };
        let health = sandbox.control("GET", "health", None)?;
        if health["ok"] != serde_json::Value::Bool(true) {
            return Err(format!("unhealthy sandbox: {health}"));
        }
        Ok(sandbox)
    }

    /// Directory holding this sandbox's `server.log`.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The venv's `bin` directory (pinned `aws` CLI, python).
    pub fn venv_bin(&self) -> &Path {
        &self.venv_bin
    }

    /// Call the control endpoint: `control("POST", "faults", Some(json))`.
    pub fn control(
        &self,
        method: &str,
        route: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = http(
            self.port,
            method,
            &format!("/_sandbox/{route}"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("control {route}: HTTP {status}, not JSON ({e}): {text}"))?;
        if status >= 400 {
            return Err(format!("control {route}: HTTP {status}: {value}"));
        }
        Ok(value)
    }

    /// A fresh, isolated AWS account with its own credentials and HOME.
    pub fn account(&self) -> TestAccount {
        let n = NEXT_ACCOUNT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 10_000, "too many sandbox accounts in one test binary");
        let account_id =
            format!("{:012}", 200_000_000_000u64 + u64::from(std::process::id() % 100_000) * 10_000 + n);
        self.assume_account(&account_id)
    }

    /// Credentials acting in `account_id` (12 digits), via STS AssumeRole.
    pub fn assume_account(&self, account_id: &str) -> TestAccount {
        assert!(
            account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit()),
            "bad account id {account_id}"
        );
        let form = format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A{account_id}%3Arole%2Flabrunner-test&RoleSessionName=labrunner-test"
        );
        // moto routes by the credential scope and does not check signatures.
        let auth = "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0";
        let (status, xml) = http(
            self.port,
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Authorization", auth)],
            form.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("AssumeRole into {account_id}: {e}"));
        assert_eq!(status, 200, "AssumeRole into {account_id}: {xml}");
        let tag = |name: &str| -> String {
            let open = format!("<{name}>");
            let start = xml.find(&open).unwrap_or_else(|| panic!("no {name} in AssumeRole answer: {xml}"))
                + open.len();
            let end = start + xml[start..].find(&format!("</{name}>")).expect("closing tag");
            xml[start..end].to_string()
        };
        let home = tempfile::Builder::new().prefix("labsandbox-home-").tempdir().expect("temporary HOME");
        TestAccount {
            account_id: account_id.to_string(),
            access_key_id: tag("AccessKeyId"),
            secret_access_key: tag("SecretAccessKey"),
            session_token: tag("SessionToken"),
            endpoint: self.endpoint.clone(),
            dns_port: self.dns_port,
            proxy_port: self.proxy_port,
            ca_file: self.ca_file.clone(),
            venv_bin: self.venv_bin.clone(),
            home,
        }
    }
}

/// One isolated account in the sandbox.
pub struct TestAccount {
    account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    endpoint: String,
    dns_port: u16,
    proxy_port: u16,
    ca_file: String,
    venv_bin: PathBuf,
    home: tempfile::TempDir,
}

impl TestAccount {
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn region(&self) -> &str {
        REGION
    }

    /// The empty HOME directory this account's subprocesses get.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Every environment variable a subprocess (labrunner, aws, curl) needs.
    /// Use [`TestAccount::apply`] to also drop inherited `AWS_*` variables.
    pub fn env(&self) -> Vec<(String, String)> {
        let home = self.home.path();
        let path = match std::env::var_os("PATH") {
            Some(p) => format!("{}:{}", self.venv_bin.display(), p.to_string_lossy()),
            None => self.venv_bin.display().to_string(),
        };
        let proxy = format!("http://127.0.0.1:{}", self.proxy_port);
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_SESSION_TOKEN", self.session_token.clone()),
            ("AWS_DEFAULT_REGION", REGION.to_string()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_CONFIG_FILE", home.join("no-aws-config").display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", home.join("no-aws-credentials").display().to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_PAGER", String::new()),
            ("AWS_DISABLE_HOST_PREFIX_INJECTION", "true".to_string()),
            ("LABRUNNER_DNS_SERVER", format!("127.0.0.1:{}", self.dns_port)),
            ("LABRUNNER_SANDBOX", "1".to_string()),
            ("http_proxy", proxy.clone()),
            ("HTTP_PROXY", proxy.clone()),
            // HTTPS listeners are reached through the proxy's TLS terminator, whose CA the
            // sandbox wrote: curl and labrunner's http checks trust it from here.
            ("https_proxy", proxy.clone()),
            ("HTTPS_PROXY", proxy),
            ("CURL_CA_BUNDLE", self.ca_file.clone()),
            ("AWS_CA_BUNDLE", self.ca_file.clone()),
            ("no_proxy", "127.0.0.1,localhost".to_string()),
            ("NO_PROXY", "127.0.0.1,localhost".to_string()),
            ("HOME", home.display().to_string()),
            ("PATH", path),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Point `cmd` at this account, in a cleared environment: nothing of the test runner's
    /// own environment (AWS variables, proxies, `CI`, `LABRUNNER_*`, `LABSANDBOX_*`) reaches
    /// it but the locale and the temporary directory; then [`TestAccount::env`].
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env_clear();
        for key in ["TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "RUST_BACKTRACE"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.envs(self.env())
    }

    /// A `Command` for the pinned `aws` CLI acting in this account.
    pub fn aws_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(self.venv_bin.join("aws"));
        cmd.args(args).current_dir(self.home.path());
        self.apply(&mut cmd);
        cmd
    }

    /// Run the pinned `aws` CLI in this account and wait for it.
    pub fn aws<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.aws_command(args).output().expect("running the aws CLI")
    }

    /// Run `aws ... --output json`, assert success and parse stdout.
    pub fn aws_json<I, S>(&self, args: I) -> serde_json::Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.aws_command(args);
        cmd.args(["--output", "json"]);
        let out = cmd.output().expect("running the aws CLI");
        assert!(
            out.status.success(),
            "aws failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("aws output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })
    }
}

/// A minimal HTTP/1.1 client for 127.0.0.1 (one request per connection).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("connecting to 127.0.0.1:{port}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .and_then(|_| stream.write_all(body))
        .map_err(|e| format!("sending {method} {path}: {e}"))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| format!("reading {method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or_else(|| format!("malformed HTTP answer: {text}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn read_log(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}
