//! `dynamodb_table`: the table exists and is ACTIVE.

use super::{Fetch, LookError, Verdict};
use crate::lab::check::DynamodbTable;

/// `dynamodb_table`, pure.
pub(crate) fn evaluate_table(name: &str, status: Option<&str>, keys: &[String]) -> Verdict {
    match status {
        None => Verdict::fail(format!("table {name} not found")),
        Some(status) => {
            let keys = if keys.is_empty() { String::new() } else { format!(", key {}", keys.join(" + ")) };
            Verdict::pass_if(status == "ACTIVE", format!("table {name} {status}{keys}"))
        }
    }
}

/// `dynamodb_table`: one DescribeTable call.
pub(crate) async fn table(ctx: &Fetch<'_>, p: &DynamodbTable) -> Result<Verdict, LookError> {
    let request = ctx.clients.dynamodb.call("DescribeTable", serde_json::json!({ "TableName": p.table }));
    let out = ctx.call_opt("DescribeTable", request).await?;
    let table = out.as_ref().and_then(|o| o.get("Table"));
    let status = table.and_then(|t| t.get("TableStatus")).and_then(|s| s.as_str());
    let keys: Vec<String> = table
        .and_then(|t| t.get("KeySchema"))
        .and_then(|k| k.as_array())
        .map(|schema| {
            schema
                .iter()
                .map(|k| {
                    let field = |name: &str| k.get(name).and_then(|v| v.as_str()).unwrap_or_default();
                    format!("{} ({})", field("AttributeName"), field("KeyType"))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(evaluate_table(&p.table, status.or(table.map(|_| "UNKNOWN")), &keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    #[test]
    fn table_table() {
        let keys = vec!["id (HASH)".to_string()];
        assert_eq!(evaluate_table("inv", Some("ACTIVE"), &keys).evidence, "table inv ACTIVE, key id (HASH)");
        assert_eq!(evaluate_table("inv", Some("ACTIVE"), &keys).status, Pass);
        assert_eq!(evaluate_table("inv", Some("CREATING"), &[]).status, Fail);
        assert_eq!(evaluate_table("inv", None, &[]).evidence, "table inv not found");
    }
}
