//! Tagging recorded resources with `labrunner:lab = <lab id>`, so they can be found in the
//! console (and by Resource Groups) even without the ledger. Best effort: types whose API
//! takes no tags (scaling policies, dashboards) are left as they are.

use serde_json::json;

use super::{CleanupError, LAB_TAG};
use crate::aws::Clients;
use crate::lab::ResourceSpec;
use crate::state::ledger::LedgerEntry;

fn build_error(e: impl std::fmt::Display) -> CleanupError {
    CleanupError::other(format!("cannot build the tag: {e}"))
}

/// Tags the resource `entry` records, using the ids recorded with it.
pub(crate) async fn tag(clients: &Clients, entry: &LedgerEntry, lab: &str) -> Result<(), CleanupError> {
    let arn = entry.ids.get("arn").map(String::as_str);
    let id = entry.ids.get("id").map(String::as_str);
    match &entry.resource {
        ResourceSpec::EcsCluster { .. } | ResourceSpec::EcsService { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let tag = aws_sdk_ecs::types::Tag::builder().key(LAB_TAG).value(lab).build();
            clients.ecs.tag_resource().resource_arn(arn).tags(tag).send().await?;
        }
        ResourceSpec::TaskDefinition { .. } => {
            for (_, arn) in entry.ids.iter().filter(|(k, _)| k.starts_with("revision:")) {
                let tag = aws_sdk_ecs::types::Tag::builder().key(LAB_TAG).value(lab).build();
                clients.ecs.tag_resource().resource_arn(arn).tags(tag).send().await?;
            }
        }
        ResourceSpec::LoadBalancer { .. }
        | ResourceSpec::Listener { .. }
        | ResourceSpec::ListenerRule { .. }
        | ResourceSpec::TargetGroup { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let tag = aws_sdk_elasticloadbalancingv2::types::Tag::builder().key(LAB_TAG).value(lab).build();
            clients.elbv2.add_tags().resource_arns(arn).tags(tag).send().await?;
        }
        ResourceSpec::CloudmapNamespace { .. } | ResourceSpec::CloudmapService { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let tag = aws_sdk_servicediscovery::types::Tag::builder()
                .key(LAB_TAG)
                .value(lab)
                .build()
                .map_err(build_error)?;
            clients.servicediscovery.tag_resource().resource_arn(arn).tags(tag).send().await?;
        }
        ResourceSpec::ScalableTarget { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            clients.autoscaling.tag_resource().resource_arn(arn).tags(LAB_TAG, lab).send().await?;
        }
        ResourceSpec::Alarm { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let tag = aws_sdk_cloudwatch::types::Tag::builder().key(LAB_TAG).value(lab).build();
            clients.cloudwatch.tag_resource().resource_arn(arn).tags(tag).send().await?;
        }
        ResourceSpec::LogGroup { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            clients.logs.call("TagResource", json!({ "resourceArn": arn, "tags": { LAB_TAG: lab } })).await?;
        }
        ResourceSpec::DynamodbTable { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let input = json!({ "ResourceArn": arn, "Tags": [{ "Key": LAB_TAG, "Value": lab }] });
            clients.dynamodb.call("TagResource", input).await?;
        }
        ResourceSpec::IamRole { name } => {
            let tag =
                aws_sdk_iam::types::Tag::builder().key(LAB_TAG).value(lab).build().map_err(build_error)?;
            clients.iam.tag_role().role_name(name).tags(tag).send().await?;
        }
        ResourceSpec::InstanceProfile { name } => {
            let tag =
                aws_sdk_iam::types::Tag::builder().key(LAB_TAG).value(lab).build().map_err(build_error)?;
            clients.iam.tag_instance_profile().instance_profile_name(name).tags(tag).send().await?;
        }
        ResourceSpec::Secret { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let input = json!({ "SecretId": arn, "Tags": [{ "Key": LAB_TAG, "Value": lab }] });
            clients.secretsmanager.call("TagResource", input).await?;
        }
        ResourceSpec::IamPolicy { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let tag =
                aws_sdk_iam::types::Tag::builder().key(LAB_TAG).value(lab).build().map_err(build_error)?;
            clients.iam.tag_policy().policy_arn(arn).tags(tag).send().await?;
        }
        ResourceSpec::SecurityGroup { .. }
        | ResourceSpec::Subnet { .. }
        | ResourceSpec::RouteTable { .. }
        | ResourceSpec::InternetGateway { .. }
        | ResourceSpec::Vpc { .. }
        | ResourceSpec::NatGateway { .. }
        | ResourceSpec::ElasticIp { .. }
        | ResourceSpec::VpcEndpoint { .. }
        | ResourceSpec::Ec2Instance { .. }
        | ResourceSpec::LaunchTemplate { .. } => {
            let Some(id) = id else { return Ok(()) };
            let request = clients.ec2.request("CreateTags").param("ResourceId.1", id);
            request.param("Tag.1.Key", LAB_TAG).param("Tag.1.Value", lab).send().await?;
        }
        ResourceSpec::AcmCertificate { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let input = json!({ "CertificateArn": arn, "Tags": [{ "Key": LAB_TAG, "Value": lab }] });
            clients.acm.call("AddTagsToCertificate", input).await?;
        }
        ResourceSpec::HostedZone { .. } => {
            let Some(id) = id else { return Ok(()) };
            let tag = aws_sdk_route53::types::Tag::builder().key(LAB_TAG).value(lab).build();
            clients
                .route53
                .change_tags_for_resource()
                .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                .resource_id(id)
                .add_tags(tag)
                .send()
                .await?;
        }
        ResourceSpec::CapacityProvider { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let tag = aws_sdk_ecs::types::Tag::builder().key(LAB_TAG).value(lab).build();
            clients.ecs.tag_resource().resource_arn(arn).tags(tag).send().await?;
        }
        ResourceSpec::AutoscalingGroup { name } => {
            // Not propagated: the instances the group launches are the group's, not the ledger's.
            let tag = aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(LAB_TAG)
                .value(lab)
                .propagate_at_launch(false)
                .build();
            clients.ec2_autoscaling.create_or_update_tags().tags(tag).send().await?;
        }
        ResourceSpec::EcrRepository { .. } => {
            let Some(arn) = arn else { return Ok(()) };
            let input = json!({ "resourceArn": arn, "tags": [{ "Key": LAB_TAG, "Value": lab }] });
            clients.ecr.call("TagResource", input).await?;
        }
        ResourceSpec::SsmParameter { name } => {
            let input = json!({
                "ResourceType": "Parameter",
                "ResourceId": name,
                "Tags": [{ "Key": LAB_TAG, "Value": lab }],
            });
            clients.ssm.call("AddTagsToResource", input).await?;
        }
        ResourceSpec::ScalingPolicy { .. }
        | ResourceSpec::Dashboard { .. }
        | ResourceSpec::DnsRecord { .. } => {}
    }
    Ok(())
}
