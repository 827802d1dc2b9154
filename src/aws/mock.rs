//! Test support, the one way unit tests fake AWS: service clients answered by
//! aws-smithy-mocks rules (the SDK's own test support), with no retries and test keys.
//!
//! A call no rule answers panics (the test made a call it did not expect), unless the mocks are
//! [`Mocks::lenient`]: then it gets HTTP 418, an error the code under test must handle.

use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};

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

macro_rules! client {
    ($krate:ident, $rules:expr, $lenient:expr) => {{
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        if $lenient {
            interceptor = interceptor.allow_passthrough();
        }
        for rule in $rules.iter() {
            interceptor = interceptor.with_rule(rule);
        }
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
        Clients {
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
            logs: client!(aws_sdk_cloudwatchlogs, self.logs, l),
            iam: client!(aws_sdk_iam, self.iam, l),
            dynamodb: client!(aws_sdk_dynamodb, self.dynamodb, l),
            ec2: client!(aws_sdk_ec2, self.ec2, l),
            acm: client!(aws_sdk_acm, self.acm, l),
            secretsmanager: client!(aws_sdk_secretsmanager, self.secretsmanager, l),
            ec2_autoscaling: client!(aws_sdk_autoscaling, self.ec2_autoscaling, l),
            ecr: client!(aws_sdk_ecr, self.ecr, l),
            ssm: client!(aws_sdk_ssm, self.ssm, l),
        }
    }
}
