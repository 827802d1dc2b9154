//! Amazon EC2 over its Query API (version 2016-11-15), for the VPC resources cleanup looks up,
//! tags and deletes, and the VPCs `validate --preflight` counts. A light client ([`super::lite`]):
//! the SDK's runtime does the signing, retries and transport; this module writes the
//! form-encoded request and reads the XML answer into a small tree ([`Xml`]).
//!
//! ```text
//! clients.ec2.request("DescribeSubnets").filter("vpc-id", vpc).send_all("subnetSet").await?
//! ```

use std::sync::Arc;

use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_types::error::ErrorMetadata;
use aws_types::SdkConfig;

use super::lite::{self, LiteError, Service};

/// The API version every request names.
const VERSION: &str = "2016-11-15";

const SERVICE: Service = Service { id: "EC2", endpoint_prefix: "ec2", signing_name: "ec2" };

/// One EC2 action and its parameters, as sent (`GroupId.1`, `Filter.1.Name`, ...). Public so
/// tests can match requests by action and parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Call {
    /// The action (`DescribeVpcs`).
    pub action: &'static str,
    /// The parameters in order, names in the Query API's flattened form.
    pub params: Vec<(String, String)>,
}

impl Ec2Call {
    /// The value of parameter `name`, if set.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The form-encoded body: `Action=...&Version=...&<params>`.
    fn body(&self) -> String {
        let mut body = format!("Action={}&Version={VERSION}", self.action);
        for (name, value) in &self.params {
            body.push('&');
            body.push_str(&encode(name));
            body.push('=');
            body.push_str(&encode(value));
        }
        body
    }
}

/// Percent-encodes all but the unreserved characters (RFC 3986), as the SDK's Query writer does.
fn encode(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(text, KEEP).to_string()
}

/// The EC2 client.
#[derive(Clone)]
pub struct Ec2 {
    operation: Arc<Operation<Ec2Call, Xml, ErrorMetadata>>,
}

impl std::fmt::Debug for Ec2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ec2")
    }
}

impl Ec2 {
    /// A client from the shared configuration.
    pub fn new(config: &SdkConfig) -> Self {
        Self::with_interceptor(config, None)
    }

    /// A client whose calls also pass `interceptor` (tests: aws-smithy-mocks).
    pub(crate) fn with_interceptor(config: &SdkConfig, interceptor: Option<SharedInterceptor>) -> Self {
        let operation = lite::operation(
            config,
            SERVICE,
            |call: Ec2Call| {
                lite::post(call.body().into_bytes(), "application/x-www-form-urlencoded; charset=utf-8", &[])
            },
            deserialize,
            interceptor,
        );
        Ec2 { operation: Arc::new(operation) }
    }

    /// A request of `action`; parameters are added to it, then it is sent.
    pub fn request(&self, action: &'static str) -> Ec2Request<'_> {
        Ec2Request { client: self, call: Ec2Call { action, params: Vec::new() }, filters: 0 }
    }
}

/// A request being built: [`Ec2Request::param`], [`Ec2Request::filter`], then
/// [`Ec2Request::send`] or [`Ec2Request::send_all`].
#[derive(Debug, Clone)]
pub struct Ec2Request<'a> {
    client: &'a Ec2,
    call: Ec2Call,
    filters: usize,
}

impl Ec2Request<'_> {
    /// Adds a parameter, named as on the wire (`GroupId`, `VpcId.1`, `Tag.1.Key`).
    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.call.params.push((name.to_string(), value.into()));
        self
    }

    /// Adds a filter with one value (`Filter.N.Name`, `Filter.N.Value.1`).
    pub fn filter(mut self, name: &str, value: impl Into<String>) -> Self {
        self.filters += 1;
        let n = self.filters;
        self.call.params.push((format!("Filter.{n}.Name"), name.to_string()));
        self.call.params.push((format!("Filter.{n}.Value.1"), value.into()));
        self
    }

    /// Sends the request; the answer's root element.
    pub async fn send(self) -> Result<Xml, LiteError> {
        self.client.operation.invoke(self.call).await
    }

    /// Sends the request and every further page (`NextToken`); the `item`s of each page's
    /// `set` element (`vpcSet`, `reservationSet`), in order.
    pub async fn send_all(self, set: &str) -> Result<Vec<Xml>, LiteError> {
        let mut items = Vec::new();
        let mut call = self.call;
        loop {
            let page = self.client.operation.invoke(call.clone()).await?;
            items.extend(page.items(set).cloned());
            match page.text("nextToken").filter(|t| !t.is_empty()) {
                Some(token) => {
                    call.params.retain(|(k, _)| k != "NextToken");
                    call.params.push(("NextToken".into(), token.to_string()));
                }
                None => return Ok(items),
            }
        }
    }
}

/// A successful answer's root element, or the error an EC2 error document describes
/// (`<Response><Errors><Error><Code>...`).
fn deserialize(response: &HttpResponse) -> Result<Xml, OrchestratorError<ErrorMetadata>> {
    let body = std::str::from_utf8(response.body().bytes().unwrap_or_default()).unwrap_or_default();
    let doc = Xml::parse(body);
    if response.status().is_success() {
        return doc.map_err(|e| {
            OrchestratorError::other(format!("EC2 answered with XML labrunner cannot read: {e}"))
        });
    }
    let Ok(doc) = doc else { return Err(lite::unreadable(response, body)) };
    let Some(error) = doc.child("Errors").and_then(|e| e.child("Error")) else {
        return Err(lite::unreadable(response, body));
    };
    let mut meta = ErrorMetadata::builder();
    if let Some(code) = error.text("Code") {
        meta = meta.code(code);
    }
    if let Some(message) = error.text("Message") {
        meta = meta.message(message);
    }
    if let Some(id) = doc.text("RequestID") {
        meta = meta.custom("request_id", id);
    }
    Err(OrchestratorError::operation(meta.build()))
}

/// An XML element as a small owned tree: name (without namespace), text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Xml {
    /// The local name.
    pub name: String,
    /// The text directly inside it (trimmed).
    pub text: String,
    /// The child elements, in order.
    pub children: Vec<Xml>,
}

impl Xml {
    /// Parses a document into its root element.
    pub fn parse(text: &str) -> Result<Xml, String> {
        let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
        fn build(node: roxmltree::Node<'_, '_>) -> Xml {
            let mut text = String::new();
            let mut children = Vec::new();
            for child in node.children() {
                if child.is_element() {
                    children.push(build(child));
                } else if let Some(t) = child.text() {
                    text.push_str(t);
                }
            }
            Xml { name: node.tag_name().name().to_string(), text: text.trim().to_string(), children }
        }
        Ok(build(doc.root_element()))
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Xml> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the element at `path` (`instanceState/name`), if there is one.
    pub fn text(&self, path: &str) -> Option<&str> {
        let mut node = self;
        for part in path.split('/') {
            node = node.child(part)?;
        }
        Some(node.text.as_str())
    }

    /// The `item`s of the child list `set` (`vpcSet`, `associationSet`).
    pub fn items<'a>(&'a self, set: &str) -> impl Iterator<Item = &'a Xml> {
        self.child(set).into_iter().flat_map(|s| s.children.iter().filter(|c| c.name == "item"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::lite::answer as response;

    #[test]
    fn a_call_is_form_encoded_with_the_action_and_version_first() {
        let call = Ec2Call {
            action: "DescribeSubnets",
            params: vec![
                ("Filter.1.Name".into(), "tag:Name".into()),
                ("Filter.1.Value.1".into(), "web tier/a+b=c".into()),
            ],
        };
        assert_eq!(
            call.body(),
            "Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=web%20tier%2Fa%2Bb%3Dc"
        );
    }

    #[test]
    fn answers_read_into_a_tree_with_namespaces_dropped_and_sets_as_items() {
        let xml = Xml::parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
              <requestId>r-1</requestId>
              <reservationSet>
                <item><instancesSet>
                  <item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState></item>
                  <item><instanceId>i-2</instanceId><instanceState><name>terminated</name></instanceState></item>
                </instancesSet></item>
              </reservationSet>
              <nextToken/>
            </DescribeInstancesResponse>"#,
        )
        .unwrap();
        assert_eq!(xml.name, "DescribeInstancesResponse");
        let states: Vec<(&str, &str)> = xml
            .items("reservationSet")
            .flat_map(|r| r.items("instancesSet"))
            .map(|i| (i.text("instanceId").unwrap(), i.text("instanceState/name").unwrap()))
            .collect();
        assert_eq!(states, [("i-1", "running"), ("i-2", "terminated")]);
        assert_eq!(xml.text("nextToken"), Some(""));
        assert_eq!(xml.text("missing/path"), None);
        assert_eq!(xml.items("missingSet").count(), 0);
        assert!(Xml::parse("<unclosed>").is_err());
    }

    #[test]
    fn an_error_document_gives_the_code_message_and_request_id() {
        let err = deserialize(&response(
            400,
            "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-1' does not exist</Message></Error></Errors><RequestID>req-9</RequestID></Response>",
        ))
        .unwrap_err();
        let meta = err.as_operation_error().expect("an operation error");
        assert_eq!(meta.code(), Some("InvalidVpcID.NotFound"));
        assert_eq!(meta.message(), Some("The vpc ID 'vpc-1' does not exist"));
        assert_eq!(meta.extra("request_id"), Some("req-9"));
    }

    #[test]
    fn an_unreadable_failure_keeps_its_status_and_a_5xx_stays_retryable() {
        let err = deserialize(&response(502, "<html>Bad gateway</html>")).unwrap_err();
        let meta = err.as_operation_error().unwrap();
        assert_eq!(meta.code(), Some("InternalFailure"));
        assert_eq!(meta.message(), Some("HTTP 502: <html>Bad gateway</html>"));
        assert_eq!(
            crate::aws::ErrorClass::from_code(meta.code().unwrap(), Some(502)),
            crate::aws::ErrorClass::Transient
        );
        let ok = deserialize(&response(200, "<DeleteVpcResponse><return>true</return></DeleteVpcResponse>"))
            .unwrap();
        assert_eq!(ok.text("return"), Some("true"));
    }
}
