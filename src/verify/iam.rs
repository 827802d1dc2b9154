//! IAM checks: a role exists; a role's policies allow an action on a resource.
//!
//! `role_allows` asks IAM's policy simulator first (SimulatePrincipalPolicy on the role). When
//! the simulator is unavailable (not implemented by local sandboxes, or not permitted to the
//! student) it reads the role's attached managed and inline policies and evaluates them here:
//! Allow and Deny statements, Action/NotAction and Resource/NotResource with `*` and `?`
//! wildcards, explicit Deny wins. Conditions, permission boundaries, SCPs and resource
//! policies are not evaluated on that path; the evidence says which path decided.

use serde_json::Value;

use super::text::{glob, list};
use super::{Fetch, LookError, Verdict};
use crate::aws::ErrorClass;
use crate::lab::check::{NameRef, RoleAllows};

/// What the policies decide for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Allowed by the named policies.
    Allowed(Vec<String>),
    /// Denied explicitly by the named policies.
    ExplicitDeny(Vec<String>),
    /// No statement allows it.
    ImplicitDeny,
}

/// A statement's list field (`"s"` or `["a", "b"]`).
fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()),
        _ => None,
    }
}

/// Whether the statement's Action/NotAction and Resource/NotResource cover the request.
fn applies(statement: &Value, action: &str, resource: &str) -> bool {
    let action_ok = match (strings(statement.get("Action")), strings(statement.get("NotAction"))) {
        (Some(actions), _) => actions.iter().any(|a| glob(a, action, true)),
        (None, Some(not)) => !not.iter().any(|a| glob(a, action, true)),
        (None, None) => false,
    };
    let resource_ok = match (strings(statement.get("Resource")), strings(statement.get("NotResource"))) {
        (Some(resources), _) => resources.iter().any(|r| glob(r, resource, false)),
        (None, Some(not)) => !not.iter().any(|r| glob(r, resource, false)),
        // Identity policies need a Resource; a statement without one is read as `*`.
        (None, None) => true,
    };
    action_ok && resource_ok
}

/// Evaluates identity policies (name, document) for `action` on `resource`. Pure.
pub(crate) fn evaluate_policies(policies: &[(String, Value)], action: &str, resource: &str) -> Decision {
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for (name, doc) in policies {
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => vec![],
        };
        for s in statements.iter().filter(|s| applies(s, action, resource)) {
            match s.get("Effect").and_then(Value::as_str) {
                Some("Deny") => deny.push(name.clone()),
                Some("Allow") => allow.push(name.clone()),
                _ => {}
            }
        }
    }
    allow.dedup();
    deny.dedup();
    if !deny.is_empty() {
        Decision::ExplicitDeny(deny)
    } else if !allow.is_empty() {
        Decision::Allowed(allow)
    } else {
        Decision::ImplicitDeny
    }
}

/// Decodes a policy document as IAM returns it (URL-encoded JSON).
pub(crate) fn decode_document(raw: &str) -> Result<Value, String> {
    let text = if raw.trim_start().starts_with('{') { raw.to_string() } else { percent_decode(raw) };
    serde_json::from_str(&text).map_err(|e| format!("unreadable policy document: {e}"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `role_allows`, pure: the decision and which path reached it.
pub(crate) fn evaluate_role_allows(p: &RoleAllows, decision: &Decision, path: &str) -> Verdict {
    let resource = p.resource.as_deref().unwrap_or("*");
    let head = format!("role {} → {} on {resource}", p.role, p.action);
    match decision {
        Decision::Allowed(by) => Verdict::pass(format!("{head}: allowed by {} ({path})", list(by, 3))),
        Decision::ExplicitDeny(by) => {
            Verdict::fail(format!("{head}: explicitly denied by {} ({path})", list(by, 3)))
        }
        Decision::ImplicitDeny => Verdict::fail(format!("{head}: no policy allows it ({path})")),
    }
}

/// `iam_role`: one GetRole call.
pub(crate) async fn iam_role(ctx: &Fetch<'_>, p: &NameRef) -> Result<Verdict, LookError> {
    let out = ctx.call_opt("GetRole", ctx.clients.iam.get_role().role_name(&p.name).send()).await?;
    Ok(match out.as_ref().and_then(|o| o.role()) {
        Some(role) => Verdict::pass(format!("role {} exists ({})", role.role_name(), role.arn())),
        None => Verdict::fail(format!("role {} not found", p.name)),
    })
}

/// The role's identity policies: attached managed ones (default version) and inline ones.
async fn role_policies(
    ctx: &Fetch<'_>,
    role: &str,
) -> Result<(Vec<(String, Value)>, Vec<String>), LookError> {
    let mut docs = Vec::new();
    let mut unread = Vec::new();
    let attached = ctx
        .call(
            "ListAttachedRolePolicies",
            ctx.clients.iam.list_attached_role_policies().role_name(role).send(),
        )
        .await?;
    for a in attached.attached_policies() {
        let (Some(arn), name) = (a.policy_arn(), a.policy_name().unwrap_or("?")) else {
            continue;
        };
        let policy = ctx.call_opt("GetPolicy", ctx.clients.iam.get_policy().policy_arn(arn).send()).await?;
        let Some(version) = policy.as_ref().and_then(|p| p.policy()).and_then(|p| p.default_version_id())
        else {
            unread.push(name.to_string());
            continue;
        };
        let request = ctx.clients.iam.get_policy_version().policy_arn(arn).version_id(version).send();
        let doc = ctx.call_opt("GetPolicyVersion", request).await?;
        match doc.as_ref().and_then(|d| d.policy_version()).and_then(|v| v.document()).map(decode_document) {
            Some(Ok(doc)) => docs.push((name.to_string(), doc)),
            _ => unread.push(name.to_string()),
        }
    }
    let inline =
        ctx.call("ListRolePolicies", ctx.clients.iam.list_role_policies().role_name(role).send()).await?;
    for name in inline.policy_names() {
        let request = ctx.clients.iam.get_role_policy().role_name(role).policy_name(name).send();
        match ctx.call_opt("GetRolePolicy", request).await? {
            Some(out) => match decode_document(out.policy_document()) {
                Ok(doc) => docs.push((name.clone(), doc)),
                Err(_) => unread.push(name.clone()),
            },
            None => unread.push(name.clone()),
        }
    }
    Ok((docs, unread))
}

/// `role_allows`: GetRole + SimulatePrincipalPolicy, or the role's policies evaluated here.
/// `role_denies`: the same decision as `role_allows`, passing when the action is *not*
/// allowed (an expected failure a lab sets up on purpose).
pub(crate) async fn role_denies(ctx: &Fetch<'_>, p: &RoleAllows) -> Result<Verdict, LookError> {
    let allows = role_allows(ctx, p).await?;
    Ok(invert_role_verdict(allows))
}

/// `role_allows` turned around: its evidence, the opposite status. A missing role is no proof.
pub(crate) fn invert_role_verdict(allows: Verdict) -> Verdict {
    if allows.evidence.ends_with("not found") {
        return allows;
    }
    Verdict::pass_if(allows.status != super::Status::Pass, allows.evidence)
}

pub(crate) async fn role_allows(ctx: &Fetch<'_>, p: &RoleAllows) -> Result<Verdict, LookError> {
    let role = ctx.call_opt("GetRole", ctx.clients.iam.get_role().role_name(&p.role).send()).await?;
    let Some(arn) = role.as_ref().and_then(|r| r.role()).map(|r| r.arn().to_string()) else {
        return Ok(Verdict::fail(format!("role {} not found", p.role)));
    };
    let resource = p.resource.as_deref().unwrap_or("*");
    let request = ctx
        .clients
        .iam
        .simulate_principal_policy()
        .policy_source_arn(&arn)
        .action_names(&p.action)
        .resource_arns(resource)
        .send();
    let simulator_said = match ctx.call("SimulatePrincipalPolicy", request).await {
        Ok(out) => match out.evaluation_results().first() {
            Some(r) => {
                let by: Vec<String> = r
                    .matched_statements()
                    .iter()
                    .filter_map(|s| s.source_policy_id().map(str::to_string))
                    .collect();
                let by = if by.is_empty() { vec!["the role's policies".to_string()] } else { by };
                Some(match r.eval_decision().as_str() {
                    "allowed" => Decision::Allowed(by),
                    "explicitDeny" => Decision::ExplicitDeny(by),
                    _ => Decision::ImplicitDeny,
                })
            }
            None => None,
        },
        Err(e) if matches!(e.class, ErrorClass::Credentials | ErrorClass::Throttling) => return Err(e),
        // Not implemented (sandboxes answer 500), or not permitted: read the policies instead.
        Err(_) => None,
    };
    if let Some(decision) = simulator_said {
        return Ok(evaluate_role_allows(p, &decision, "IAM policy simulator"));
    }
    let (docs, unread) = role_policies(ctx, &p.role).await?;
    let decision = evaluate_policies(&docs, &p.action, resource);
    let mut path = format!("evaluated {} polic(ies) locally, conditions ignored", docs.len());
    if !unread.is_empty() {
        path.push_str(&format!("; could not read {}", list(&unread, 3)));
    }
    Ok(evaluate_role_allows(p, &decision, &path))
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(name: &str, doc: Value) -> (String, Value) {
        (name.to_string(), doc)
    }

    #[test]
    fn policy_evaluation_table() {
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/Inventory";
        let read = policy(
            "read",
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:Get*", "dynamodb:Query"], "Resource": "arn:aws:dynamodb:*:*:table/Inv*"}
            ]}),
        );
        let all_ddb =
            policy("all", json!({"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}}));
        let deny_delete = policy(
            "nodelete",
            json!({"Statement": [{"Effect": "Deny", "Action": "dynamodb:Delete*", "Resource": "*"}]}),
        );
        let not_action = policy(
            "notaction",
            json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}),
        );
        let not_resource = policy(
            "notresource",
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}]}),
        );
        let allowed = |names: &[&str]| Decision::Allowed(names.iter().map(|s| s.to_string()).collect());
        let denied = |names: &[&str]| Decision::ExplicitDeny(names.iter().map(|s| s.to_string()).collect());
        #[rustfmt::skip]
        let cases = vec![
            ("prefix wildcard", vec![read.clone()], "dynamodb:GetItem", table, allowed(&["read"])),
            ("exact", vec![read.clone()], "dynamodb:Query", table, allowed(&["read"])),
            ("action case-insensitive", vec![read.clone()], "DynamoDB:getitem", table, allowed(&["read"])),
            ("other action", vec![read.clone()], "dynamodb:PutItem", table, Decision::ImplicitDeny),
            ("resource mismatch", vec![read.clone()], "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/Orders", Decision::ImplicitDeny),
            ("service wildcard", vec![all_ddb.clone()], "dynamodb:PutItem", table, allowed(&["all"])),
            ("explicit deny wins", vec![all_ddb.clone(), deny_delete.clone()], "dynamodb:DeleteItem", table, denied(&["nodelete"])),
            ("deny of another action", vec![all_ddb.clone(), deny_delete.clone()], "dynamodb:Scan", table, allowed(&["all"])),
            ("no policies", vec![], "dynamodb:GetItem", table, Decision::ImplicitDeny),
            ("NotAction allows others", vec![not_action.clone()], "dynamodb:GetItem", table, allowed(&["notaction"])),
            ("NotAction excludes", vec![not_action], "iam:PassRole", "*", Decision::ImplicitDeny),
            ("NotResource allows others", vec![not_resource.clone()], "s3:GetObject", "arn:aws:s3:::public/x", allowed(&["notresource"])),
            ("NotResource excludes", vec![not_resource], "s3:GetObject", "arn:aws:s3:::secret/x", Decision::ImplicitDeny),
            ("wildcard resource request against a specific resource", vec![read], "dynamodb:GetItem", "*", Decision::ImplicitDeny),
        ];
        for (name, policies, action, resource, want) in cases {
            assert_eq!(evaluate_policies(&policies, action, resource), want, "{name}");
        }
    }

    #[test]
    fn documents_are_url_decoded() {
        let raw = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        let doc = decode_document(raw).unwrap();
        assert_eq!(doc["Statement"][0]["Action"], "s3:*");
        assert_eq!(decode_document(r#"{"Statement": []}"#).unwrap()["Statement"], json!([]));
        assert!(decode_document("%7Bnot json").is_err());
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn role_denies_is_role_allows_turned_around_but_a_missing_role_proves_nothing() {
        use crate::verify::Status::{Fail, Pass};
        let p = RoleAllows { role: "task".into(), action: "dynamodb:Query".into(), resource: None };
        let allowed = evaluate_role_allows(&p, &Decision::Allowed(vec!["read".into()]), "local");
        assert_eq!(invert_role_verdict(allowed).status, Fail);
        let denied = evaluate_role_allows(&p, &Decision::ImplicitDeny, "local");
        let v = invert_role_verdict(denied);
        assert_eq!(v.status, Pass);
        assert!(v.evidence.contains("no policy allows it"), "{}", v.evidence);
        assert_eq!(invert_role_verdict(Verdict::fail("role task not found")).status, Fail);
    }

    #[test]
    fn role_allows_evidence_names_the_path() {
        let p = RoleAllows { role: "task".into(), action: "dynamodb:Query".into(), resource: None };
        let v = evaluate_role_allows(&p, &Decision::Allowed(vec!["read".into()]), "IAM policy simulator");
        assert_eq!(v.evidence, "role task → dynamodb:Query on *: allowed by read (IAM policy simulator)");
        let v = evaluate_role_allows(&p, &Decision::ExplicitDeny(vec!["nodelete".into()]), "local");
        assert_eq!(v.status, crate::verify::Status::Fail);
        assert!(v.evidence.contains("explicitly denied by nodelete"));
    }
}
