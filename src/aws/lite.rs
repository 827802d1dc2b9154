//! Light clients for services whose generated SDK crate costs far more build time than the few
//! calls labrunner makes of it: EC2 ([`super::ec2`], ~25 of its 700 operations, and the biggest
//! generated crate by far) and Systems Manager ([`super::ssm`], 3 of 150).
//!
//! They are not a second HTTP stack: each call runs through the SDK's own orchestrator
//! (`aws_smithy_runtime`'s `Operation`) with what the generated clients use, taken from the same
//! [`SdkConfig`]: its HTTP client, SigV4 signing with its credentials and identity cache, its
//! standard retries (throttling, 5xx, dropped connections), timeouts, sleep and time source, and
//! the endpoint the generated clients would pick (`--endpoint-url`, `AWS_ENDPOINT_URL_<SERVICE>`,
//! `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else the regional endpoint). Errors are the
//! SDK's `SdkError` around [`ErrorMetadata`], so every reading of SDK errors (codes, classes,
//! messages) works unchanged, and unit tests answer them with aws-smithy-mocks rules.

use aws_runtime::auth::sigv4::{SigV4AuthScheme, SCHEME_ID as SIGV4};
use aws_runtime::auth::SigV4OperationSigningConfig;
use aws_runtime::retries::classifiers::AwsErrorCodeClassifier;
use aws_runtime::service_clock_skew::{ServiceClockSkewClassifier, ServiceClockSkewInterceptor};
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime::client::retries::classifiers::{HttpStatusCodeClassifier, TransientErrorClassifier};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::auth::{AuthSchemeOptionResolverParams, SharedAuthScheme};
use aws_smithy_runtime_api::client::identity::SharedIdentityResolver;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_runtime_api::client::runtime_plugin::StaticRuntimePlugin;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{FrozenLayer, Layer};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::SigningRegion;
use aws_types::SdkConfig;
use aws_types::SigningName;

/// What a call of a light client fails with: the SDK's error around the service's code and
/// message.
pub type LiteError = SdkError<ErrorMetadata, HttpResponse>;

/// How to reach and sign for one service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    /// The SDK's service id, for `AWS_ENDPOINT_URL_<ID>` and the profile's `services` section
    /// ("EC2", "SSM").
    pub id: &'static str,
    /// The endpoint's host prefix ("ec2" → `ec2.eu-west-1.amazonaws.com`).
    pub endpoint_prefix: &'static str,
    /// The SigV4 signing name.
    pub signing_name: &'static str,
}

/// A service's operation over the SDK's runtime, made from `config`: `serialize` turns the
/// input into a request (its path and body; the endpoint is added), `deserialize` reads a
/// response. `interceptor` is for tests (aws-smithy-mocks).
pub(crate) fn operation<I, O>(
    config: &SdkConfig,
    service: Service,
    serialize: impl Fn(I) -> Result<HttpRequest, BoxError> + Send + Sync + 'static,
    deserialize: impl Fn(&HttpResponse) -> Result<O, OrchestratorError<ErrorMetadata>> + Send + Sync + 'static,
    interceptor: Option<SharedInterceptor>,
) -> Operation<I, O, ErrorMetadata>
where
    I: std::fmt::Debug + Send + Sync + 'static,
    O: std::fmt::Debug + Send + Sync + 'static,
{
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    let mut builder = Operation::builder()
        .service_name(service.endpoint_prefix)
        .operation_name(service.id)
        .behavior_version(aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest())
        .endpoint_url(&endpoint(config, service))
        .standard_retry(&config.retry_config().cloned().unwrap_or_else(RetryConfig::standard))
        .retry_classifier(AwsErrorCodeClassifier::<ErrorMetadata>::new())
        .retry_classifier(TransientErrorClassifier::<ErrorMetadata>::new())
        .retry_classifier(HttpStatusCodeClassifier::default())
        // As the generated clients: a request refused for a skewed clock is signed again at the
        // service's time, and a connection that failed is not reused.
        .interceptor(ServiceClockSkewInterceptor::new())
        .retry_classifier(ServiceClockSkewClassifier::<ErrorMetadata>::new())
        .with_connection_poisoning()
        .timeout_config(config.timeout_config().cloned().unwrap_or_else(TimeoutConfig::disabled))
        .runtime_plugin(signing(config, service, &region))
        .serializer(serialize)
        .deserializer(deserialize);
    // A configuration made without one (a test's) gets the client `load_config` would give it.
    builder = builder.http_client(config.http_client().unwrap_or_else(super::http_client));
    if let Some(sleep) = config.sleep_impl() {
        builder = builder.sleep_impl(sleep);
    }
    if let Some(time) = config.time_source() {
        builder = builder.time_source(time);
    }
    if let Some(interceptor) = interceptor {
        builder = builder.interceptor(interceptor);
    }
    builder.build()
}

/// SigV4 with the configuration's credentials, through its identity cache (or a lazy cache of
/// our own when it has none), for `service` in `region`.
fn signing(config: &SdkConfig, service: Service, region: &str) -> StaticRuntimePlugin {
    let mut layer = Layer::new("labrunner-sigv4");
    layer.store_put(AuthSchemeOptionResolverParams::new(()));
    layer.store_put(SigV4OperationSigningConfig {
        region: Some(SigningRegion::from(aws_types::region::Region::new(region.to_string()))),
        name: Some(SigningName::from_static(service.signing_name)),
        ..Default::default()
    });
    let mut components = RuntimeComponentsBuilder::new("labrunner-sigv4")
        .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![SIGV4])))
        .with_auth_scheme(SharedAuthScheme::new(SigV4AuthScheme::new()))
        .with_identity_cache(Some(config.identity_cache().unwrap_or_else(|| IdentityCache::lazy().build())));
    if let Some(credentials) = config.credentials_provider() {
        components = components.with_identity_resolver(SIGV4, SharedIdentityResolver::new(credentials));
    }
    StaticRuntimePlugin::new().with_config(FrozenLayer::from(layer)).with_runtime_components(components)
}

/// The endpoint a generated client of `service` would use: an endpoint set in code
/// (`--endpoint-url`) first, then the service's own (`AWS_ENDPOINT_URL_EC2`, the profile's
/// `services` section), then the global one (`AWS_ENDPOINT_URL`, the profile's
/// `endpoint_url`), else the regional endpoint of the region's partition.
pub(crate) fn endpoint(config: &SdkConfig, service: Service) -> String {
    use aws_types::service_config::ServiceConfigKey;
    let configured = if config.get_origin("endpoint_url").is_client_config() {
        config.endpoint_url().map(str::to_string)
    } else {
        config
            .service_config()
            .and_then(|c| {
                c.load_config(
                    ServiceConfigKey::builder()
                        .service_id(service.id)
                        .env("AWS_ENDPOINT_URL")
                        .profile("endpoint_url")
                        .build()
                        .expect("all fields set"),
                )
            })
            .or_else(|| config.endpoint_url().map(str::to_string))
    };
    configured.unwrap_or_else(|| {
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        regional_endpoint(
            service.endpoint_prefix,
            &region,
            config.use_fips().unwrap_or(false),
            config.use_dual_stack().unwrap_or(false),
        )
    })
}

/// `https://ec2.eu-west-1.amazonaws.com`, with the partition's domain (China, the ISO
/// partitions, European Sovereign Cloud), FIPS (`ec2-fips.`) and dual-stack (`api.aws`)
/// variants as the services' endpoint rules give them: ECR's dual-stack API is `ecr.` (not
/// `api.ecr.`), Secrets Manager's dual-stack endpoint keeps the partition's domain, and in
/// GovCloud the regular endpoints of EC2, SSM, CloudWatch Logs, DynamoDB and ACM are the FIPS
/// ones.
pub(crate) fn regional_endpoint(prefix: &str, region: &str, fips: bool, dual_stack: bool) -> String {
    let (domain, dual_domain) = if region.starts_with("cn-") {
        ("amazonaws.com.cn", "api.amazonwebservices.com.cn")
    } else if region.starts_with("us-isob-") {
        ("sc2s.sgov.gov", "sc2s.sgov.gov")
    } else if region.starts_with("us-isof-") {
        ("csp.hci.ic.gov", "csp.hci.ic.gov")
    } else if region.starts_with("us-iso-") {
        ("c2s.ic.gov", "c2s.ic.gov")
    } else if region.starts_with("eu-isoe-") {
        ("cloud.adc-e.uk", "cloud.adc-e.uk")
    } else if region.starts_with("eusc-") {
        ("amazonaws.eu", "amazonaws.eu")
    } else {
        ("amazonaws.com", "api.aws")
    };
    let fips_by_default =
        region.starts_with("us-gov-") && matches!(prefix, "ec2" | "ssm" | "logs" | "dynamodb" | "acm");
    let prefix = if dual_stack && prefix == "api.ecr" { "ecr" } else { prefix };
    let host = if fips && !fips_by_default { format!("{prefix}-fips") } else { prefix.to_string() };
    let domain = if dual_stack && prefix != "secretsmanager" { dual_domain } else { domain };
    format!("https://{host}.{region}.{domain}")
}

/// A POST of `body` to `/` with `content_type` and `headers`.
pub(crate) fn post(
    body: Vec<u8>,
    content_type: &str,
    headers: &[(&'static str, String)],
) -> Result<HttpRequest, BoxError> {
    let length = body.len();
    let mut request = HttpRequest::new(SdkBody::from(body));
    request.set_method("POST")?;
    request.set_uri("/")?;
    request.headers_mut().insert("content-type", content_type.to_string());
    request.headers_mut().insert("content-length", length.to_string());
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.clone());
    }
    Ok(request)
}

/// An error for an answer the service's error format does not describe (a proxy's HTML
/// page, an empty 500): its status and the start of its body. A 5xx stays retryable.
pub(crate) fn unreadable(response: &HttpResponse, body: &str) -> OrchestratorError<ErrorMetadata> {
    let status = response.status().as_u16();
    let excerpt: String = body.chars().take(200).collect();
    let meta = ErrorMetadata::builder().message(format!(
        "HTTP {status}{}{}",
        if excerpt.is_empty() { "" } else { ": " },
        excerpt.trim()
    ));
    let meta = match status {
        500.. => meta.code("InternalFailure"),
        429 => meta.code("Throttling"),
        _ => meta,
    };
    OrchestratorError::operation(meta.build())
}

/// An HTTP answer with `status` and `body`, for the light clients' deserializer tests.
#[cfg(test)]
pub(crate) fn answer(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_endpoints_follow_the_partition_and_the_variants() {
        assert_eq!(
            regional_endpoint("ec2", "eu-west-1", false, false),
            "https://ec2.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("ec2", "cn-north-1", false, false),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
        // GovCloud's regular SSM endpoint is its FIPS one; elsewhere FIPS has its own host.
        assert_eq!(
            regional_endpoint("ssm", "us-gov-west-1", true, false),
            "https://ssm.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("ssm", "eu-west-1", true, false),
            "https://ssm-fips.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("api.ecr", "eu-west-1", false, false),
            "https://api.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(regional_endpoint("api.ecr", "eu-west-1", false, true), "https://ecr.eu-west-1.api.aws");
        assert_eq!(
            regional_endpoint("secretsmanager", "eu-west-1", false, true),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(regional_endpoint("ec2", "us-east-1", false, true), "https://ec2.us-east-1.api.aws");
        assert_eq!(
            regional_endpoint("ec2", "us-iso-east-1", false, false),
            "https://ec2.us-iso-east-1.c2s.ic.gov"
        );
    }

    #[test]
    fn an_endpoint_set_in_code_wins_and_otherwise_the_region_decides() {
        let ec2 = Service { id: "EC2", endpoint_prefix: "ec2", signing_name: "ec2" };
        let config = SdkConfig::builder()
            .region(aws_types::region::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:5000")
            .build();
        assert_eq!(endpoint(&config, ec2), "http://127.0.0.1:5000");
        let config = SdkConfig::builder().region(aws_types::region::Region::new("eu-west-1")).build();
        assert_eq!(endpoint(&config, ec2), "https://ec2.eu-west-1.amazonaws.com");
    }
}
