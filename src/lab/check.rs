//! The catalog of check kinds a step can declare, and their parameters.
//!
//! In step metadata a check is a map with exactly one kind key plus optional common keys:
//!
//! ```yaml
//! checks:
//!   - service_stable: { cluster: "${CLUSTER_NAME}", service: invsys-service }
//!     timeout: 10m
//! ```
//!
//! Parameters are plain strings and numbers that may reference lab variables (`${NAME}`);
//! [`Check::resolve`] substitutes them before a check runs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::vars;
use super::ResourceSpec;

/// One declared check: its kind and parameters, plus the options every kind shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What to check.
    pub spec: CheckSpec,
    /// How long to keep trying before the check fails; `None` means the kind's default.
    pub timeout: Option<Duration>,
    /// A label shown instead of the generated description.
    pub label: Option<String>,
}

impl Check {
    /// A check of `spec` with the default timeout and no label.
    pub fn new(spec: CheckSpec) -> Self {
        Check { spec, timeout: None, label: None }
    }

    /// The kind's name as written in metadata (`service_stable`).
    pub fn kind(&self) -> &'static str {
        self.spec.kind()
    }

    /// The deadline for this check: its own timeout, or the kind's default.
    pub fn deadline(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.spec.default_timeout())
    }

    /// What the check looks at, in a few words ("service invsys-service is stable").
    pub fn describe(&self) -> String {
        match &self.label {
            Some(label) => label.clone(),
            None => self.spec.describe(),
        }
    }

    /// One line for a step's list of checks: what, which kind, how long it may take
    /// ("service invsys-service is stable (`service_stable`, up to 10m)").
    pub fn summary(&self) -> String {
        format!(
            "{} (`{}`, up to {})",
            self.describe(),
            self.kind(),
            humantime::format_duration(self.deadline())
        )
    }

    /// The same check with every `${VAR}` replaced through `lookup`.
    ///
    /// Fails with the name of the first variable `lookup` does not know.
    pub fn resolve(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Check, String> {
        let spec = vars::resolve_value(&self.spec, lookup)?;
        let label = match &self.label {
            Some(l) => Some(vars::interpolate(l, lookup)?),
            None => None,
        };
        Ok(Check { spec, timeout: self.timeout, label })
    }

    /// The variable names the check's parameters reference.
    pub fn variables(&self) -> Vec<String> {
        vars::value_references(&self.spec)
    }
}

/// Every kind of check labrunner knows, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSpec {
    /// The caller identity (STS) is the expected account, and the region is the expected one.
    CallerIdentity(CallerIdentity),
    /// An ECS cluster exists and is ACTIVE.
    ClusterActive(ClusterRef),
    /// A task definition revision is registered with the expected settings.
    TaskDefinition(TaskDefinitionCheck),
    /// An ECS service is stable and its newest deployment has COMPLETED.
    ServiceStable(ServiceStable),
    /// An ECS service exists and is ACTIVE, stable or not.
    ServiceActive(ServiceRef),
    /// An ECS service's deployment failed or was rolled back (an expected failure).
    DeploymentFailed(ServiceRef),
    /// A task of an ECS service stopped for a reason matching a pattern (an expected failure).
    TaskStopped(TaskStopped),
    /// An ECS service has an event matching a pattern.
    ServiceEvent(ServiceEvent),
    /// An ECS service wants, and runs, the given number of tasks.
    ServiceDesiredCount(ServiceDesiredCount),
    /// An ECS service runs a given task definition revision (rolling deployments).
    ServiceTaskDefinition(ServiceTaskDefinition),
    /// A target group has healthy targets.
    TargetsHealthy(TargetsHealthy),
    /// A load balancer exists and is active.
    LoadBalancerActive(NameRef),
    /// A DNS name resolves through a resolver (the system's or `--dns-server`).
    DnsResolves(DnsResolves),
    /// A private Cloud Map DNS name (`invsys.local`) is backed by instances or records.
    PrivateDns(PrivateDns),
    /// A Service Connect alias is configured on a service and backed by instances.
    ServiceConnect(ServiceConnect),
    /// A Cloud Map namespace exists.
    CloudmapNamespace(NameRef),
    /// A Cloud Map service has (healthy) instances.
    CloudmapInstances(CloudmapInstances),
    /// An HTTP endpoint answers as expected.
    Http(Http),
    /// An Application Auto Scaling scalable target is registered.
    ScalableTarget(ScalableTarget),
    /// An Application Auto Scaling policy exists.
    ScalingPolicy(ScalingPolicy),
    /// A CloudWatch alarm exists (optionally in a given state).
    Alarm(Alarm),
    /// A CloudWatch Logs group exists (optionally with events matching a pattern).
    LogGroup(LogGroup),
    /// An IAM role exists.
    IamRole(NameRef),
    /// An IAM role's policies allow an action on a resource.
    RoleAllows(RoleAllows),
    /// An IAM role's policies do *not* allow an action on a resource (an expected failure).
    RoleDenies(RoleAllows),
    /// A DynamoDB table is ACTIVE.
    DynamodbTable(DynamodbTable),
    /// A resource of any type a step can create exists, found the way cleanup finds it
    /// (`exists: { ecr_repository: { name: little-ecom/auth } }`).
    Exists(ResourceRef),
    /// A shell command exits 0 (the escape hatch).
    Command(Command),
}

/// Default deadlines: control-plane reads are quick, convergence takes minutes.
impl CheckSpec {
    /// The kind's name as written in metadata.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::CallerIdentity(_) => "caller_identity",
            CheckSpec::ClusterActive(_) => "cluster_active",
            CheckSpec::TaskDefinition(_) => "task_definition",
            CheckSpec::ServiceStable(_) => "service_stable",
            CheckSpec::ServiceActive(_) => "service_active",
            CheckSpec::DeploymentFailed(_) => "deployment_failed",
            CheckSpec::TaskStopped(_) => "task_stopped",
            CheckSpec::ServiceEvent(_) => "service_event",
            CheckSpec::ServiceDesiredCount(_) => "service_desired_count",
            CheckSpec::ServiceTaskDefinition(_) => "service_task_definition",
            CheckSpec::TargetsHealthy(_) => "targets_healthy",
            CheckSpec::LoadBalancerActive(_) => "load_balancer_active",
            CheckSpec::DnsResolves(_) => "dns_resolves",
            CheckSpec::PrivateDns(_) => "private_dns",
            CheckSpec::ServiceConnect(_) => "service_connect",
            CheckSpec::CloudmapNamespace(_) => "cloudmap_namespace",
            CheckSpec::CloudmapInstances(_) => "cloudmap_instances",
            CheckSpec::Http(_) => "http",
            CheckSpec::ScalableTarget(_) => "scalable_target",
            CheckSpec::ScalingPolicy(_) => "scaling_policy",
            CheckSpec::Alarm(_) => "alarm",
            CheckSpec::LogGroup(_) => "log_group",
            CheckSpec::IamRole(_) => "iam_role",
            CheckSpec::RoleAllows(_) => "role_allows",
            CheckSpec::RoleDenies(_) => "role_denies",
            CheckSpec::DynamodbTable(_) => "dynamodb_table",
            CheckSpec::Exists(_) => "exists",
            CheckSpec::Command(_) => "command",
        }
    }

    /// How long a check of this kind keeps trying by default.
    pub fn default_timeout(&self) -> Duration {
        let secs = match self {
            CheckSpec::ServiceStable(_)
            | CheckSpec::ServiceDesiredCount(_)
            | CheckSpec::ServiceTaskDefinition(_)
            | CheckSpec::DeploymentFailed(_) => 600,
            CheckSpec::TaskStopped(_) | CheckSpec::ServiceEvent(_) => 300,
            CheckSpec::TargetsHealthy(_) | CheckSpec::LoadBalancerActive(_) => 300,
            CheckSpec::DnsResolves(_)
            | CheckSpec::PrivateDns(_)
            | CheckSpec::ServiceConnect(_)
            | CheckSpec::CloudmapInstances(_)
            | CheckSpec::Http(_) => 180,
            CheckSpec::DynamodbTable(_) | CheckSpec::CloudmapNamespace(_) => 120,
            CheckSpec::LogGroup(_) | CheckSpec::Command(_) => 60,
            _ => 30,
        };
        Duration::from_secs(secs)
    }

    /// A short description of what is checked.
    pub fn describe(&self) -> String {
        match self {
            CheckSpec::CallerIdentity(c) => match (&c.account, &c.region) {
                (Some(a), Some(r)) => format!("signed in to account {a} in {r}"),
                (Some(a), None) => format!("signed in to account {a}"),
                (None, Some(r)) => format!("working in region {r}"),
                (None, None) => "AWS credentials work".to_string(),
            },
            CheckSpec::ClusterActive(c) => format!("cluster {} is ACTIVE", c.cluster),
            CheckSpec::TaskDefinition(t) => match t.revision {
                Some(r) => format!("task definition {}:{r} is registered", t.family),
                None => format!("task definition {} is registered", t.family),
            },
            CheckSpec::ServiceStable(s) => format!("service {} is stable", s.service),
            CheckSpec::ServiceActive(s) => format!("service {} is ACTIVE", s.service),
            CheckSpec::DeploymentFailed(s) => format!("a deployment of service {} failed", s.service),
            CheckSpec::TaskStopped(t) => {
                format!("a task of service {} stopped with a reason matching {:?}", t.service, t.reason)
            }
            CheckSpec::ServiceEvent(e) => {
                format!("service {} has an event matching {:?}", e.service, e.pattern)
            }
            CheckSpec::ServiceDesiredCount(s) => {
                format!("service {} runs {} task(s)", s.service, s.count)
            }
            CheckSpec::ServiceTaskDefinition(s) => {
                format!("service {} runs {}", s.service, s.task_definition)
            }
            CheckSpec::TargetsHealthy(t) => {
                format!("target group {} has healthy targets", t.target_group)
            }
            CheckSpec::LoadBalancerActive(n) => format!("load balancer {} is active", n.name),
            CheckSpec::DnsResolves(d) => format!("{} resolves", d.name),
            CheckSpec::PrivateDns(d) => format!("{} resolves inside the VPC", d.name),
            CheckSpec::ServiceConnect(s) => {
                format!("service {} answers as {} (Service Connect)", s.service, s.alias)
            }
            CheckSpec::CloudmapNamespace(n) => format!("namespace {} exists", n.name),
            CheckSpec::CloudmapInstances(c) => {
                format!("Cloud Map service {} has instances", c.service)
            }
            CheckSpec::Http(h) => {
                format!("{} {} answers {}", h.method_or_get(), h.url, h.status.unwrap_or(200))
            }
            CheckSpec::ScalableTarget(s) => format!("{} is a scalable target", s.resource_id),
            CheckSpec::ScalingPolicy(s) => format!("scaling policy {} exists", s.policy_name),
            CheckSpec::Alarm(a) => match &a.state {
                Some(state) => format!("alarm {} is {state}", a.name),
                None => format!("alarm {} exists", a.name),
            },
            CheckSpec::LogGroup(l) => match &l.pattern {
                Some(p) => format!("log group {} has events matching {p:?}", l.name),
                None => format!("log group {} exists", l.name),
            },
            CheckSpec::IamRole(n) => format!("IAM role {} exists", n.name),
            CheckSpec::RoleAllows(r) => format!("role {} may {}", r.role, r.action),
            CheckSpec::RoleDenies(r) => format!("role {} may not {}", r.role, r.action),
            CheckSpec::DynamodbTable(t) => format!("table {} is ACTIVE", t.table),
            CheckSpec::Exists(r) => format!("{} exists", r.0.describe()),
            CheckSpec::Command(c) => format!("`{}` succeeds", first_line(&c.run)),
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// `caller_identity`: who and where.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerIdentity {
    /// Expected 12-digit account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Expected region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `cluster_active`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRef {
    /// Cluster name or ARN.
    pub cluster: String,
}

/// A check that names one thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRef {
    /// Name (or ARN where the API takes one).
    pub name: String,
}

/// `task_definition`: a revision is registered; the optional fields must match when given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDefinitionCheck {
    /// Family name.
    pub family: String,
    /// Revision; the latest ACTIVE one when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// Container whose settings are compared; the first container when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Expected image (exact, or a prefix ending in `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Expected task-level CPU units ("256").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Expected task-level memory in MiB ("512").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Expected network mode (awsvpc, bridge, host, none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// A container port that must be mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u16>,
    /// Text the container health check command must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
}

/// `service_stable`: status ACTIVE, one deployment, running == desired, rollout COMPLETED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceStable {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// The task definition the step deployed (`family` or `family:revision`); ties the check to
    /// that deployment so an older, stable deployment does not pass it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
}

/// `service_active`, `deployment_failed`: one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRef {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
}

/// `task_stopped`: a stopped task of the service whose stopped reason or a container's reason
/// matches `reason` (a regular expression, case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskStopped {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// What the reason must match, e.g. `CannotPullContainerError|AccessDenied`.
    pub reason: String,
}

/// `service_event`: an event of the service matches `pattern` (a regular expression,
/// case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEvent {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// What an event message must match, e.g. `unable to consistently start tasks`.
    pub pattern: String,
}

/// `service_desired_count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDesiredCount {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// Desired (and running) task count.
    pub count: u32,
}

/// `service_task_definition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTaskDefinition {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// `family:revision` (or `family` for its latest revision).
    pub task_definition: String,
}

/// `targets_healthy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsHealthy {
    /// Target group name or ARN.
    pub target_group: String,
    /// At least this many healthy targets (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy: Option<u32>,
    /// Every registered target must be healthy (default true); draining targets are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_healthy: Option<bool>,
    /// With `service`: the healthy targets must be that service's running tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// With `cluster`: the ECS service whose tasks the targets must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// `dns_resolves`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsResolves {
    /// The name to resolve.
    pub name: String,
    /// At least this many addresses (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_addresses: Option<u32>,
}

/// `private_dns`: a name inside a private Cloud Map namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateDns {
    /// `<service>.<namespace>`, e.g. `invsys.local`.
    pub name: String,
    /// At least this many addresses (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_addresses: Option<u32>,
}

/// `service_connect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConnect {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// The client alias DNS name (`carts`).
    pub alias: String,
    /// The client alias port, when it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// `cloudmap_instances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudmapInstances {
    /// Namespace name, to pick the service when names repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Cloud Map service name, id or ARN.
    pub service: String,
    /// At least this many instances (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// Count only instances whose health status is HEALTHY (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_only: Option<bool>,
}

/// `http`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// The URL.
    pub url: String,
    /// GET when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Expected status (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Text the response body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// A JSON path (`$.items[0].id`) into the response body; with `equals`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// The value at `json_path`, compared as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
}

impl Http {
    /// The method, GET by default.
    pub fn method_or_get(&self) -> &str {
        self.method.as_deref().unwrap_or("GET")
    }
}

/// `scalable_target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalableTarget {
    /// Service namespace (default `ecs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_namespace: Option<String>,
    /// Resource id, e.g. `service/<cluster>/<service>`.
    pub resource_id: String,
    /// Scalable dimension (default `ecs:service:DesiredCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// Expected minimum capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<i32>,
    /// Expected maximum capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<i32>,
}

/// `scaling_policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicy {
    /// Service namespace (default `ecs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_namespace: Option<String>,
    /// Resource id, e.g. `service/<cluster>/<service>`.
    pub resource_id: String,
    /// Policy name.
    pub policy_name: String,
    /// Expected policy type (TargetTrackingScaling, StepScaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
}

/// `alarm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    /// Alarm name.
    pub name: String,
    /// Expected state: OK, ALARM or INSUFFICIENT_DATA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// `log_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogGroup {
    /// Log group name.
    pub name: String,
    /// A CloudWatch Logs filter pattern some event must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// `role_allows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAllows {
    /// Role name.
    pub role: String,
    /// Action, e.g. `dynamodb:Query`.
    pub action: String,
    /// Resource ARN (default `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// `dynamodb_table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamodbTable {
    /// Table name.
    pub table: String,
}

/// `command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// A bash script; passes when it exits 0.
    pub run: String,
    /// Text its standard output must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_contains: Option<String>,
}

// A check in YAML is one map holding the kind key and the shared keys side by side, which
// derive cannot express together with deny_unknown_fields. The visitor below reads the
// shared keys itself and hands the kind key to the derived `CheckSpec` as an enum variant,
// so serde's own "unknown variant" and "unknown field" errors (with their positions) survive.
impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Check;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a check: a map with one check kind (such as `service_stable`) and optional `timeout` and `label`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let mut spec = None;
        let mut timeout = None;
        let mut label = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "timeout" => timeout = Some(map.next_value::<DurationText>()?.0),
                "label" => label = Some(map.next_value()?),
                _ => {
                    if let Some(first) = &spec {
                        let first: &CheckSpec = first;
                        return Err(de::Error::custom(format!(
                            "a check has exactly one kind, found `{}` and `{key}`; write each check as its own list item",
                            first.kind()
                        )));
                    }
                    spec = Some(CheckSpec::deserialize(KindEntry { key, map: &mut map })?);
                }
            }
        }
        match spec {
            Some(spec) => Ok(Check { spec, timeout, label }),
            None => Err(de::Error::custom("a check needs a kind such as `service_stable` or `http`")),
        }
    }
}

/// Parses a duration written as `90s`, `5m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("invalid duration {text:?}: write it like 90s, 5m or 1h 30m"))
}

/// A duration as written in metadata; errors are raised at the value, so they point at it.
struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 90s, 5m or 1h")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                parse_duration(v).map(DurationText).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
                Err(E::custom(format!("invalid duration {v}: give a unit, such as {v}s or {v}m")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationText, E> {
                Err(E::custom(format!("invalid duration {v}: give a unit, such as {v}s or {v}m")))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// `exists`: a resource written as in `creates` (`ecr_repository: { name: ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ResourceRef(pub ResourceSpec);

impl<'de> Deserialize<'de> for ResourceRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        OneKeyMap::<ResourceSpec>::deserialize(deserializer).map(|m| ResourceRef(m.0))
    }
}

/// A value written as a one-key map (`ecs_service: {...}`) whose key selects an enum variant.
///
/// the YAML parser reads externally tagged enums only from YAML tags (`!ecs_service`), which lab
/// authors never write; this wrapper reads the map form and keeps serde's own messages.
#[derive(Debug, Clone, PartialEq)]
pub struct OneKeyMap<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneKeyMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneKeyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneKeyVisitor<T> {
            type Value = OneKeyMap<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map with exactly one key naming the type, such as `ecs_service: {...}`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("expected one key naming the type, found an empty map"));
                };
                let value = T::deserialize(KindEntry { key: key.clone(), map: &mut map })?;
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "expected one key naming the type, found `{key}` and `{extra}`; write each as its own list item"
                    )));
                }
                Ok(OneKeyMap(value))
            }
        }
        deserializer.deserialize_map(OneKeyVisitor(std::marker::PhantomData))
    }
}

/// A deserializer that presents one map entry (`key: value`) as an externally tagged enum.
struct KindEntry<'a, A> {
    key: String,
    map: &'a mut A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for KindEntry<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for KindEntry<'_, A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), A::Error> {
        let key = de::value::StrDeserializer::<A::Error>::new(&self.key);
        let value = seed.deserialize(key)?;
        Ok((value, self))
    }
}

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for KindEntry<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        Err(de::Error::custom("expected parameters as a map"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("expected parameters as a map"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        struct Fields<V>(&'static [&'static str], V);
        impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Fields<V> {
            type Value = V::Value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
                d.deserialize_struct("", self.0, self.1)
            }
        }
        self.map.next_value_seed(Fields(fields, visitor))
    }
}
