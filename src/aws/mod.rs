//! AWS access: SDK configuration from the command line, the shared service clients, the
//! caller identity, and a plain-words reading of SDK errors.

pub mod ec2;
pub mod json;
mod lite;
#[cfg(test)]
pub(crate) mod mock;

pub use lite::LiteError;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

/// The AWS options every command shares (`--profile`, `--region`, `--endpoint-url`).
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// A named profile from the shared config files.
    pub profile: Option<String>,
    /// The region; otherwise the usual chain (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    /// A custom endpoint for every service (the sandbox); AWS_ENDPOINT_URL works too.
    pub endpoint_url: Option<String>,
}

/// Loads the SDK configuration with the AWS CLI's precedence: an explicit `--profile` wins
/// over credentials in the environment (the SDK's default chain would read the environment
/// first); `--region` wins over `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the profile's
/// region; `--endpoint-url` over `AWS_ENDPOINT_URL`. Standard retry mode. Fails when no
/// region is known.
pub async fn load_config(options: &AwsOptions) -> Result<SdkConfig, Error> {
    let mut loader = config_loader().retry_config(
        RetryConfig::standard().with_max_attempts(4).with_initial_backoff(Duration::from_millis(200)),
    );
    if let Some(profile) = &options.profile {
        // The profile's own chain (static keys, assume-role, SSO, credential_process), never
        // the environment's keys: that is what `aws --profile` does.
        let provider_config =
            aws_config::provider_config::ProviderConfig::default().with_http_client(http_client());
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .profile_name(profile)
            .build();
        loader = loader.profile_name(profile).credentials_provider(credentials);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(Error::NoRegion);
    }
    Ok(config)
}

/// The HTTP client for every AWS call of one configuration: the SDK's own client (hyper,
/// rustls, the system's trust roots, proxy settings from the environment) with rustls on
/// *ring*, the crypto library labrunner's other HTTPS (the `http` check) already uses, so
/// AWS-LC's C sources are never compiled. Its connector (trust roots parsed, connections
/// pooled) is built on the first request and shared by every service client made from the
/// configuration, without the SDK's per-client check that builds and drops a connector each
/// time a client is made (validation makes a dozen clients per account).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    // As the SDK's default client is made (aws-smithy-runtime's `default_https_client`), with
    // ring instead of AWS-LC: the connector's timeouts and sleep from the client's settings,
    // and HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment.
    let client = Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    aws_smithy_runtime_api::client::http::SharedHttpClient::new(SharedClient(client))
}

/// `aws_config::defaults` with labrunner's HTTP client ([`http_client`]): how every
/// configuration is loaded, in the program and its tests.
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// The SDK's HTTP client, without its per-service-client check (which builds and drops a
/// connector each time); its connectors are built on first use and cached as before.
#[derive(Debug)]
struct SharedClient(aws_smithy_runtime_api::client::http::SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for SharedClient {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// One client per service labrunner talks to, all from one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The configuration the clients were built from.
    pub config: SdkConfig,
    /// The profile chosen with `--profile`, if any (handed on to shell blocks).
    pub profile: Option<String>,
    /// Amazon ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// AWS STS.
    pub sts: aws_sdk_sts::Client,
    /// Elastic Load Balancing v2.
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// AWS Cloud Map.
    pub servicediscovery: aws_sdk_servicediscovery::Client,
    /// Route 53.
    pub route53: aws_sdk_route53::Client,
    /// Application Auto Scaling.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// CloudWatch.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// CloudWatch Logs, a light client.
    pub logs: json::JsonClient,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// DynamoDB, a light client.
    pub dynamodb: json::JsonClient,
    /// EC2 (VPC resources), a light client.
    pub ec2: ec2::Ec2,
    /// AWS Certificate Manager, a light client.
    pub acm: json::JsonClient,
    /// AWS Secrets Manager, a light client (metadata calls only).
    pub secretsmanager: json::JsonClient,
    /// Amazon EC2 Auto Scaling (groups of instances; `autoscaling` is Application Auto Scaling).
    pub ec2_autoscaling: aws_sdk_autoscaling::Client,
    /// Amazon ECR, a light client.
    pub ecr: json::JsonClient,
    /// AWS Systems Manager (Parameter Store), a light client.
    pub ssm: json::JsonClient,
}

impl Clients {
    /// Builds every client from `config`. Cheap: clients share the configuration (and its
    /// HTTP client; one is added if `config` was made without one).
    pub fn new(config: SdkConfig) -> Self {
        let config = match config.http_client() {
            Some(_) => config,
            None => config.into_builder().http_client(http_client()).build(),
        };
        Clients {
            ecs: aws_sdk_ecs::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            servicediscovery: aws_sdk_servicediscovery::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            logs: json::JsonClient::new(&config, json::LOGS),
            iam: aws_sdk_iam::Client::new(&config),
            dynamodb: json::JsonClient::new(&config, json::DYNAMODB),
            acm: json::JsonClient::new(&config, json::ACM),
            secretsmanager: json::JsonClient::new(&config, json::SECRETS),
            ec2_autoscaling: aws_sdk_autoscaling::Client::new(&config),
            ecr: json::JsonClient::new(&config, json::ECR),
            ssm: json::JsonClient::new(&config, json::SSM),
            ec2: ec2::Ec2::new(&config),
            config,
            profile: None,
        }
    }

    /// The same clients, remembering the profile they were loaded with.
    pub fn with_profile(mut self, profile: Option<String>) -> Self {
        self.profile = profile;
        self
    }

    /// The environment every shell block and command check runs with, so that the aws CLI
    /// in them acts as the identity and in the region labrunner showed.
    ///
    /// Region: `AWS_REGION` and `AWS_DEFAULT_REGION` (aws CLI v1 reads only the latter).
    /// Credentials: the ones labrunner itself resolved, as `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (unset when there is none), because a CLI
    /// left to its own chain may resolve differently (environment keys beat `AWS_PROFILE`; CLI v1
    /// knows no SSO sessions). `AWS_PROFILE` names the chosen profile for commands that read it.
    /// Endpoint: `AWS_ENDPOINT_URL` when one is configured. Retries: the SDKs' standard mode
    /// unless the student chose their own. Values are for a child's environment only: never
    /// written to disk.
    pub async fn shell_env(&self) -> Result<ShellEnv, Error> {
        let mut set = BTreeMap::new();
        let mut unset = Vec::new();
        let mut expires = None;
        let region = self.region();
        set.insert("AWS_REGION".to_string(), region.clone());
        set.insert("AWS_DEFAULT_REGION".to_string(), region);
        if let Some(profile) = &self.profile {
            set.insert("AWS_PROFILE".to_string(), profile.clone());
            unset.push("AWS_DEFAULT_PROFILE".to_string());
        }
        if let Some(url) = self.config.endpoint_url() {
            set.insert("AWS_ENDPOINT_URL".to_string(), url.to_string());
        }
        if let Some(provider) = self.config.credentials_provider() {
            use aws_credential_types::provider::ProvideCredentials;
            let creds = provider.provide_credentials().await.map_err(|e| Error::Credentials {
                detail: format!("resolving credentials for the lab's commands: {e}"),
            })?;
            expires = creds.expiry();
            set.insert("AWS_ACCESS_KEY_ID".to_string(), creds.access_key_id().to_string());
            set.insert("AWS_SECRET_ACCESS_KEY".to_string(), creds.secret_access_key().to_string());
            match creds.session_token() {
                Some(token) => {
                    set.insert("AWS_SESSION_TOKEN".to_string(), token.to_string());
                }
                None => unset.push("AWS_SESSION_TOKEN".to_string()),
            }
            // An old name some tools still read; it must not contradict the token above.
            unset.push("AWS_SECURITY_TOKEN".to_string());
        }
        if std::env::var_os("AWS_RETRY_MODE").is_none() {
            set.insert("AWS_RETRY_MODE".to_string(), "standard".to_string());
        }
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
            set.insert("AWS_MAX_ATTEMPTS".to_string(), SHELL_MAX_ATTEMPTS.to_string());
        }
        Ok(ShellEnv { set, unset, expires })
    }

    /// The region the clients act in.
    pub fn region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_default()
    }
}

/// Attempts the aws CLI in a block makes per call unless the student set `AWS_MAX_ATTEMPTS`.
const SHELL_MAX_ATTEMPTS: u32 = 6;

/// What a child process's environment must have set and must not inherit, so that it acts
/// where labrunner acts.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ShellEnv {
    /// Variables to set.
    pub set: BTreeMap<String, String>,
    /// Inherited variables to remove.
    pub unset: Vec<String>,
    /// When the credentials in `set` expire, if they do.
    pub expires: Option<std::time::SystemTime>,
}

impl std::fmt::Debug for ShellEnv {
    // Credentials never reach a log or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&String> = self.set.keys().collect();
        f.debug_struct("ShellEnv").field("set", &names).field("unset", &self.unset).finish()
    }
}

impl ShellEnv {
    /// The credential values it carries, for masking in output.
    pub fn secret_values(&self) -> Vec<&str> {
        ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
            .iter()
            .filter_map(|k| self.set.get(*k).map(String::as_str))
            .collect()
    }
}

/// Who and where: the caller identity and the region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The 12-digit account id.
    pub account: String,
    /// The caller's ARN.
    pub arn: String,
    /// The region.
    pub region: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "account {} ({}) in {}", self.account, self.arn, self.region)
    }
}

/// Asks STS who the credentials belong to.
pub async fn whoami(clients: &Clients) -> Result<Identity, Error> {
    let out = clients.sts.get_caller_identity().send().await.map_err(|e| credentials_error(&e))?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
        region: clients.region(),
    })
}

/// Turns a failed STS call into the error a student can act on.
pub fn credentials_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> Error {
    let problem = ErrorClass::of(err);
    let detail = describe(err);
    match problem {
        ErrorClass::Credentials => Error::Credentials { detail },
        _ => Error::Aws { context: "asking STS who you are".into(), detail },
    }
}

/// What kind of failure an SDK error is, for retry and reporting decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling: back off and try again.
    Throttling,
    /// A 5xx or a dropped connection: try again.
    Transient,
    /// The thing does not exist.
    NotFound,
    /// The caller may not do this.
    AccessDenied,
    /// Missing, invalid or expired credentials.
    Credentials,
    /// Anything else.
    Other,
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
];

const CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "RequestExpired",
];

impl ErrorClass {
    /// Classifies an SDK error by its code, HTTP status, or failure kind.
    pub fn of<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(err: &SdkError<E, R>) -> Self {
        match err {
            // A missing credential chain fails before anything is sent; the SDK reports it
            // as a construction or dispatch failure that names the credential provider.
            SdkError::ConstructionFailure(_) | SdkError::DispatchFailure(_) if mentions_credentials(err) => {
                ErrorClass::Credentials
            }
            SdkError::ConstructionFailure(_) => ErrorClass::Other,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ErrorClass::Transient,
            SdkError::ResponseError(_) => ErrorClass::Transient,
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or_default();
                let status = service.raw_status();
                Self::from_code(code, status)
            }
            _ => ErrorClass::Other,
        }
    }

    /// Classifies an error code and HTTP status.
    pub fn from_code(code: &str, status: Option<u16>) -> Self {
        if THROTTLING.contains(&code) {
            ErrorClass::Throttling
        } else if CREDENTIALS.contains(&code) {
            ErrorClass::Credentials
        } else if code.contains("NotFound")
            || code.starts_with("NoSuch")
            || code == "ResourceNotFoundException"
        {
            ErrorClass::NotFound
        } else if code.contains("AccessDenied")
            || code == "UnauthorizedOperation"
            || code == "AuthorizationError"
        {
            ErrorClass::AccessDenied
        } else if matches!(status, Some(s) if s >= 500)
            || code == "ServiceUnavailable"
            || code == "InternalFailure"
        {
            ErrorClass::Transient
        } else if status == Some(429) {
            ErrorClass::Throttling
        } else {
            ErrorClass::Other
        }
    }

    /// Whether waiting and trying again may help.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Throttling | ErrorClass::Transient)
    }
}

/// What kind of failure the output of an `aws` CLI command reports, when it reports one that
/// says nothing about the state of the account: throttling, a 5xx, a connection that failed,
/// access denied or bad credentials. `None` for output that reports no such failure (a
/// definite answer such as `InvalidVpcID.NotFound`, or none at all).
pub fn cli_failure_class(output: &str) -> Option<ErrorClass> {
    static CODE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"An error occurred \(([A-Za-z0-9._]+)\)").expect("valid regex")
    });
    const UNREACHED: &[&str] = &[
        "Could not connect to the endpoint URL",
        "Connect timeout on endpoint URL",
        "Read timeout on endpoint URL",
        "Connection was closed before we received a valid response",
        "reached max retries",
        "Unable to locate credentials",
    ];
    for found in CODE.captures_iter(output) {
        let code = &found[1];
        let class = match code.parse::<u16>() {
            Ok(status) if status >= 500 => ErrorClass::Transient,
            Ok(429) => ErrorClass::Throttling,
            _ => ErrorClass::from_code(code, None),
        };
        if class != ErrorClass::NotFound && class != ErrorClass::Other {
            return Some(class);
        }
    }
    if output.contains("Unable to locate credentials") {
        return Some(ErrorClass::Credentials);
    }
    UNREACHED.iter().any(|m| output.contains(m)).then_some(ErrorClass::Transient)
}

/// Whether an error or any of its causes is about credentials.
fn mentions_credentials<E: std::fmt::Debug, R: std::fmt::Debug>(err: &SdkError<E, R>) -> bool {
    format!("{err:?}").to_ascii_lowercase().contains("credential")
}

/// Status of a service error's HTTP response, when there was one.
trait RawStatus {
    fn raw_status(&self) -> Option<u16>;
}

impl<E, R: std::fmt::Debug> RawStatus for aws_smithy_runtime_api::client::result::ServiceError<E, R> {
    fn raw_status(&self) -> Option<u16> {
        // The raw response type is generic; its Debug output carries the status line.
        let text = format!("{:?}", self.raw());
        text.split("status: StatusCode(")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.trim().parse().ok())
    }
}

/// "ClusterNotFoundException: Cluster not found." — the code and message of an SDK error, or
/// the underlying cause for errors that never reached a service.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => format!("{e}"),
            }
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_output_that_says_nothing_about_the_account() {
        let cases = [
            (
                "An error occurred (RequestLimitExceeded) when calling the DescribeVpcAttribute operation (reached max retries: 4): Request limit exceeded.",
                Some(ErrorClass::Throttling),
            ),
            ("An error occurred (ServiceUnavailable) when calling the X operation: try later", Some(ErrorClass::Transient)),
            ("An error occurred (503) when calling the DescribeVpcs operation (reached max retries: 4): Service Unavailable", Some(ErrorClass::Transient)),
            ("Could not connect to the endpoint URL: \"http://127.0.0.1:1/\"", Some(ErrorClass::Transient)),
            ("An error occurred (UnauthorizedOperation) when calling the DescribeVpcs operation", Some(ErrorClass::AccessDenied)),
            ("An error occurred (ExpiredToken) when calling the X operation", Some(ErrorClass::Credentials)),
            ("Unable to locate credentials. You can configure credentials by running \"aws configure\".", Some(ErrorClass::Credentials)),
            ("An error occurred (InvalidVpcID.NotFound) when calling the DescribeVpcAttribute operation: The vpc ID 'vpc-1' does not exist", None),
            ("An error occurred (InvalidParameterValue) when calling the X operation", None),
            ("False", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(cli_failure_class(text), want, "{text}");
        }
    }

    #[test]
    fn codes_are_classified() {
        let cases = [
            ("ThrottlingException", None, ErrorClass::Throttling),
            ("Throttling", Some(400), ErrorClass::Throttling),
            ("ExpiredToken", Some(403), ErrorClass::Credentials),
            ("ClusterNotFoundException", Some(400), ErrorClass::NotFound),
            ("NoSuchEntity", Some(404), ErrorClass::NotFound),
            ("AccessDeniedException", Some(400), ErrorClass::AccessDenied),
            ("ServiceUnavailable", Some(503), ErrorClass::Transient),
            ("Whatever", Some(500), ErrorClass::Transient),
            ("", Some(429), ErrorClass::Throttling),
            ("InvalidParameterException", Some(400), ErrorClass::Other),
        ];
        for (code, status, want) in cases {
            assert_eq!(ErrorClass::from_code(code, status), want, "{code}");
        }
    }
}
