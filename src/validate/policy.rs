//! The session policy sent with every AssumeRole of `labrunner validate`.
//!
//! A session policy can only narrow what the role allows, so a policy that allows read
//! actions alone (and explicitly denies everything else) makes a validation run read-only
//! whatever the role itself may do. Kept under STS's 2,048-character limit for inline session
//! policies.

/// The read actions a validation may use: every check kind and every readiness check calls
/// only these. Wildcards cover one verb family of one service.
pub const READ_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "ecs:Describe*",
    "ecs:List*",
    "elasticloadbalancing:Describe*",
    "servicediscovery:Get*",
    "servicediscovery:List*",
    "servicediscovery:DiscoverInstances",
    "route53:Get*",
    "route53:List*",
    "application-autoscaling:Describe*",
    "cloudwatch:Describe*",
    "cloudwatch:Get*",
    "cloudwatch:List*",
    "logs:Describe*",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "iam:Get*",
    "iam:List*",
    "iam:SimulatePrincipalPolicy",
    "dynamodb:Describe*",
    "dynamodb:List*",
    "ec2:Describe*",
    "autoscaling:Describe*",
    "ecr:DescribeRepositories",
    "ssm:GetParameter",
    "secretsmanager:DescribeSecret",
    "acm:DescribeCertificate",
    "acm:ListCertificates",
];

/// The session policy document, compact JSON: allow [`READ_ACTIONS`], deny everything else.
pub fn session_policy() -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "LabrunnerValidateRead", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": "*" },
            { "Sid": "LabrunnerValidateDenyWrites", "Effect": "Deny", "NotAction": READ_ACTIONS, "Resource": "*" },
        ],
    });
    doc.to_string()
}

/// What a policy decides for an action (mirrors the evaluator in `verify::iam`: explicit Deny
/// wins, then Allow, else implicit deny). Resources are `*` in this policy, so only actions matter.
pub fn allows(policy: &serde_json::Value, action: &str) -> bool {
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    let matches = |s: &serde_json::Value| {
        if let Some(actions) = s.get("Action") {
            list(actions).iter().any(|p| action_glob(p, action))
        } else if let Some(not) = s.get("NotAction") {
            !list(not).iter().any(|p| action_glob(p, action))
        } else {
            false
        }
    };
    let mut allowed = false;
    for s in statements.iter().filter(|s| matches(s)) {
        match s["Effect"].as_str() {
            Some("Deny") => return false,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    allowed
}

/// IAM action matching: case-insensitive, `*` any run, `?` one character.
fn action_glob(pattern: &str, action: &str) -> bool {
    fn go(p: &[char], a: &[char]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y) && go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let a: Vec<char> = action.chars().collect();
    go(&p, &a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> serde_json::Value {
        serde_json::from_str(&session_policy()).unwrap()
    }

    #[test]
    fn fits_the_inline_session_policy_limit() {
        assert!(session_policy().len() < 2048, "{} characters", session_policy().len());
    }

    #[test]
    fn the_writes_named_in_the_brief_are_denied() {
        for action in ["ecs:CreateService", "iam:PutRolePolicy", "ec2:DeleteVpc"] {
            assert!(!allows(&policy(), action), "{action} must be denied");
        }
    }

    #[test]
    fn no_secret_value_can_be_read() {
        for action in
            ["secretsmanager:GetSecretValue", "kms:Decrypt", "ssm:GetParameters", "ecr:GetAuthorizationToken"]
        {
            assert!(!allows(&policy(), action), "{action} must be denied");
        }
    }

    #[test]
    fn every_write_verb_of_every_service_is_denied() {
        let services = [
            "ecs",
            "elasticloadbalancing",
            "servicediscovery",
            "route53",
            "application-autoscaling",
            "cloudwatch",
            "logs",
            "iam",
            "dynamodb",
            "ec2",
            "sts",
            "s3",
            "lambda",
            "ecr",
            "kms",
            "organizations",
        ];
        let verbs = [
            "Create",
            "Delete",
            "Put",
            "Update",
            "Register",
            "Deregister",
            "Attach",
            "Detach",
            "Tag",
            "Untag",
            "Run",
            "Start",
            "Stop",
            "Modify",
            "Set",
            "Authorize",
            "Revoke",
            "Associate",
            "Disassociate",
            "Terminate",
            "Reboot",
            "Add",
            "Remove",
            "Enable",
            "Disable",
            "Upload",
            "Pass",
            "Assume",
            "Execute",
            "Invoke",
            "Replace",
            "Import",
            "Restore",
            "Batch",
            "Submit",
            "Send",
            "Reset",
            "Change",
        ];
        for service in services {
            for verb in verbs {
                let action = format!("{service}:{verb}Something");
                assert!(!allows(&policy(), &action), "{action} must be denied");
            }
        }
        // Whole-service and full wildcards are not actions a caller can send, but a match on them
        // would mean the policy is too broad.
        assert!(!allows(&policy(), "s3:GetObject"), "reads outside the lab's services are denied too");
    }

    #[test]
    fn the_reads_checks_make_are_allowed() {
        let reads = [
            "sts:GetCallerIdentity",
            "ecs:DescribeServices",
            "ecs:DescribeClusters",
            "ecs:DescribeTaskDefinition",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "elasticloadbalancing:DescribeTargetHealth",
            "elasticloadbalancing:DescribeLoadBalancers",
            "servicediscovery:ListNamespaces",
            "servicediscovery:GetOperation",
            "servicediscovery:DiscoverInstances",
            "route53:ListResourceRecordSets",
            "application-autoscaling:DescribeScalableTargets",
            "cloudwatch:DescribeAlarms",
            "logs:DescribeLogGroups",
            "logs:FilterLogEvents",
            "iam:GetRole",
            "iam:ListAttachedRolePolicies",
            "iam:SimulatePrincipalPolicy",
            "dynamodb:DescribeTable",
            "ec2:DescribeVpcs",
            "ec2:DescribeAccountAttributes",
            "ecs:DescribeCapacityProviders",
            "autoscaling:DescribeAutoScalingGroups",
            "ecr:DescribeRepositories",
            "ssm:GetParameter",
            "secretsmanager:DescribeSecret",
        ];
        for action in reads {
            assert!(allows(&policy(), action), "{action} must be allowed");
        }
    }

    #[test]
    fn no_allowed_pattern_admits_a_write_verb() {
        for pattern in READ_ACTIONS {
            let (_, verb) = pattern.split_once(':').unwrap();
            assert!(
                [
                    "Describe",
                    "List",
                    "Get",
                    "FilterLogEvents",
                    "DiscoverInstances",
                    "SimulatePrincipalPolicy"
                ]
                .iter()
                .any(|ok| verb.starts_with(ok)),
                "{pattern}"
            );
        }
    }

    #[test]
    fn globs() {
        assert!(action_glob("ecs:Describe*", "ECS:describeservices"));
        assert!(!action_glob("ecs:Describe*", "ecs:CreateService"));
        assert!(action_glob("ec2:Describe?pcs", "ec2:DescribeVpcs"));
    }
}
