//! `http`: one request (env proxies honoured, 5 s timeout), then status, body text and a JSON
//! path compared. Connection failures are observations: the endpoint may not be up yet.

use std::time::Duration;

use serde_json::Value;

use super::text::{one_line, truncate};
use super::{Fetch, LookError, Verdict};
use crate::lab::check::Http;

/// The per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Files whose PEM certificates are trusted besides the public roots: a corporate proxy's CA,
/// or the local sandbox's, which signs what its load balancers present over HTTPS.
const CA_BUNDLE_VARS: &[&str] = &["LABRUNNER_CA_BUNDLE", "AWS_CA_BUNDLE", "SSL_CERT_FILE"];

/// The shared HTTP client: rustls with the public roots plus any CA bundle the environment
/// names, environment proxies, short timeouts.
pub(crate) fn client() -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("labrunner/", env!("CARGO_PKG_VERSION")));
    for var in CA_BUNDLE_VARS {
        let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else { continue };
        // An unreadable bundle leaves the public roots: the check then says which certificate
        // it could not trust, which names the problem better than failing here.
        let Ok(pem) = std::fs::read(&path) else { continue };
        for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default() {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().unwrap_or_default()
}

/// What the endpoint answered, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpObs {
    /// A response.
    Response { status: u16, body: String },
    /// No response: refused, timed out, TLS failure.
    Failed(String),
}

/// A step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(i64),
}

/// Parses `$.a.b[0]['c d']`.
fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let rest =
        path.trim().strip_prefix('$').ok_or_else(|| format!("JSON path {path:?} must start with $"))?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
                    end += 1;
                }
                if end == start {
                    return Err(format!("JSON path {path:?}: empty key at {}", i + 1));
                }
                steps.push(Step::Key(chars[start..end].iter().collect()));
                i = end;
            }
            '[' => {
                let close = chars[i..].iter().position(|&c| c == ']').map(|p| p + i);
                let Some(close) = close else {
                    return Err(format!("JSON path {path:?}: unclosed ["));
                };
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match (quoted, inner.parse::<i64>()) {
                    (Some(key), _) => steps.push(Step::Key(key.to_string())),
                    (None, Ok(n)) => steps.push(Step::Index(n)),
                    _ => {
                        return Err(format!(
                            "JSON path {path:?}: [{inner}] is neither an index nor a quoted key"
                        ))
                    }
                }
                i = close + 1;
            }
            c => return Err(format!("JSON path {path:?}: unexpected {c:?} at {}", i + 1)),
        }
    }
    Ok(steps)
}

/// The value at `path` in `doc`; `Ok(None)` when the path does not exist there.
pub(crate) fn json_path<'a>(doc: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let mut at = doc;
    for step in parse_path(path)? {
        let next = match (&step, at) {
            (Step::Key(k), Value::Object(map)) => map.get(k),
            (Step::Index(n), Value::Array(items)) => {
                let idx = if *n < 0 { items.len() as i64 + n } else { *n };
                usize::try_from(idx).ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return Ok(None),
        }
    }
    Ok(Some(at))
}

/// A JSON value as text: strings without quotes, everything else as compact JSON.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `http`, pure.
pub(crate) fn evaluate_http(p: &Http, obs: &HttpObs) -> Verdict {
    let head = format!("{} {}", p.method_or_get(), p.url);
    let (status, body) = match obs {
        HttpObs::Failed(why) => return Verdict::fail(format!("{head}: {why}")),
        HttpObs::Response { status, body } => (*status, body),
    };
    let want = p.status.unwrap_or(200);
    let head = format!("{head} → {status}");
    if status != want {
        return Verdict::fail(format!("{head} (expected {want}): {}", one_line(&truncate(body, 120), 120)));
    }
    if let Some(text) = &p.body_contains {
        if !body.contains(text.as_str()) {
            return Verdict::fail(format!("{head}, body does not contain {text:?}"));
        }
    }
    let Some(path) = &p.json_path else {
        let mut evidence = format!("{head}, {} bytes", body.len());
        if let Some(text) = &p.body_contains {
            evidence.push_str(&format!(", contains {text:?}"));
        }
        return Verdict::pass(evidence);
    };
    let doc: Value = match serde_json::from_str(body) {
        Ok(doc) => doc,
        Err(e) => return Verdict::fail(format!("{head}, body is not JSON ({e})")),
    };
    match json_path(&doc, path) {
        // A malformed path is a mistake in the lab: no response will ever satisfy it.
        Err(bad) => Verdict::fail_now(bad),
        Ok(None) => Verdict::fail(format!("{head}, {path} is not in the body")),
        Ok(Some(v)) => {
            let got = value_text(v);
            let shown = truncate(&one_line(&got, 200), 80);
            match &p.equals {
                Some(want) if &got != want => {
                    Verdict::fail(format!("{head}, {path} = {shown:?}, expected {want:?}"))
                }
                _ => Verdict::pass(format!("{head}, {path} = {shown:?}")),
            }
        }
    }
}

async fn request(ctx: &Fetch<'_>, p: &Http) -> Result<HttpObs, String> {
    let method = reqwest::Method::from_bytes(p.method_or_get().to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("{} is not an HTTP method", p.method_or_get()))?;
    let mut req = ctx
        .http
        .request(method, &p.url)
        .timeout(REQUEST_TIMEOUT.min(ctx.remaining.max(Duration::from_secs(1))));
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    if let Some(body) = &p.body {
        req = req.body(body.clone());
    }
    ctx.count();
    Ok(match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(body) => HttpObs::Response { status, body },
                Err(e) => HttpObs::Failed(format!("reading the body: {}", error_chain(&e))),
            }
        }
        Err(e) => HttpObs::Failed(error_chain(&e)),
    })
}

/// reqwest's message and its causes ("error sending request: connection refused").
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// `http`: one request.
pub(crate) async fn http(ctx: &Fetch<'_>, p: &Http) -> Result<Verdict, LookError> {
    Ok(match request(ctx, p).await {
        Ok(obs) => evaluate_http(p, &obs),
        Err(bad) => Verdict::fail_now(bad),
    })
}

/// The status and the first 200 bytes of the body, from a fresh request.
pub(crate) async fn diagnose(ctx: &Fetch<'_>, p: &Http) -> Result<Vec<String>, LookError> {
    Ok(match request(ctx, p).await {
        Ok(HttpObs::Response { status, body }) => {
            let cut: String = body.char_indices().take_while(|(i, _)| *i < 200).map(|(_, c)| c).collect();
            vec![format!("HTTP {status}; body: {}", one_line(&cut, 220))]
        }
        Ok(HttpObs::Failed(why)) => vec![format!("no response: {why}")],
        Err(bad) => vec![bad],
    })
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};
    use serde_json::json;

    #[test]
    fn json_path_table() {
        let doc = json!({"a": {"b": [{"c": 1}, {"c": "two"}]}, "k e y": true, "n": null, "list": [1, 2, 3]});
        #[rustfmt::skip]
        let cases: Vec<(&str, Result<Option<Value>, ()>)> = vec![
            ("$", Ok(Some(doc.clone()))),
            ("$.a.b[0].c", Ok(Some(json!(1)))),
            ("$.a.b[1].c", Ok(Some(json!("two")))),
            ("$['k e y']", Ok(Some(json!(true)))),
            ("$[\"a\"].b[0]", Ok(Some(json!({"c": 1})))),
            ("$.list[-1]", Ok(Some(json!(3)))),
            ("$.n", Ok(Some(Value::Null))),
            ("$.a.b[5].c", Ok(None)),
            ("$.missing", Ok(None)),
            ("$.a.b.c", Ok(None)),
            ("$.list[-9]", Ok(None)),
            ("a.b", Err(())),
            ("$.", Err(())),
            ("$.a[", Err(())),
            ("$.a[x]", Err(())),
            ("$a", Err(())),
        ];
        for (path, want) in cases {
            let got = json_path(&doc, path).map(|o| o.cloned()).map_err(|_| ());
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn value_text_unquotes_strings_only() {
        assert_eq!(value_text(&json!("ok")), "ok");
        assert_eq!(value_text(&json!(3)), "3");
        assert_eq!(value_text(&json!(true)), "true");
        assert_eq!(value_text(&json!(null)), "null");
        assert_eq!(value_text(&json!({"a":1})), r#"{"a":1}"#);
    }

    fn h() -> Http {
        Http {
            url: "http://lb/health".into(),
            method: None,
            headers: Default::default(),
            body: None,
            status: None,
            body_contains: None,
            json_path: None,
            equals: None,
        }
    }

    fn resp(status: u16, body: &str) -> HttpObs {
        HttpObs::Response { status, body: body.into() }
    }

    #[test]
    fn http_table() {
        #[rustfmt::skip]
        let cases: Vec<(&str, Http, HttpObs, crate::verify::Status, bool, &str)> = vec![
            ("200", h(), resp(200, "ok"), Pass, false, "GET http://lb/health → 200, 2 bytes"),
            ("502", h(), resp(502, "<html>Bad Gateway</html>"), Fail, false, "→ 502 (expected 200): <html>Bad Gateway</html>"),
            ("expected 404", Http { status: Some(404), ..h() }, resp(404, ""), Pass, false, "404"),
            ("refused", h(), HttpObs::Failed("connection refused".into()), Fail, false, "GET http://lb/health: connection refused"),
            ("body contains", Http { body_contains: Some("healthy".into()), ..h() }, resp(200, "all healthy"), Pass, false, "contains \"healthy\""),
            ("body lacks", Http { body_contains: Some("healthy".into()), ..h() }, resp(200, "sick"), Fail, false, "does not contain"),
            ("json equals string", Http { json_path: Some("$.status".into()), equals: Some("ok".into()), ..h() },
             resp(200, r#"{"status":"ok"}"#), Pass, false, "$.status = \"ok\""),
            ("json equals number", Http { json_path: Some("$.items[0].qty".into()), equals: Some("3".into()), ..h() },
             resp(200, r#"{"items":[{"qty":3}]}"#), Pass, false, "= \"3\""),
            ("json differs", Http { json_path: Some("$.status".into()), equals: Some("ok".into()), ..h() },
             resp(200, r#"{"status":"degraded"}"#), Fail, false, "expected \"ok\""),
            ("json path misses", Http { json_path: Some("$.items[3]".into()), ..h() }, resp(200, r#"{"items":[]}"#), Fail, false, "$.items[3] is not in the body"),
            ("json exists", Http { json_path: Some("$.items".into()), ..h() }, resp(200, r#"{"items":[]}"#), Pass, false, "$.items = \"[]\""),
            ("not json", Http { json_path: Some("$.a".into()), ..h() }, resp(200, "<html>"), Fail, false, "not JSON"),
            ("bad path is definitive", Http { json_path: Some("items".into()), ..h() }, resp(200, "{}"), Fail, true, "must start with $"),
        ];
        for (name, p, obs, status, definitive, evidence) in cases {
            let v = evaluate_http(&p, &obs);
            assert_eq!((v.status, v.definitive), (status, definitive), "{name}: {}", v.evidence);
            assert!(v.evidence.contains(evidence), "{name}: {:?} lacks {evidence:?}", v.evidence);
        }
    }
}
