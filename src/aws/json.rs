//! The services labrunner reaches over the AWS JSON protocol (`X-Amz-Target: <prefix>.<Action>`,
//! a JSON document each way) with a light client ([`super::lite`]): the SDK's runtime does the
//! signing, retries and transport; this module writes the document and reads the answer or
//! the error. Each service is used for a handful of calls (look up, tag, delete, and a check
//! or two), far fewer than its generated crate compiles:
//!
//! | client | service | calls |
//! |---|---|---|
//! | [`SSM`] | Systems Manager Parameter Store | GetParameter, AddTagsToResource, DeleteParameter |
//! | [`LOGS`] | CloudWatch Logs | DescribeLogGroups, FilterLogEvents, DescribeLogStreams, GetLogEvents, TagResource, DeleteLogGroup |
//! | [`DYNAMODB`] | DynamoDB | DescribeTable, TagResource, DeleteTable |
//! | [`ECR`] | Elastic Container Registry | DescribeRepositories, TagResource, DeleteRepository |
//! | [`ACM`] | Certificate Manager | ListCertificates, DescribeCertificate, AddTagsToCertificate, DeleteCertificate |
//! | [`SECRETS`] | Secrets Manager | DescribeSecret, TagResource, DeleteSecret (metadata only: never a value) |

use std::sync::Arc;

use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_types::error::ErrorMetadata;
use aws_types::SdkConfig;
use serde_json::Value;

use super::lite::{self, LiteError, Service};

/// A JSON-protocol service: where it is, how it signs, its target prefix and JSON version.
#[derive(Debug, Clone, Copy)]
pub struct JsonService {
    service: Service,
    /// `X-Amz-Target`'s prefix (`AmazonSSM`).
    target: &'static str,
    /// `application/x-amz-json-<version>`.
    version: &'static str,
}

/// AWS Systems Manager (Parameter Store).
pub const SSM: JsonService = JsonService {
    service: Service { id: "SSM", endpoint_prefix: "ssm", signing_name: "ssm" },
    target: "AmazonSSM",
    version: "1.1",
};
/// Amazon CloudWatch Logs.
pub const LOGS: JsonService = JsonService {
    service: Service { id: "CloudWatch Logs", endpoint_prefix: "logs", signing_name: "logs" },
    target: "Logs_20140328",
    version: "1.1",
};
/// Amazon DynamoDB.
pub const DYNAMODB: JsonService = JsonService {
    service: Service { id: "DynamoDB", endpoint_prefix: "dynamodb", signing_name: "dynamodb" },
    target: "DynamoDB_20120810",
    version: "1.0",
};
/// Amazon Elastic Container Registry (its API answers at `api.ecr.<region>`).
pub const ECR: JsonService = JsonService {
    service: Service { id: "ECR", endpoint_prefix: "api.ecr", signing_name: "ecr" },
    target: "AmazonEC2ContainerRegistry_V20150921",
    version: "1.1",
};
/// AWS Certificate Manager.
pub const ACM: JsonService = JsonService {
    service: Service { id: "ACM", endpoint_prefix: "acm", signing_name: "acm" },
    target: "CertificateManager",
    version: "1.1",
};
/// AWS Secrets Manager.
pub const SECRETS: JsonService = JsonService {
    service: Service {
        id: "Secrets Manager",
        endpoint_prefix: "secretsmanager",
        signing_name: "secretsmanager",
    },
    target: "secretsmanager",
    version: "1.1",
};

/// One action and its JSON input. Public so tests can match requests.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCall {
    /// The action (`GetParameter`).
    pub action: &'static str,
    /// The input document.
    pub input: Value,
}

/// A client of one JSON-protocol service.
#[derive(Clone)]
pub struct JsonClient {
    name: &'static str,
    operation: Arc<Operation<JsonCall, Value, ErrorMetadata>>,
}

impl std::fmt::Debug for JsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonClient({})", self.name)
    }
}

impl JsonClient {
    /// A client of `service` from the shared configuration.
    pub fn new(config: &SdkConfig, service: JsonService) -> Self {
        Self::with_interceptor(config, service, None)
    }

    /// A client whose calls also pass `interceptor` (tests: aws-smithy-mocks).
    pub(crate) fn with_interceptor(
        config: &SdkConfig,
        service: JsonService,
        interceptor: Option<SharedInterceptor>,
    ) -> Self {
        let content_type = format!("application/x-amz-json-{}", service.version);
        let operation = lite::operation(
            config,
            service.service,
            move |call: JsonCall| {
                lite::post(
                    serde_json::to_vec(&call.input)?,
                    &content_type,
                    &[("x-amz-target", format!("{}.{}", service.target, call.action))],
                )
            },
            deserialize,
            interceptor,
        );
        JsonClient { name: service.service.id, operation: Arc::new(operation) }
    }

    /// Sends `action` with `input`; the answer's document.
    pub async fn call(&self, action: &'static str, input: Value) -> Result<Value, LiteError> {
        self.operation.invoke(JsonCall { action, input }).await
    }
}

/// The answer's document, or the error it describes (`{"__type": "...#ParameterNotFound",
/// "message": "..."}`, or the `x-amzn-errortype` header).
fn deserialize(response: &HttpResponse) -> Result<Value, OrchestratorError<ErrorMetadata>> {
    let bytes = response.body().bytes().unwrap_or_default();
    let body = String::from_utf8_lossy(bytes);
    let doc: Result<Value, _> =
        if bytes.is_empty() { Ok(Value::Null) } else { serde_json::from_slice(bytes) };
    if response.status().is_success() {
        return doc.map_err(|e| {
            OrchestratorError::other(format!("the answer is not JSON labrunner can read: {e}"))
        });
    }
    let doc = doc.unwrap_or(Value::Null);
    // Where the SDK's JSON protocols look, in its order: the header, then `code`, then `__type`.
    let field = |name: &str| doc.get(name).and_then(Value::as_str);
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .or_else(|| field("code"))
        .or_else(|| field("__type"))
        .map(error_code);
    let Some(code) = code else { return Err(lite::unreadable(response, &body)) };
    let mut meta = ErrorMetadata::builder().code(code);
    if let Some(message) = field("message").or_else(|| field("Message")).or_else(|| field("errorMessage")) {
        meta = meta.message(message);
    }
    Err(OrchestratorError::operation(meta.build()))
}

/// `com.amazonaws.ssm#ParameterNotFound:http://...` → `ParameterNotFound`.
fn error_code(raw: &str) -> &str {
    let code = raw.split(':').next().unwrap_or(raw);
    code.rsplit('#').next().unwrap_or(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::lite::answer as response;

    #[test]
    fn error_types_lose_their_namespace_and_suffix() {
        assert_eq!(error_code("com.amazonaws.ssm#ParameterNotFound"), "ParameterNotFound");
        assert_eq!(error_code("ParameterNotFound:http://internal.amazon.com/coral/"), "ParameterNotFound");
        assert_eq!(error_code("ThrottlingException"), "ThrottlingException");
    }

    #[test]
    fn an_error_document_gives_the_code_and_message() {
        let err = deserialize(&response(
            400,
            r#"{"__type":"ParameterNotFound","message":"Parameter /x not found."}"#,
        ))
        .unwrap_err();
        let meta = err.as_operation_error().unwrap();
        assert_eq!(meta.code(), Some("ParameterNotFound"));
        assert_eq!(meta.message(), Some("Parameter /x not found."));
        let ok =
            deserialize(&response(200, r#"{"Parameter":{"ARN":"arn:aws:ssm:eu-west-1:1:parameter/x"}}"#))
                .unwrap();
        assert_eq!(ok["Parameter"]["ARN"], "arn:aws:ssm:eu-west-1:1:parameter/x");
        let err = deserialize(&response(503, "")).unwrap_err();
        assert_eq!(err.as_operation_error().unwrap().code(), Some("InternalFailure"));
    }
}
