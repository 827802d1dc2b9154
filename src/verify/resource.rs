//! `exists`: a resource of any type a step can create is there, found the way cleanup finds
//! it (by the names in its identifying fields), so every type labrunner records can be checked
//! without a shell command, and read-only.

use std::collections::BTreeMap;

use super::{Fetch, LookError, Verdict};
use crate::lab::ResourceSpec;
use crate::state::ledger::identity;

/// `exists`, pure: the resources found for `spec`.
pub(crate) fn evaluate(spec: &ResourceSpec, found: &[BTreeMap<String, String>]) -> Verdict {
    let what = spec.describe();
    match found {
        [] => Verdict::fail(format!("no {what} found")),
        [one] => Verdict::pass(match identity(one) {
            Some(id) => format!("{what} exists ({id})"),
            None => format!("{what} exists"),
        }),
        many => {
            let ids: Vec<&str> = many.iter().filter_map(identity).collect();
            Verdict::pass(format!("{} resources match {what}: {}", many.len(), ids.join(", ")))
        }
    }
}

/// `exists`: the lookups cleanup uses (one or a few describe/list/get calls).
pub(crate) async fn exists(ctx: &Fetch<'_>, spec: &ResourceSpec) -> Result<Verdict, LookError> {
    ctx.count();
    let found = crate::cleanup::live(ctx.clients, spec)
        .await
        .map_err(|e| LookError::new(e.class, format!("looking for {}: {}", spec.describe(), e.message)))?;
    Ok(evaluate(spec, &found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn exists_table() {
        let repo = ResourceSpec::EcrRepository { name: "little-ecom/auth".into() };
        let arn = "arn:aws:ecr:us-east-1:123456789012:repository/little-ecom/auth";
        type Case = (Vec<BTreeMap<String, String>>, crate::verify::Status, String);
        let cases: Vec<Case> = vec![
            (vec![], Fail, "no ecr_repository little-ecom/auth found".into()),
            (vec![ids(&[("arn", arn)])], Pass, format!("ecr_repository little-ecom/auth exists ({arn})")),
            (vec![ids(&[("uri", "x")])], Pass, "ecr_repository little-ecom/auth exists".into()),
            (
                vec![ids(&[("id", "vpc-1")]), ids(&[("id", "vpc-2")])],
                Pass,
                "2 resources match ecr_repository little-ecom/auth: vpc-1, vpc-2".into(),
            ),
        ];
        for (found, status, evidence) in cases {
            let v = evaluate(&repo, &found);
            assert_eq!((v.status, v.evidence), (status, evidence));
        }
    }
}
