//! Deleting one live resource of each type, with the preparation AWS requires first (scale a
//! service to zero, detach policies, disassociate route tables, ...) and the errors worth
//! waiting out (a target group still in use, a security group with network interfaces left).
//!
//! "Not found" from any call counts as done: the confirmation that follows looks again.

use std::time::Duration;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_ecs::types::CapacityProviderUpdateStatus;
use aws_sdk_servicediscovery::types::OperationStatus;

use super::call::{Deletion, Halt, Patience, Wait};
use super::find::Ids;
use super::CleanupError;
use crate::lab::ResourceSpec;

/// Runs one SDK request through [`Deletion::call`]: the builder expression is rebuilt on each attempt.
macro_rules! aws {
    ($ctx:expr, $busy:expr, $request:expr) => {
        $ctx.call($busy, || async { $request.send().await.map_err(CleanupError::from) })
    };
}

/// One call of a light JSON client (`aws::json`), as `aws!` is for the SDK's clients.
macro_rules! aws_json {
    ($ctx:expr, $busy:expr, $client:expr, $action:literal, $input:tt) => {{
        let input = serde_json::json!($input);
        $ctx.call($busy, move || {
            let input = input.clone();
            async { $client.call($action, input).await.map_err(CleanupError::from) }
        })
    }};
}

const NONE: &Patience = &Patience::NONE;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// ENIs of stopped tasks and deleted load balancers take minutes to go in real AWS.
const NETWORK_IN_USE: &Patience = &Patience {
    codes: &["DependencyViolation", "InvalidGroup.InUse"],
    budget: secs(15 * 60),
    first: secs(10),
    max: secs(60),
};
/// An Elastic IP a NAT gateway held until a moment ago.
const ADDRESS_IN_USE: &Patience = &Patience {
    codes: &["InvalidIPAddress.InUse", "AuthFailure"],
    budget: secs(5 * 60),
    first: secs(10),
    max: secs(30),
};
/// A target group or Cloud Map resource freed by the previous wave a moment ago.
const STILL_IN_USE: &Patience = &Patience {
    codes: &["ResourceInUse", "ResourceInUseException", "DeleteConflict"],
    budget: secs(2 * 60),
    first: secs(5),
    max: secs(30),
};
/// A cluster whose services are still draining.
const CLUSTER_BUSY: &Patience = &Patience {
    codes: &[
        "ClusterContainsServicesException",
        "ClusterContainsTasksException",
        "ClusterContainsContainerInstancesException",
        "UpdateInProgressException",
    ],
    budget: secs(5 * 60),
    first: secs(10),
    max: secs(30),
};

/// A cluster whose capacity providers are being updated, or a provider still in use.
const PROVIDER_BUSY: &Patience = &Patience {
    codes: &["UpdateInProgressException", "ResourceInUseException"],
    budget: secs(5 * 60),
    first: secs(10),
    max: secs(30),
};
/// An Auto Scaling group in the middle of a scaling activity.
const GROUP_BUSY: &Patience = &Patience {
    codes: &["ScalingActivityInProgress", "ResourceInUse"],
    budget: secs(5 * 60),
    first: secs(10),
    max: secs(30),
};

/// How long to wait, after the delete call, for the resource to be gone, and how to say it.
pub(crate) fn confirm_wait(spec: &ResourceSpec) -> (Wait, &'static str) {
    match spec {
        ResourceSpec::EcsService { .. } => {
            (Wait { every: secs(10), budget: secs(10 * 60) }, "the service to become INACTIVE")
        }
        ResourceSpec::LoadBalancer { .. } => {
            (Wait { every: secs(10), budget: secs(10 * 60) }, "the load balancer to be deleted")
        }
        ResourceSpec::DynamodbTable { .. } => {
            (Wait { every: secs(5), budget: secs(10 * 60) }, "the table to be deleted")
        }
        ResourceSpec::EcsCluster { .. } => {
            (Wait { every: secs(5), budget: secs(2 * 60) }, "the cluster to become INACTIVE")
        }
        ResourceSpec::CloudmapNamespace { .. } => {
            (Wait { every: secs(5), budget: secs(5 * 60) }, "the namespace to be deleted")
        }
        ResourceSpec::NatGateway { .. } => {
            (Wait { every: secs(10), budget: secs(10 * 60) }, "the NAT gateway to be deleted")
        }
        ResourceSpec::Ec2Instance { .. } => {
            (Wait { every: secs(10), budget: secs(10 * 60) }, "the instance to terminate")
        }
        ResourceSpec::VpcEndpoint { .. } => {
            (Wait { every: secs(5), budget: secs(5 * 60) }, "the endpoint to be deleted")
        }
        ResourceSpec::AutoscalingGroup { .. } => {
            (Wait { every: secs(10), budget: secs(15 * 60) }, "the group and its instances to be deleted")
        }
        ResourceSpec::CapacityProvider { .. } => {
            (Wait { every: secs(5), budget: secs(5 * 60) }, "the capacity provider to become INACTIVE")
        }
        _ => (Wait { every: secs(5), budget: secs(60) }, "the deletion to show"),
    }
}

/// `Ok(None)` when the call failed with "not found": already gone.
fn unless_gone<T>(result: Result<T, Halt>) -> Result<Option<T>, Halt> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(Halt::Failed(e)) if e.is_not_found() => Ok(None),
        Err(h) => Err(h),
    }
}

fn id<'a>(live: &'a Ids, key: &str) -> Result<&'a str, Halt> {
    live.get(key).map(String::as_str).ok_or_else(|| {
        Halt::Failed(CleanupError::other(format!("labrunner found no `{key}` to delete it by")))
    })
}

/// Whether an error says the endpoint does not implement the operation (moto, old regions).
pub(crate) fn is_unimplemented(e: &CleanupError) -> bool {
    let text = format!("{} {}", e.code.as_deref().unwrap_or_default(), e.message).to_ascii_lowercase();
    [
        "not implemented",
        "not been implemented",
        "notimplemented",
        "unknownoperation",
        "invalidaction",
        "unsupported operation",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Deletes the live resource `spec` names (`live` = its ids as just looked up). Returns a note
/// for the report line when the deletion was partial in a way the user should know about.
pub(crate) async fn delete(
    ctx: &Deletion<'_>,
    spec: &ResourceSpec,
    live: &Ids,
) -> Result<Option<String>, Halt> {
    let c = ctx.clients;
    match spec {
        ResourceSpec::ScalingPolicy { service_namespace, resource_id, dimension, policy_name } => {
            unless_gone(
                aws!(
                    ctx,
                    NONE,
                    c.autoscaling
                        .delete_scaling_policy()
                        .policy_name(policy_name)
                        .service_namespace(ServiceNamespace::from(service_namespace.as_str()))
                        .resource_id(resource_id)
                        .scalable_dimension(ScalableDimension::from(dimension.as_str()))
                )
                .await,
            )?;
        }
        ResourceSpec::ScalableTarget { service_namespace, resource_id, dimension } => {
            unless_gone(
                aws!(
                    ctx,
                    NONE,
                    c.autoscaling
                        .deregister_scalable_target()
                        .service_namespace(ServiceNamespace::from(service_namespace.as_str()))
                        .resource_id(resource_id)
                        .scalable_dimension(ScalableDimension::from(dimension.as_str()))
                )
                .await,
            )?;
        }
        ResourceSpec::Alarm { name } => {
            unless_gone(aws!(ctx, NONE, c.cloudwatch.delete_alarms().alarm_names(name)).await)?;
        }
        ResourceSpec::Dashboard { name } => {
            unless_gone(aws!(ctx, NONE, c.cloudwatch.delete_dashboards().dashboard_names(name)).await)?;
        }
        ResourceSpec::EcsService { cluster, service } => {
            // Scaling to zero first stops tasks in an orderly way; a service already draining
            // refuses, and the forced delete below works either way.
            let scaled =
                aws!(ctx, NONE, c.ecs.update_service().cluster(cluster).service(service).desired_count(0))
                    .await;
            if let Err(Halt::Cancelled) = scaled {
                return Err(Halt::Cancelled);
            }
            unless_gone(
                aws!(ctx, NONE, c.ecs.delete_service().cluster(cluster).service(service).force(true)).await,
            )?;
        }
        ResourceSpec::ListenerRule { .. } => {
            let arn = id(live, "arn")?;
            unless_gone(aws!(ctx, NONE, c.elbv2.delete_rule().rule_arn(arn)).await)?;
        }
        ResourceSpec::Listener { .. } => {
            let arn = id(live, "arn")?;
            unless_gone(aws!(ctx, NONE, c.elbv2.delete_listener().listener_arn(arn)).await)?;
        }
        ResourceSpec::TargetGroup { .. } => {
            let arn = id(live, "arn")?;
            unless_gone(aws!(ctx, STILL_IN_USE, c.elbv2.delete_target_group().target_group_arn(arn)).await)?;
        }
        ResourceSpec::LoadBalancer { .. } => {
            let arn = id(live, "arn")?;
            unless_gone(aws!(ctx, NONE, c.elbv2.delete_load_balancer().load_balancer_arn(arn)).await)?;
        }
        ResourceSpec::CloudmapService { .. } => {
            let service_id = id(live, "id")?;
            // ECS deregisters a service's instances as its tasks stop.
            let wait = Wait { every: secs(10), budget: secs(5 * 60) };
            ctx.wait_until("its instances to be deregistered", wait, || async {
                let out = c.servicediscovery.list_instances().service_id(service_id).send().await;
                match out.map_err(CleanupError::from) {
                    Ok(o) => Ok(o.instances().is_empty()),
                    Err(e) if e.is_not_found() => Ok(true),
                    Err(e) => Err(e),
                }
            })
            .await?;
            unless_gone(aws!(ctx, STILL_IN_USE, c.servicediscovery.delete_service().id(service_id)).await)?;
        }
        ResourceSpec::CloudmapNamespace { .. } => {
            let ns_id = id(live, "id")?;
            let Some(out) =
                unless_gone(aws!(ctx, STILL_IN_USE, c.servicediscovery.delete_namespace().id(ns_id)).await)?
            else {
                return Ok(None);
            };
            if let Some(op) = out.operation_id() {
                let wait = Wait { every: secs(5), budget: secs(5 * 60) };
                ctx.wait_until("the namespace deletion to finish", wait, || async {
                    let out = c.servicediscovery.get_operation().operation_id(op).send().await?;
                    let op = out.operation();
                    match op.and_then(|o| o.status()) {
                        Some(OperationStatus::Success) => Ok(true),
                        Some(OperationStatus::Fail) => Err(CleanupError::other(format!(
                            "the namespace deletion failed: {}",
                            op.and_then(|o| o.error_message()).unwrap_or("no reason given")
                        ))),
                        _ => Ok(false),
                    }
                })
                .await?;
            }
        }
        ResourceSpec::TaskDefinition { .. } => return task_definitions(ctx, live).await,
        ResourceSpec::LogGroup { name } => {
            unless_gone(aws_json!(ctx, NONE, c.logs, "DeleteLogGroup", { "logGroupName": name }).await)?;
        }
        ResourceSpec::DynamodbTable { table } => {
            unless_gone(
                aws_json!(ctx, STILL_IN_USE, c.dynamodb, "DeleteTable", { "TableName": table }).await,
            )?;
        }
        ResourceSpec::IamPolicy { .. } => iam_policy(ctx, id(live, "arn")?).await?,
        ResourceSpec::IamRole { name } => iam_role(ctx, name).await?,
        ResourceSpec::InstanceProfile { name } => instance_profile(ctx, name).await?,
        ResourceSpec::AutoscalingGroup { name } => {
            // Forced: the instances it launched go with it (they are the group's, so the lab's).
            let deleted = aws!(
                ctx,
                GROUP_BUSY,
                c.ec2_autoscaling
                    .delete_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .force_delete(true)
            )
            .await;
            match deleted {
                // EC2 Auto Scaling says a missing group is a ValidationError "... not found".
                Err(Halt::Failed(e)) if e.message.contains("not found") => {}
                other => {
                    unless_gone(other)?;
                }
            }
        }
        ResourceSpec::CapacityProvider { name, cluster } => {
            let arn = id(live, "arn")?;
            if let Some(cluster) = cluster {
                leave_cluster(ctx, cluster, name, arn).await?;
            }
            let deleted =
                aws!(ctx, PROVIDER_BUSY, c.ecs.delete_capacity_provider().capacity_provider(arn)).await;
            let out = match deleted {
                // ECS says a missing provider is a ClientException "... does not exist ...".
                Err(Halt::Failed(e)) if e.message.contains("does not exist") => None,
                other => unless_gone(other)?,
            };
            // A provider some cluster still uses is not deleted: the answer says why, at once.
            let provider = out.as_ref().and_then(|o| o.capacity_provider());
            if provider.and_then(|p| p.update_status()) == Some(&CapacityProviderUpdateStatus::DeleteFailed) {
                let why = provider.and_then(|p| p.update_status_reason()).unwrap_or("DELETE_FAILED");
                return Err(Halt::Failed(CleanupError::other(format!(
                    "{why} (declare the cluster in `creates`: `capacity_provider: {{ name: {name}, cluster: ... }}`, \
                     or run `aws ecs put-cluster-capacity-providers` without it)"
                ))));
            }
        }
        ResourceSpec::EcrRepository { name } => {
            // Forced: with the images pushed to it.
            unless_gone(
                aws_json!(ctx, NONE, c.ecr, "DeleteRepository", { "repositoryName": name, "force": true })
                    .await,
            )?;
        }
        ResourceSpec::SsmParameter { name } => {
            unless_gone(aws_json!(ctx, NONE, c.ssm, "DeleteParameter", { "Name": name }).await)?;
        }
        ResourceSpec::Secret { .. } => {
            // Without a recovery window: a secret merely scheduled for deletion keeps its name
            // for a week or more, and the lab could not create it again.
            let arn = id(live, "arn")?;
            unless_gone(
                aws_json!(ctx, NONE, c.secretsmanager, "DeleteSecret", {
                    "SecretId": arn,
                    "ForceDeleteWithoutRecovery": true
                })
                .await,
            )?;
        }
        ResourceSpec::SecurityGroup { .. } => {
            let group = id(live, "id")?;
            unless_gone(
                aws!(ctx, NETWORK_IN_USE, c.ec2.request("DeleteSecurityGroup").param("GroupId", group)).await,
            )?;
        }
        ResourceSpec::Subnet { .. } => {
            let subnet = id(live, "id")?;
            unless_gone(
                aws!(ctx, NETWORK_IN_USE, c.ec2.request("DeleteSubnet").param("SubnetId", subnet)).await,
            )?;
        }
        ResourceSpec::RouteTable { .. } => {
            let table = id(live, "id")?;
            let out = unless_gone(
                aws!(ctx, NONE, c.ec2.request("DescribeRouteTables").param("RouteTableId.1", table)).await,
            )?;
            // The main table's association goes with the VPC; the subnets' are undone first.
            let associations: Vec<String> = out
                .iter()
                .flat_map(|o| o.items("routeTableSet"))
                .flat_map(|t| t.items("associationSet"))
                .filter(|a| a.text("main") != Some("true"))
                .filter_map(|a| a.text("routeTableAssociationId").map(str::to_string))
                .collect();
            for association in &associations {
                unless_gone(
                    aws!(
                        ctx,
                        NONE,
                        c.ec2.request("DisassociateRouteTable").param("AssociationId", association)
                    )
                    .await,
                )?;
            }
            unless_gone(
                aws!(ctx, NETWORK_IN_USE, c.ec2.request("DeleteRouteTable").param("RouteTableId", table))
                    .await,
            )?;
        }
        ResourceSpec::InternetGateway { vpc } => {
            let gateway = id(live, "id")?;
            let detached = aws!(
                ctx,
                NETWORK_IN_USE,
                c.ec2
                    .request("DetachInternetGateway")
                    .param("InternetGatewayId", gateway)
                    .param("VpcId", vpc)
            )
            .await;
            match detached {
                // Already detached (from a VPC since deleted): go on and delete it.
                Err(Halt::Failed(e)) if e.is_not_found() || e.has_code(&["Gateway.NotAttached"]) => {}
                other => {
                    other?;
                }
            }
            unless_gone(
                aws!(
                    ctx,
                    NETWORK_IN_USE,
                    c.ec2.request("DeleteInternetGateway").param("InternetGatewayId", gateway)
                )
                .await,
            )?;
        }
        ResourceSpec::Vpc { .. } => {
            let vpc = id(live, "id")?;
            unless_gone(aws!(ctx, NETWORK_IN_USE, c.ec2.request("DeleteVpc").param("VpcId", vpc)).await)?;
        }
        ResourceSpec::NatGateway { .. } => {
            let gateway = id(live, "id")?;
            unless_gone(
                aws!(ctx, NONE, c.ec2.request("DeleteNatGateway").param("NatGatewayId", gateway)).await,
            )?;
        }
        ResourceSpec::ElasticIp { .. } => {
            // Released only once nothing holds it (a NAT gateway deleted a moment ago).
            let allocation = id(live, "id")?;
            unless_gone(
                aws!(ctx, ADDRESS_IN_USE, c.ec2.request("ReleaseAddress").param("AllocationId", allocation))
                    .await,
            )?;
        }
        ResourceSpec::VpcEndpoint { .. } => {
            let endpoint = id(live, "id")?;
            unless_gone(
                aws!(ctx, NONE, c.ec2.request("DeleteVpcEndpoints").param("VpcEndpointId.1", endpoint)).await,
            )?;
        }
        ResourceSpec::Ec2Instance { .. } => {
            let instance = id(live, "id")?;
            unless_gone(
                aws!(ctx, NONE, c.ec2.request("TerminateInstances").param("InstanceId.1", instance)).await,
            )?;
        }
        ResourceSpec::LaunchTemplate { .. } => {
            let template = id(live, "id")?;
            unless_gone(
                aws!(ctx, NONE, c.ec2.request("DeleteLaunchTemplate").param("LaunchTemplateId", template))
                    .await,
            )?;
        }
        ResourceSpec::AcmCertificate { .. } => {
            // In use until the HTTPS listeners that serve it are deleted (an earlier wave).
            let arn = id(live, "arn")?;
            unless_gone(
                aws_json!(ctx, STILL_IN_USE, c.acm, "DeleteCertificate", { "CertificateArn": arn }).await,
            )?;
        }
        ResourceSpec::HostedZone { .. } => {
            let zone = id(live, "id")?;
            unless_gone(aws!(ctx, NONE, c.route53.delete_hosted_zone().id(zone)).await)?;
        }
        ResourceSpec::DnsRecord { name, record_type, .. } => {
            let zone = id(live, "zone_id")?;
            // DELETE must repeat the record set exactly as it stands.
            let Some(record) =
                super::find::record_set(c, zone, name, record_type).await.map_err(Halt::Failed)?
            else {
                return Ok(None);
            };
            let change = aws_sdk_route53::types::Change::builder()
                .action(aws_sdk_route53::types::ChangeAction::Delete)
                .resource_record_set(record)
                .build()
                .map_err(|e| Halt::Failed(CleanupError::other(e.to_string())))?;
            let batch = aws_sdk_route53::types::ChangeBatch::builder()
                .changes(change)
                .build()
                .map_err(|e| Halt::Failed(CleanupError::other(e.to_string())))?;
            unless_gone(
                aws!(
                    ctx,
                    NONE,
                    c.route53.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch.clone())
                )
                .await,
            )?;
        }
        ResourceSpec::EcsCluster { cluster } => {
            unless_gone(aws!(ctx, CLUSTER_BUSY, c.ecs.delete_cluster().cluster(cluster)).await)?;
        }
    }
    Ok(None)
}

/// Deregisters every live revision, then deletes them; an endpoint without
/// DeleteTaskDefinitions leaves them INACTIVE, which stops them being used and costs nothing.
async fn task_definitions(ctx: &Deletion<'_>, live: &Ids) -> Result<Option<String>, Halt> {
    let c = ctx.clients;
    let arns: Vec<&String> =
        live.iter().filter(|(k, _)| k.starts_with("revision:")).map(|(_, v)| v).collect();
    for arn in &arns {
        unless_gone(aws!(ctx, NONE, c.ecs.deregister_task_definition().task_definition(*arn)).await)?;
    }
    // DeleteTaskDefinitions takes at most 10 revisions a call.
    for chunk in arns.chunks(10) {
        let request = || async {
            let mut call = c.ecs.delete_task_definitions();
            for arn in chunk {
                call = call.task_definitions(*arn);
            }
            call.send().await.map_err(CleanupError::from)
        };
        match ctx.call(NONE, request).await {
            Ok(_) => {}
            Err(Halt::Failed(e)) if is_unimplemented(&e) => {
                return Ok(Some("deregistered only: this endpoint cannot delete task definitions".into()));
            }
            Err(Halt::Failed(e)) if e.is_not_found() => {}
            Err(h) => return Err(h),
        }
    }
    Ok(None)
}

/// Detaches the policy from every user, group and role, deletes its other versions, then the policy.
async fn iam_policy(ctx: &Deletion<'_>, arn: &str) -> Result<(), Halt> {
    let c = ctx.clients;
    if let Some(out) =
        unless_gone(aws!(ctx, NONE, c.iam.list_entities_for_policy().policy_arn(arn).max_items(1000)).await)?
    {
        for role in out.policy_roles().iter().filter_map(|r| r.role_name()) {
            unless_gone(aws!(ctx, NONE, c.iam.detach_role_policy().role_name(role).policy_arn(arn)).await)?;
        }
        for user in out.policy_users().iter().filter_map(|u| u.user_name()) {
            unless_gone(aws!(ctx, NONE, c.iam.detach_user_policy().user_name(user).policy_arn(arn)).await)?;
        }
        for group in out.policy_groups().iter().filter_map(|g| g.group_name()) {
            unless_gone(
                aws!(ctx, NONE, c.iam.detach_group_policy().group_name(group).policy_arn(arn)).await,
            )?;
        }
    }
    if let Some(out) = unless_gone(aws!(ctx, NONE, c.iam.list_policy_versions().policy_arn(arn)).await)? {
        for version in
            out.versions().iter().filter(|v| !v.is_default_version()).filter_map(|v| v.version_id())
        {
            unless_gone(
                aws!(ctx, NONE, c.iam.delete_policy_version().policy_arn(arn).version_id(version)).await,
            )?;
        }
    }
    unless_gone(aws!(ctx, STILL_IN_USE, c.iam.delete_policy().policy_arn(arn)).await)?;
    Ok(())
}

/// Detaches managed policies, deletes inline ones, leaves instance profiles, then deletes the role.
async fn iam_role(ctx: &Deletion<'_>, name: &str) -> Result<(), Halt> {
    let c = ctx.clients;
    if let Some(out) = unless_gone(
        aws!(ctx, NONE, c.iam.list_attached_role_policies().role_name(name).max_items(1000)).await,
    )? {
        for arn in out.attached_policies().iter().filter_map(|p| p.policy_arn()) {
            unless_gone(aws!(ctx, NONE, c.iam.detach_role_policy().role_name(name).policy_arn(arn)).await)?;
        }
    }
    if let Some(out) =
        unless_gone(aws!(ctx, NONE, c.iam.list_role_policies().role_name(name).max_items(1000)).await)?
    {
        for policy in out.policy_names() {
            unless_gone(
                aws!(ctx, NONE, c.iam.delete_role_policy().role_name(name).policy_name(policy)).await,
            )?;
        }
    }
    if let Some(out) = unless_gone(
        aws!(ctx, NONE, c.iam.list_instance_profiles_for_role().role_name(name).max_items(1000)).await,
    )? {
        for profile in out.instance_profiles().iter().map(|p| p.instance_profile_name()) {
            unless_gone(
                aws!(
                    ctx,
                    NONE,
                    c.iam.remove_role_from_instance_profile().instance_profile_name(profile).role_name(name)
                )
                .await,
            )?;
        }
    }
    unless_gone(aws!(ctx, STILL_IN_USE, c.iam.delete_role().role_name(name)).await)?;
    Ok(())
}

/// Takes the capacity provider out of the cluster's providers and default strategy (AWS
/// refuses to delete one a cluster still uses). Nothing to do when the cluster is gone.
async fn leave_cluster(ctx: &Deletion<'_>, cluster: &str, name: &str, arn: &str) -> Result<(), Halt> {
    let c = ctx.clients;
    let Some(out) = unless_gone(aws!(ctx, NONE, c.ecs.describe_clusters().clusters(cluster)).await)? else {
        return Ok(());
    };
    let Some(live) = out.clusters().iter().find(|k| k.status() == Some("ACTIVE")) else { return Ok(()) };
    let ours = |p: &str| p == name || p == arn;
    if !live.capacity_providers().iter().any(|p| ours(p)) {
        return Ok(());
    }
    let providers: Vec<String> = live.capacity_providers().iter().filter(|p| !ours(p)).cloned().collect();
    let strategy: Vec<_> = live
        .default_capacity_provider_strategy()
        .iter()
        .filter(|s| !ours(s.capacity_provider()))
        .cloned()
        .collect();
    unless_gone(
        aws!(
            ctx,
            PROVIDER_BUSY,
            c.ecs
                .put_cluster_capacity_providers()
                .cluster(cluster)
                .set_capacity_providers(Some(providers.clone()))
                .set_default_capacity_provider_strategy(Some(strategy.clone()))
        )
        .await,
    )?;
    Ok(())
}

/// Takes every role out of the instance profile, then deletes it.
async fn instance_profile(ctx: &Deletion<'_>, name: &str) -> Result<(), Halt> {
    let c = ctx.clients;
    if let Some(out) =
        unless_gone(aws!(ctx, NONE, c.iam.get_instance_profile().instance_profile_name(name)).await)?
    {
        let roles: Vec<String> = out
            .instance_profile()
            .map(|p| p.roles().iter().map(|r| r.role_name().to_string()).collect())
            .unwrap_or_default();
        for role in roles {
            unless_gone(
                aws!(
                    ctx,
                    NONE,
                    c.iam.remove_role_from_instance_profile().instance_profile_name(name).role_name(&role)
                )
                .await,
            )?;
        }
    }
    unless_gone(aws!(ctx, STILL_IN_USE, c.iam.delete_instance_profile().instance_profile_name(name)).await)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ErrorClass;

    #[test]
    fn unimplemented_operations_are_recognised() {
        let e = |code: &str, message: &str| CleanupError {
            class: ErrorClass::Other,
            code: Some(code.into()),
            message: message.into(),
        };
        assert!(is_unimplemented(&e("InvalidAction", "x")));
        assert!(is_unimplemented(&e("", "The delete_task_definitions action has not been implemented")));
        assert!(is_unimplemented(&e("UnknownOperationException", "")));
        assert!(!is_unimplemented(&e("ClientException", "The specified task definition is still in use")));
    }
}
