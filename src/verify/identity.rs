//! `caller_identity`: the credentials belong to the expected account, and the clients act in
//! the expected region. Neither changes by waiting, so a mismatch is definitive.

use super::{Fetch, LookError, Verdict};
use crate::lab::check::CallerIdentity;

/// `caller_identity`, pure.
pub(crate) fn evaluate_identity(p: &CallerIdentity, account: &str, arn: &str, region: &str) -> Verdict {
    let evidence = format!("account {account} ({arn}) in {region}");
    let mut wrong = Vec::new();
    if let Some(want) = &p.account {
        if want.trim() != account {
            wrong.push(format!("expected account {want}"));
        }
    }
    if let Some(want) = &p.region {
        if want.trim() != region {
            wrong.push(format!("expected region {want}"));
        }
    }
    if wrong.is_empty() {
        Verdict::pass(evidence)
    } else {
        Verdict::fail_now(format!("{evidence}; {}", wrong.join(", ")))
    }
}

/// `caller_identity`: one GetCallerIdentity call.
pub(crate) async fn caller_identity(ctx: &Fetch<'_>, p: &CallerIdentity) -> Result<Verdict, LookError> {
    let out = ctx.call("GetCallerIdentity", ctx.clients.sts.get_caller_identity().send()).await?;
    Ok(evaluate_identity(
        p,
        out.account().unwrap_or_default(),
        out.arn().unwrap_or_default(),
        &ctx.clients.region(),
    ))
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    #[test]
    fn identity_table() {
        let p = |a: Option<&str>, r: Option<&str>| CallerIdentity {
            account: a.map(String::from),
            region: r.map(String::from),
        };
        let cases = [
            (
                p(None, None),
                Pass,
                "account 123456789012 (arn:aws:iam::123456789012:user/student) in us-east-1",
            ),
            (p(Some("123456789012"), Some("us-east-1")), Pass, "in us-east-1"),
            (p(Some("111111111111"), None), Fail, "expected account 111111111111"),
            (p(None, Some("eu-west-1")), Fail, "expected region eu-west-1"),
        ];
        for (p, status, evidence) in cases {
            let v =
                evaluate_identity(&p, "123456789012", "arn:aws:iam::123456789012:user/student", "us-east-1");
            assert_eq!(v.status, status, "{}", v.evidence);
            assert_eq!(v.definitive, status == Fail);
            assert!(v.evidence.contains(evidence), "{:?}", v.evidence);
        }
    }
}
