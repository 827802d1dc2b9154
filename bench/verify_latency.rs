//! Detection-latency benchmark of the verification engine against the local sandbox.
//!
//! For `service_stable` and `targets_healthy`, measures the time from the sandbox reaching the
//! state (seen by polling `GET /_sandbox/state` every 25 ms) to the check passing, side by side
//! with the AWS CLI waiters (`aws ecs wait services-stable`, `aws elbv2 wait target-in-service`,
//! 15 s poll) watching the same service in the same run. Then counts, at the sandbox, the
//! describe calls each watcher makes per minute while waiting on a service that never settles.
//!
//! Run with `bench/verify-latency [--reps N] [--phase-secs S] [--out FILE]`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use aws_config::Region;
use aws_sdk_ecs::config::Credentials;
use labrunner::aws::Clients;
use labrunner::lab::Check;
use labrunner::verify::{Outcome, Status, Verifier, VerifySettings};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const CLUSTER: &str = "bench";

/// The sandbox server this benchmark runs (its own, on free ports).
struct Sandbox {
    endpoint: String,
    venv_bin: PathBuf,
    http: reqwest::Client,
    _child: Child,
    _stdin: ChildStdin,
}

impl Sandbox {
    fn start(repo: &Path) -> Result<Sandbox> {
        let venv_bin = repo.join(".venv/bin");
        let mut child = std::process::Command::new(venv_bin.join("python"))
            .args(["-m", "labsandbox", "--port", "0", "--exit-on-stdin-eof"])
            .current_dir(repo)
            .env("PYTHONPATH", repo.join("sandbox"))
            .env_remove("MOTO_ACCOUNT_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the sandbox (run scripts/sandbox install first)")?;
        let stdin = child.stdin.take().context("stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let ready = loop {
            let line = lines.next().ok_or_else(|| anyhow!("the sandbox exited before it was ready"))??;
            if let Some(rest) = line.strip_prefix("LABSANDBOX READY ") {
                break serde_json::from_str::<Value>(rest)?;
            }
        };
        let endpoint = ready["endpoint"].as_str().context("endpoint")?.to_string();
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(Sandbox { endpoint, venv_bin, http, _child: child, _stdin: stdin })
    }

    async fn control(&self, method: &str, route: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/_sandbox/{route}", self.endpoint);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        Ok(req.send().await?.error_for_status()?.json().await?)
    }

    fn aws_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(self.venv_bin.join("aws"));
        cmd.args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_PAGER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn aws(&self, args: &[&str]) -> Result<Value> {
        let out = self.aws_command(args).arg("--output").arg("json").output().await?;
        if !out.status.success() {
            bail!("aws {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    async fn clients(&self) -> Arc<Clients> {
        let config = labrunner::aws::config_loader()
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .load()
            .await;
        Arc::new(Clients::new(config))
    }
}

fn text(v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| anyhow!("expected a string, got {v}"))
}

/// The account-wide pieces every repetition shares.
struct Base {
    vpc: String,
    subnets: [String; 2],
    lb_arn: String,
}

async fn base(sb: &Sandbox) -> Result<Base> {
    let vpc = text(&sb.aws(&["ec2", "create-vpc", "--cidr-block", "10.9.0.0/16"]).await?["Vpc"]["VpcId"])?;
    let mut subnets = Vec::new();
    for (n, az) in [(1, "us-east-1a"), (2, "us-east-1b")] {
        let cidr = format!("10.9.{n}.0/24");
        let args =
            ["ec2", "create-subnet", "--vpc-id", &vpc, "--cidr-block", &cidr, "--availability-zone", az];
        subnets.push(text(&sb.aws(&args).await?["Subnet"]["SubnetId"])?);
    }
    let lb = sb
        .aws(&["elbv2", "create-load-balancer", "--name", "bench-alb", "--subnets", &subnets[0], &subnets[1]])
        .await?;
    sb.aws(&["ecs", "create-cluster", "--cluster-name", CLUSTER]).await?;
    for (family, image) in [("web", "nginx:1.27"), ("stuck", "example.com/does-not-exist:1")] {
        let containers = format!(
            r#"[{{"name":"app","image":"{image}","essential":true,"memory":512,"portMappings":[{{"containerPort":8080}}]}}]"#
        );
        sb.aws(&[
            "ecs",
            "register-task-definition",
            "--family",
            family,
            "--network-mode",
            "awsvpc",
            "--requires-compatibilities",
            "FARGATE",
            "--cpu",
            "256",
            "--memory",
            "512",
            "--container-definitions",
            &containers,
        ])
        .await?;
    }
    Ok(Base {
        vpc,
        subnets: [subnets[0].clone(), subnets[1].clone()],
        lb_arn: text(&lb["LoadBalancers"][0]["LoadBalancerArn"])?,
    })
}

/// A target group with a listener on `port`, and a two-task service behind it.
async fn service_behind_lb(sb: &Sandbox, b: &Base, name: &str, family: &str, port: u16) -> Result<String> {
    let tg = sb
        .aws(&[
            "elbv2",
            "create-target-group",
            "--name",
            &format!("{name}-tg"),
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            &b.vpc,
            "--target-type",
            "ip",
        ])
        .await?;
    let tg_arn = text(&tg["TargetGroups"][0]["TargetGroupArn"])?;
    let action = format!("Type=forward,TargetGroupArn={tg_arn}");
    let port = port.to_string();
    let listener = [
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        &b.lb_arn,
        "--protocol",
        "HTTP",
        "--port",
        &port,
        "--default-actions",
        &action,
    ];
    sb.aws(&listener).await?;
    let network = format!("awsvpcConfiguration={{subnets=[{},{}]}}", b.subnets[0], b.subnets[1]);
    let lbs = format!("targetGroupArn={tg_arn},containerName=app,containerPort=8080");
    sb.aws(&[
        "ecs",
        "create-service",
        "--cluster",
        CLUSTER,
        "--service-name",
        name,
        "--task-definition",
        family,
        "--desired-count",
        "2",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        &network,
        "--load-balancers",
        &lbs,
    ])
    .await?;
    Ok(tg_arn)
}

fn check(yaml: &str) -> Result<Check> {
    Ok(labrunner::lab::yaml::from_str(yaml, labrunner::lab::yaml::Origin::FILE)?)
}

/// When the sandbox reached each state: the service stable, its targets all healthy.
#[derive(Debug, Default, Clone, Copy)]
struct Reached {
    /// labrunner's `service_stable`: one deployment, running = desired, rollout COMPLETED.
    stable: Option<Instant>,
    /// The CLI waiter's weaker rule: one deployment, running = desired (rollout may be in progress).
    counts_match: Option<Instant>,
    healthy: Option<Instant>,
}

/// Polls the simulator's own view every 25 ms until both states are reached.
async fn observe(sb: &Sandbox, service: &str, tg_arn: &str, limit: Duration) -> Result<Reached> {
    let start = Instant::now();
    let mut r = Reached::default();
    while (r.stable.is_none() || r.healthy.is_none()) && start.elapsed() < limit {
        let state = sb.control("GET", "state", None).await?;
        let now = Instant::now();
        let svc = state["services"].as_array().and_then(|a| {
            a.iter().find(|s| s["arn"].as_str().is_some_and(|arn| arn.ends_with(&format!("/{service}"))))
        });
        if let Some(s) = svc {
            let deps = s["deployments"].as_array().map(Vec::as_slice).unwrap_or_default();
            let counts = s["status"] == "ACTIVE" && deps.len() == 1 && s["running"] == s["desired"];
            if counts && r.counts_match.is_none() {
                r.counts_match = Some(now);
            }
            if counts && r.stable.is_none() && deps[0]["rolloutState"] == "COMPLETED" {
                r.stable = Some(now);
            }
        }
        if r.healthy.is_none() {
            let tg = state["targetGroups"].as_array().and_then(|a| a.iter().find(|t| t["arn"] == tg_arn));
            if let Some(targets) = tg.and_then(|t| t["targets"].as_object()) {
                let live: Vec<&Value> = targets.values().filter(|t| t["state"] != "draining").collect();
                if !live.is_empty() && live.iter().all(|t| t["state"] == "healthy") {
                    r.healthy = Some(now);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(r)
}

async fn engine_wait(v: &Verifier, c: Check, cancel: &CancellationToken) -> (Outcome, Instant) {
    let o = v.wait(&c, cancel, &|_| {}).await;
    (o, Instant::now())
}

async fn cli_wait(sb: &Sandbox, args: &[&str]) -> Result<Instant> {
    let out = sb.aws_command(args).output().await?;
    if !out.status.success() {
        bail!("aws {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(Instant::now())
}

/// Latencies in seconds, one list per watcher.
#[derive(Default)]
struct Latencies {
    engine_stable: Vec<f64>,
    cli_stable: Vec<f64>,
    engine_healthy: Vec<f64>,
    cli_healthy: Vec<f64>,
    engine_attempts: Vec<u32>,
    converge: Vec<f64>,
}

fn since(reached: Option<Instant>, done: Instant) -> Result<f64> {
    let reached = reached.ok_or_else(|| anyhow!("the sandbox never reached the state"))?;
    Ok(done.saturating_duration_since(reached).as_secs_f64())
}

async fn repetition(sb: &Sandbox, b: &Base, v: &Verifier, i: usize, lat: &mut Latencies) -> Result<()> {
    // Spread the moment of convergence over a whole CLI poll period (15 s), so no watcher's poll
    // grid is favoured: tasks stay PENDING 5–20 s (varied per repetition), then every state
    // follows within about 2 s, when every watcher has settled into its steady pace.
    let pending = 5.0 + 15.0 * ((i as f64 * 0.618_034) % 1.0);
    sb.control("POST", "config", Some(json!({"pending": pending, "target_healthy": 1.0, "stable": 0.5})))
        .await?;
    let name = format!("web{i}");
    let tg_arn = service_behind_lb(sb, b, &name, "web", 8000 + i as u16).await?;
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let stable = check(&format!("service_stable: {{ cluster: {CLUSTER}, service: {name} }}\ntimeout: 5m"))?;
    let healthy = check(&format!("targets_healthy: {{ target_group: '{tg_arn}' }}\ntimeout: 5m"))?;
    let cli_stable = ["ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", &name];
    let cli_healthy = ["elbv2", "wait", "target-in-service", "--target-group-arn", &tg_arn];
    let (reached, es, eh, cs, ch) = tokio::join!(
        observe(sb, &name, &tg_arn, Duration::from_secs(120)),
        engine_wait(v, stable, &cancel),
        engine_wait(v, healthy, &cancel),
        cli_wait(sb, &cli_stable),
        cli_wait(sb, &cli_healthy),
    );
    let reached = reached?;
    for (o, _) in [&es, &eh] {
        if o.status != Status::Pass {
            bail!("{} did not pass: {}", o.description, o.evidence);
        }
    }
    lat.engine_stable.push(since(reached.stable, es.1)?);
    lat.engine_healthy.push(since(reached.healthy, eh.1)?);
    lat.cli_stable.push(since(reached.counts_match, cs?)?);
    lat.cli_healthy.push(since(reached.healthy, ch?)?);
    lat.engine_attempts.push(es.0.attempts);
    lat.converge.push(since(Some(started), reached.stable.unwrap_or(started))?);
    eprintln!(
        "rep {i}: stable after {:.1}s: engine +{:.2}s, cli +{:.2}s; healthy: engine +{:.2}s, cli +{:.2}s",
        lat.converge[i], lat.engine_stable[i], lat.cli_stable[i], lat.engine_healthy[i], lat.cli_healthy[i]
    );
    sb.aws(&["ecs", "delete-service", "--cluster", CLUSTER, "--service", &name, "--force"]).await?;
    Ok(())
}

/// Counts calls of each action at the sandbox: rules that match but (practically) never fail.
async fn install_counters(sb: &Sandbox, actions: &[&str]) -> Result<()> {
    sb.control("DELETE", "faults", None).await?;
    for action in actions {
        sb.control(
            "POST",
            "faults",
            Some(json!({"kind": "throttle", "fraction": 1e-9, "actions": [action]})),
        )
        .await?;
    }
    Ok(())
}

async fn counters(sb: &Sandbox) -> Result<std::collections::BTreeMap<String, u64>> {
    let rules = sb.control("GET", "faults", None).await?;
    let mut out = std::collections::BTreeMap::new();
    for r in rules["faults"].as_array().context("fault rules")? {
        let action = r["actions"][0].as_str().unwrap_or("?").to_string();
        *out.entry(action).or_default() += r["matched"].as_u64().unwrap_or(0);
    }
    Ok(out)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut reps = 10usize;
    let mut phase_secs = 60u64;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = repo.join("bench/results/verify-latency.md");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => reps = args.next().context("--reps N")?.parse()?,
            "--phase-secs" => phase_secs = args.next().context("--phase-secs S")?.parse()?,
            "--out" => out = args.next().context("--out FILE")?.into(),
            other => bail!("unknown argument {other}; use --reps N --phase-secs S --out FILE"),
        }
    }
    let sb = Sandbox::start(&repo)?;
    let b = base(&sb).await?;
    let v = Verifier::new(sb.clients().await, VerifySettings::default());

    eprintln!("detection latency: {reps} repetitions");
    let mut lat = Latencies::default();
    for i in 0..reps {
        repetition(&sb, &b, &v, i, &mut lat).await?;
    }

    eprintln!("call rates: 3 phases of {phase_secs}s");
    sb.control("POST", "config", Some(json!({"pending": 1.0, "target_healthy": 1.0, "stable": 0.5}))).await?;
    let stuck_tg = service_behind_lb(&sb, &b, "stuck", "stuck", 7999).await?;
    let actions =
        ["DescribeServices", "DescribeTargetHealth", "DescribeTargetGroups", "ListTasks", "DescribeTasks"];
    install_counters(&sb, &actions).await?;
    let rates = call_rates(&sb, &v, &stuck_tg, phase_secs).await?;

    let report = render(&lat, &rates, reps, phase_secs);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &report)?;
    println!("{report}");
    eprintln!("written to {}", out.display());
    Ok(())
}

/// Calls per minute of each watcher, measured in three phases whose watchers use disjoint actions.
struct Rates {
    engine_stable: f64,
    engine_healthy_arn: f64,
    engine_healthy_service: f64,
    cli_stable: f64,
    cli_healthy: f64,
}

async fn call_rates(sb: &Sandbox, v: &Verifier, tg_arn: &str, secs: u64) -> Result<Rates> {
    let per_min = |n: u64| n as f64 * 60.0 / secs as f64;
    let limit = Duration::from_secs(secs);
    let stable = check(&format!("service_stable: {{ cluster: {CLUSTER}, service: stuck }}\ntimeout: 1h"))?;
    let healthy_arn = check(&format!("targets_healthy: {{ target_group: '{tg_arn}' }}\ntimeout: 1h"))?;
    let healthy_svc = check(&format!(
        "targets_healthy: {{ target_group: stuck-tg, cluster: {CLUSTER}, service: stuck }}\ntimeout: 1h"
    ))?;

    // A: the engine's service_stable and targets_healthy (by ARN) together.
    let before = counters(sb).await?;
    let cancel = CancellationToken::new();
    let stop = async {
        tokio::time::sleep(limit).await;
        cancel.cancel();
    };
    // Cancelled waits skip the diagnostics, so only the polling is counted.
    tokio::join!(stop, v.wait(&stable, &cancel, &|_| {}), v.wait(&healthy_arn, &cancel, &|_| {}));
    let a = delta(&before, &counters(sb).await?);

    // B: the engine's targets_healthy by name with the service's tasks, and the CLI ECS waiter.
    let before = counters(sb).await?;
    let cancel = CancellationToken::new();
    let stop = async {
        tokio::time::sleep(limit).await;
        cancel.cancel();
    };
    let cli_args = ["ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", "stuck"];
    let cli = timed_cli(sb, &cli_args, limit);
    tokio::join!(stop, v.wait(&healthy_svc, &cancel, &|_| {}), cli);
    let bb = delta(&before, &counters(sb).await?);

    // C: the CLI target waiter alone.
    let before = counters(sb).await?;
    timed_cli(sb, &["elbv2", "wait", "target-in-service", "--target-group-arn", tg_arn], limit).await;
    let c = delta(&before, &counters(sb).await?);

    // The sandbox reports actions lower-cased.
    let get =
        |m: &std::collections::BTreeMap<String, u64>, k: &str| m.get(&k.to_lowercase()).copied().unwrap_or(0);
    Ok(Rates {
        engine_stable: per_min(get(&a, "DescribeServices")),
        engine_healthy_arn: per_min(get(&a, "DescribeTargetHealth") + get(&a, "DescribeTargetGroups")),
        engine_healthy_service: per_min(
            ["DescribeTargetGroups", "DescribeTargetHealth", "ListTasks", "DescribeTasks"]
                .iter()
                .map(|k| get(&bb, k))
                .sum(),
        ),
        cli_stable: per_min(get(&bb, "DescribeServices")),
        cli_healthy: per_min(get(&c, "DescribeTargetHealth")),
    })
}

fn delta(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).collect()
}

/// Runs a CLI waiter for at most `limit`, then kills it.
async fn timed_cli(sb: &Sandbox, args: &[&str], limit: Duration) {
    let Ok(mut child) = sb.aws_command(args).spawn() else { return };
    if tokio::time::timeout(limit, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

fn render(lat: &Latencies, r: &Rates, reps: usize, secs: u64) -> String {
    let row = |name: &str, v: &[f64]| {
        format!(
            "| {name} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {} |\n",
            percentile(v, 50.0),
            percentile(v, 95.0),
            v.iter().sum::<f64>() / v.len().max(1) as f64,
            v.iter().copied().fold(0.0, f64::max),
            v.len()
        )
    };
    let ratio = |cli: &[f64], engine: &[f64]| percentile(cli, 50.0) / percentile(engine, 50.0);
    let mut s = String::new();
    s.push_str("# Detection latency: labrunner checks vs. AWS CLI waiters\n\n");
    s.push_str(&format!(
        "Generated by `bench/verify-latency --reps {reps} --phase-secs {secs}` against the local sandbox \
         (moto + simulator, tick 0.15 s). Detection latency = time from the simulator reaching the state \
         (its own view, `GET /_sandbox/state` polled every 25 ms) to the watcher reporting it. Each repetition \
         creates a two-task Fargate service behind a target group; tasks stay PENDING 5–20 s (varied \
         per repetition, spreading the moment over a whole CLI poll period), then the states follow within \
         about 2 s, so every watcher is in its steady polling pace when the state is reached. All four watchers \
         watch the same service at the same time. Each watcher is timed from the state it tests: \
         `aws ecs wait services-stable` passes as soon as there is one deployment and running = desired \
         (rollout possibly still IN_PROGRESS, targets not yet healthy), which happens earlier than \
         labrunner's `service_stable` state (rollout COMPLETED).\n\n"
    ));
    s.push_str("| watcher | median | p95 | mean | max | n |\n|---|---|---|---|---|---|\n");
    s.push_str(&row("labrunner `service_stable`", &lat.engine_stable));
    s.push_str(&row("`aws ecs wait services-stable`", &lat.cli_stable));
    s.push_str(&row("labrunner `targets_healthy` (ARN)", &lat.engine_healthy));
    s.push_str(&row("`aws elbv2 wait target-in-service`", &lat.cli_healthy));
    s.push_str(&format!(
        "\nMedian speed-up over the CLI waiter: service_stable {:.1}×, targets_healthy {:.1}×. \
         Convergence took {:.1}–{:.1} s after `create-service`; the engine's `service_stable` took {}–{} looks.\n\n",
        ratio(&lat.cli_stable, &lat.engine_stable),
        ratio(&lat.cli_healthy, &lat.engine_healthy),
        lat.converge.iter().copied().fold(f64::INFINITY, f64::min),
        lat.converge.iter().copied().fold(0.0, f64::max),
        lat.engine_attempts.iter().min().copied().unwrap_or(0),
        lat.engine_attempts.iter().max().copied().unwrap_or(0),
    ));
    s.push_str(&format!(
        "## Describe calls per minute while waiting\n\nCounted at the sandbox (fault rules that match \
         but never fail, `GET /_sandbox/faults` → `matched`), for {secs} s of waiting on a service that never \
         settles (its image cannot be pulled, so no target ever registers). Cancelled waits skip the \
         diagnostics, so only polling is counted.\n\n| watcher | calls per look | calls per minute |\n|---|---|---|\n"
    ));
    s.push_str(&format!("| labrunner `service_stable` (DescribeServices) | 1 | {:.1} |\n", r.engine_stable));
    s.push_str(&format!(
        "| labrunner `targets_healthy`, target group ARN (DescribeTargetHealth) | 1 | {:.1} |\n",
        r.engine_healthy_arn
    ));
    s.push_str(&format!(
        "| labrunner `targets_healthy`, name + service (DescribeTargetGroups, DescribeTargetHealth, ListTasks[, DescribeTasks]) | 3–4 | {:.1} |\n",
        r.engine_healthy_service
    ));
    s.push_str(&format!("| `aws ecs wait services-stable` | 1 | {:.1} |\n", r.cli_stable));
    s.push_str(&format!("| `aws elbv2 wait target-in-service` | 1 | {:.1} |\n", r.cli_healthy));
    s
}
