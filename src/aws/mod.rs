//! AWS access: SDK configuration from the command line, the shared service clients, the
//! caller identity, and a plain-words reading of SDK errors.

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

/// Loads the SDK configuration the way the AWS CLI would: the standard credential chain,
/// the profile and region given, standard retry mode. Fails when no region is known.
pub async fn load_config(options: &AwsOptions) -> Result<SdkConfig, Error> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(
        RetryConfig::standard().with_max_attempts(4).with_initial_backoff(Duration::from_millis(200)),
    );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
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

/// One client per service labrunner talks to, all from one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The configuration the clients were built from.
    pub config: SdkConfig,
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
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// EC2 (VPC resources).
    pub ec2: aws_sdk_ec2::Client,
}

impl Clients {
    /// Builds every client from `config`. Cheap: clients share the configuration.
    pub fn new(config: SdkConfig) -> Self {
        Clients {
            ecs: aws_sdk_ecs::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            servicediscovery: aws_sdk_servicediscovery::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            config,
        }
    }

    /// The region the clients act in.
    pub fn region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_default()
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
