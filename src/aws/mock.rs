//! Test support, the one way unit tests fake AWS: service clients answered by
//! aws-smithy-mocks rules (the SDK's own test support), with no retries and test keys.
//!
//! A call no rule answers panics (the test made a call it did not expect), unless the mocks are
//! [`Mocks::lenient`]: then it gets HTTP 418, an error the code under test must handle.

use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleBuilder, RuleMode};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_smithy_types::error::ErrorMetadata;

use super::json::{self, JsonClient};
use super::Clients;

/// Rules per service.
#[derive(Default)]
pub(crate) struct Mocks {
    pub ecs: Vec<Rule>,
    pub sts: Vec<Rule>,
    pub elbv2: Vec<Rule>,
    pub servicediscovery: Vec<Rule>,
    pub route53: Vec<Rule>,
    pub autoscaling: Vec<Rule>,
    pub cloudwatch: Vec<Rule>,
    pub logs: Vec<Rule>,
    pub iam: Vec<Rule>,
    pub dynamodb: Vec<Rule>,
    pub ec2: Vec<Rule>,
    pub acm: Vec<Rule>,
    pub secretsmanager: Vec<Rule>,
    pub ec2_autoscaling: Vec<Rule>,
    pub ecr: Vec<Rule>,
    pub ssm: Vec<Rule>,
    /// Calls no rule answers get HTTP 418 instead of a panic.
    pub lenient: bool,
}

fn interceptor(rules: &[Rule], lenient: bool) -> MockResponseInterceptor {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    if lenient {
        interceptor = interceptor.allow_passthrough();
    }
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    interceptor
}

macro_rules! client {
    ($krate:ident, $rules:expr, $lenient:expr) => {{
        let interceptor = interceptor(&$rules, $lenient);
        $krate::Client::from_conf(
            $krate::Config::builder()
                .behavior_version($krate::config::BehaviorVersion::latest())
                .region($krate::config::Region::new("us-east-1"))
                .credentials_provider($krate::config::Credentials::new("AKID", "SECRET", None, None, "test"))
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .retry_config($krate::config::retry::RetryConfig::disabled())
                .interceptor(interceptor)
                .build(),
        )
    }};
}

impl Mocks {
    /// No rules; every call gets HTTP 418 unless a rule is added.
    pub fn lenient() -> Self {
        Mocks { lenient: true, ..Default::default() }
    }

    /// Clients over the rules.
    pub fn clients(&self) -> Clients {
        let l = self.lenient;
        // The light clients (EC2 and the JSON ones) take the same mock transport, keys and no retries.
        let light = aws_types::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test"),
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let light_client = |rules: &[Rule]| Some(SharedInterceptor::new(interceptor(rules, l)));
        Clients {
            ec2: super::ec2::Ec2::with_interceptor(&light, light_client(&self.ec2)),
            ssm: JsonClient::with_interceptor(&light, json::SSM, light_client(&self.ssm)),
            logs: JsonClient::with_interceptor(&light, json::LOGS, light_client(&self.logs)),
            dynamodb: JsonClient::with_interceptor(&light, json::DYNAMODB, light_client(&self.dynamodb)),
            acm: JsonClient::with_interceptor(&light, json::ACM, light_client(&self.acm)),
            secretsmanager: JsonClient::with_interceptor(
                &light,
                json::SECRETS,
                light_client(&self.secretsmanager),
            ),
            ecr: JsonClient::with_interceptor(&light, json::ECR, light_client(&self.ecr)),
            config: aws_types::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_types::region::Region::new("us-east-1"))
                .build(),
            profile: None,
            ecs: client!(aws_sdk_ecs, self.ecs, l),
            sts: client!(aws_sdk_sts, self.sts, l),
            elbv2: client!(aws_sdk_elasticloadbalancingv2, self.elbv2, l),
            servicediscovery: client!(aws_sdk_servicediscovery, self.servicediscovery, l),
            route53: client!(aws_sdk_route53, self.route53, l),
            autoscaling: client!(aws_sdk_applicationautoscaling, self.autoscaling, l),
            cloudwatch: client!(aws_sdk_cloudwatch, self.cloudwatch, l),
            iam: client!(aws_sdk_iam, self.iam, l),
            ec2_autoscaling: client!(aws_sdk_autoscaling, self.ec2_autoscaling, l),
        }
    }
}

/// A rule for the light EC2 client's `action` (`mock!` needs a generated client).
pub(crate) fn ec2(action: &'static str) -> RuleBuilder<super::ec2::Ec2Call, super::ec2::Xml, ErrorMetadata> {
    ec2_where(action, |_| true)
}

/// A rule for the EC2 client's `action` when `also` holds of the call.
pub(crate) fn ec2_where(
    action: &'static str,
    also: impl Fn(&super::ec2::Ec2Call) -> bool + Send + Sync + 'static,
) -> RuleBuilder<super::ec2::Ec2Call, super::ec2::Xml, ErrorMetadata> {
    RuleBuilder::new().match_requests(move |call: &super::ec2::Ec2Call| call.action == action && also(call))
}

/// A rule for a light JSON client's `action` (SSM, Logs, DynamoDB, ECR, ACM, Secrets Manager):
/// each client has its own rules, so the action is enough.
pub(crate) fn json(action: &'static str) -> RuleBuilder<json::JsonCall, serde_json::Value, ErrorMetadata> {
    RuleBuilder::new().match_requests(move |call: &json::JsonCall| call.action == action)
}

/// An EC2 answer for a rule: `body` parsed as the answer's XML.
pub(crate) fn ec2_answer(body: &str) -> super::ec2::Xml {
    super::ec2::Xml::parse(body).expect("test XML parses")
}
