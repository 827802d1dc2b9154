//! Test support: a fake clock that never waits, and service clients answered by
//! aws-smithy-mocks rules, so fetch paths and the polling loop run in milliseconds.

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};

use super::{Verifier, VerifySettings};
use crate::aws::Clients;

pub(crate) use crate::clock::FakeClock;

/// Mock rules per service; calls no rule answers get HTTP 418 (an error), never a panic.
#[derive(Default)]
pub(crate) struct Mocks {
    pub ecs: Vec<Rule>,
    pub elbv2: Vec<Rule>,
    pub sts: Vec<Rule>,
    pub servicediscovery: Vec<Rule>,
    pub iam: Vec<Rule>,
}

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    rules
        .iter()
        .fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny).allow_passthrough(), |i, r| {
            i.with_rule(r)
        })
}

impl Mocks {
    /// Clients over the mocks: no retries (the engine's own back-off is under test), test keys.
    pub fn clients(&self) -> Clients {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "SECRET", None, None, "test",
            )))
            .retry_config(RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .build();
        let mut clients = Clients::new(config.clone());
        clients.ecs = aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&config).interceptor(interceptor(&self.ecs)).build(),
        );
        clients.elbv2 = aws_sdk_elasticloadbalancingv2::Client::from_conf(
            aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
                .interceptor(interceptor(&self.elbv2))
                .build(),
        );
        clients.sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&config).interceptor(interceptor(&self.sts)).build(),
        );
        clients.servicediscovery = aws_sdk_servicediscovery::Client::from_conf(
            aws_sdk_servicediscovery::config::Builder::from(&config)
                .interceptor(interceptor(&self.servicediscovery))
                .build(),
        );
        clients.iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&config).interceptor(interceptor(&self.iam)).build(),
        );
        clients
    }

    /// A verifier over the mocks on a fake clock.
    pub fn verifier(&self, clock: Arc<FakeClock>, settings: VerifySettings) -> Verifier {
        Verifier::new(Arc::new(self.clients()), settings).with_clock(clock)
    }
}
