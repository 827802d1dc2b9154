//! Finding resources as they are now.
//!
//! Two questions, kept apart on purpose:
//! - [`find`]: does the resource the ledger recorded still exist? Asked by its identity (id
//!   or ARN) only. A resource with the same name but another id is *not* it: cleanup never
//!   deletes what the ledger did not record.
//! - [`find_all`]: which live resources match a declared resource's identifying fields
//!   (names)? Used to learn the identity of what a step just created, and to resolve intents.
//!   Names are not unique for every type (VPCs, route tables), so this returns every match.
//!
//! Every function answers "does not exist" for states AWS keeps listing for a while after
//! deletion (an INACTIVE ECS service or cluster, a deregistered task definition).

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_ecs::types::{CapacityProviderStatus, TaskDefinitionStatus};
use aws_sdk_iam::types::PolicyScopeType;
use aws_sdk_servicediscovery::types::{FilterCondition, ServiceFilter, ServiceFilterName};

use super::CleanupError;
use serde_json::{json, Value};

use crate::aws::ec2::Xml;
use crate::aws::Clients;
use crate::lab::ResourceSpec;
use crate::state::ledger::identity;

/// Ids of a live resource.
pub(crate) type Ids = BTreeMap<String, String>;

/// The live resource the `recorded` ids identify, or `None` when it is gone. Never a
/// different resource that happens to carry the same name.
pub(crate) async fn find(
    clients: &Clients,
    spec: &ResourceSpec,
    recorded: &Ids,
) -> Result<Option<Ids>, CleanupError> {
    if let ResourceSpec::TaskDefinition { family } = spec {
        return task_definition(clients, family, recorded).await;
    }
    let Some(wanted) = identity(recorded) else {
        // No identity recorded (a ledger entry of a type whose API gave none): only types
        // whose name is unique in the account and region may be found by name.
        return if name_is_unique(spec) {
            by_spec(clients, spec).await.map(|v| v.into_iter().next())
        } else {
            Ok(None)
        };
    };
    if has_id_lookup(spec) {
        return by_recorded_ids(clients, spec, recorded).await;
    }
    let live = by_spec(clients, spec).await?;
    Ok(live.into_iter().find(|ids| identity(ids) == Some(wanted)).map(|mut ids| {
        for (k, v) in recorded {
            ids.entry(k.clone()).or_insert_with(|| v.clone());
        }
        ids
    }))
}

/// Every live resource matching `spec`'s identifying fields. For a task definition family:
/// one set of ids with every ACTIVE revision.
pub(crate) async fn find_all(clients: &Clients, spec: &ResourceSpec) -> Result<Vec<Ids>, CleanupError> {
    if let ResourceSpec::TaskDefinition { family } = spec {
        return Ok(task_definition(clients, family, &Ids::new()).await?.into_iter().collect());
    }
    by_spec(clients, spec).await
}

/// Whether AWS allows only one resource of this type with these identifying fields.
fn name_is_unique(spec: &ResourceSpec) -> bool {
    !matches!(
        spec,
        ResourceSpec::Vpc { .. }
            | ResourceSpec::RouteTable { .. }
            | ResourceSpec::CloudmapNamespace { .. }
            | ResourceSpec::NatGateway { .. }
            | ResourceSpec::ElasticIp { .. }
            | ResourceSpec::VpcEndpoint { .. }
            | ResourceSpec::Ec2Instance { .. }
            | ResourceSpec::AcmCertificate { .. }
            | ResourceSpec::HostedZone { .. }
            | ResourceSpec::DnsRecord { .. }
    )
}

/// Types [`by_recorded_ids`] can look up by id or ARN directly.
fn has_id_lookup(spec: &ResourceSpec) -> bool {
    matches!(
        spec,
        ResourceSpec::LoadBalancer { .. }
            | ResourceSpec::Listener { .. }
            | ResourceSpec::ListenerRule { .. }
            | ResourceSpec::TargetGroup { .. }
            | ResourceSpec::CloudmapNamespace { .. }
            | ResourceSpec::CloudmapService { .. }
            | ResourceSpec::IamPolicy { .. }
            | ResourceSpec::SecurityGroup { .. }
            | ResourceSpec::Subnet { .. }
            | ResourceSpec::RouteTable { .. }
            | ResourceSpec::InternetGateway { .. }
            | ResourceSpec::Vpc { .. }
            | ResourceSpec::NatGateway { .. }
            | ResourceSpec::ElasticIp { .. }
            | ResourceSpec::VpcEndpoint { .. }
            | ResourceSpec::Ec2Instance { .. }
            | ResourceSpec::LaunchTemplate { .. }
            | ResourceSpec::AcmCertificate { .. }
            | ResourceSpec::HostedZone { .. }
            | ResourceSpec::Secret { .. }
    )
}

/// A DNS name without its trailing dot, lower-cased, with Route 53's octal escape of `*`
/// decoded: Route 53 answers `\052.Example.com.`.
pub(crate) fn dns_name(name: &str) -> String {
    name.trim_end_matches('.').replace("\\052", "*").to_ascii_lowercase()
}

/// Route 53 zone ids come as `/hostedzone/Z123`; the ledger keeps `Z123`.
pub(crate) fn zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The ids of every hosted zone named `name`.
pub(crate) async fn hosted_zones(clients: &Clients, name: &str) -> Result<Vec<String>, CleanupError> {
    let wanted = dns_name(name);
    let mut found = Vec::new();
    let mut next: Option<(String, Option<String>)> = Some((wanted.clone(), None));
    while let Some((dns, zone)) = next.take() {
        let out =
            clients.route53.list_hosted_zones_by_name().dns_name(dns).set_hosted_zone_id(zone).send().await?;
        let mut past = false;
        for z in out.hosted_zones() {
            if dns_name(z.name()) == wanted {
                found.push(zone_id(z.id()).to_string());
            } else if !found.is_empty() || dns_name(z.name()) > wanted {
                past = true;
            }
        }
        if out.is_truncated() && !past {
            next =
                out.next_dns_name().map(|d| (d.to_string(), out.next_hosted_zone_id().map(str::to_string)));
        }
    }
    Ok(found)
}

/// The record set `name`/`record_type` of zone `zone`, if it exists.
pub(crate) async fn record_set(
    clients: &Clients,
    zone: &str,
    name: &str,
    record_type: &str,
) -> Result<Option<aws_sdk_route53::types::ResourceRecordSet>, CleanupError> {
    let rr_type = aws_sdk_route53::types::RrType::from(record_type.to_ascii_uppercase().as_str());
    let out = absent(
        clients
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(name)
            .start_record_type(rr_type.clone())
            .max_items(10)
            .send()
            .await,
    )?;
    Ok(out.and_then(|o| {
        o.resource_record_sets()
            .iter()
            .find(|r| dns_name(r.name()) == dns_name(name) && r.r#type() == &rr_type)
            .cloned()
    }))
}

/// NAT gateway states that still hold the gateway (and its address and subnet).
fn nat_alive(gateway: &Xml) -> bool {
    !matches!(gateway.text("state"), Some("deleted" | "failed"))
}

/// Instance states that still exist for cleanup's purposes (terminated ones linger in listings).
fn instance_alive(instance: &Xml) -> bool {
    !matches!(instance.text("instanceState/name"), Some("terminated"))
}

/// VPC endpoint states that still hold the endpoint.
fn endpoint_alive(endpoint: &Xml) -> bool {
    !matches!(endpoint.text("state").map(str::to_ascii_lowercase).as_deref(), Some("deleted" | "failed"))
}

/// The instances of `DescribeInstances` reservations.
fn instances(reservations: &[Xml]) -> impl Iterator<Item = &Xml> {
    reservations.iter().flat_map(|r| r.items("instancesSet"))
}

/// `action` for the one resource `id` (as parameter `param`): the `item`s of `set`.
async fn ec2_by_id(
    clients: &Clients,
    action: &'static str,
    param: &str,
    id: &str,
    set: &str,
) -> Result<Vec<Xml>, crate::aws::LiteError> {
    clients.ec2.request(action).param(param, id).send_all(set).await
}

/// The objects of the list `field` of a JSON answer.
fn items<'a>(doc: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    doc.get(field).and_then(Value::as_array).into_iter().flatten()
}

/// The string `field` of a JSON object.
fn text<'a>(doc: &'a Value, field: &str) -> Option<&'a str> {
    doc.get(field).and_then(Value::as_str)
}

/// A secret not scheduled for deletion (`DeletedDate` unset).
fn secret_alive(secret: &Value) -> bool {
    secret.get("DeletedDate").is_none_or(Value::is_null)
}

/// Ids of `items` from their `field`.
fn ec2_ids(items: &[Xml], field: &str) -> Vec<Ids> {
    items.iter().map(|item| ids([("id", item.text(field))])).collect()
}

/// Turns "not found" into `None`.
fn absent<T, E: Into<CleanupError>>(result: Result<T, E>) -> Result<Option<T>, CleanupError> {
    match result.map_err(Into::into) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn ids<const N: usize>(pairs: [(&str, Option<&str>); N]) -> Ids {
    pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string()))).collect()
}

/// The task definition revision ARN's family and revision: `...:task-definition/web:3` → ("web", "3").
pub(crate) fn family_revision(arn: &str) -> Option<(&str, &str)> {
    arn.rsplit('/').next()?.rsplit_once(':')
}

/// Every live resource matching `spec`'s identifying fields.
async fn by_spec(clients: &Clients, spec: &ResourceSpec) -> Result<Vec<Ids>, CleanupError> {
    let all = |found: Option<Vec<Ids>>| found.unwrap_or_default();
    match spec {
        ResourceSpec::SecurityGroup { name, vpc } => {
            let request = clients
                .ec2
                .request("DescribeSecurityGroups")
                .filter("group-name", name)
                .filter("vpc-id", vpc);
            Ok(all(absent(request.send_all("securityGroupInfo").await)?.map(|g| ec2_ids(&g, "groupId"))))
        }
        ResourceSpec::Subnet { vpc, cidr } => {
            let request =
                clients.ec2.request("DescribeSubnets").filter("vpc-id", vpc).filter("cidr-block", cidr);
            Ok(all(absent(request.send_all("subnetSet").await)?.map(|s| ec2_ids(&s, "subnetId"))))
        }
        ResourceSpec::RouteTable { vpc, name } => {
            let request =
                clients.ec2.request("DescribeRouteTables").filter("vpc-id", vpc).filter("tag:Name", name);
            Ok(all(absent(request.send_all("routeTableSet").await)?.map(|t| ec2_ids(&t, "routeTableId"))))
        }
        ResourceSpec::InternetGateway { vpc } => {
            let request = clients.ec2.request("DescribeInternetGateways").filter("attachment.vpc-id", vpc);
            Ok(all(absent(request.send_all("internetGatewaySet").await)?
                .map(|g| ec2_ids(&g, "internetGatewayId"))))
        }
        ResourceSpec::NatGateway { vpc, name } => {
            let request =
                clients.ec2.request("DescribeNatGateways").filter("vpc-id", vpc).filter("tag:Name", name);
            Ok(all(absent(request.send_all("natGatewaySet").await)?.map(|gateways| {
                gateways
                    .iter()
                    .filter(|g| nat_alive(g))
                    .map(|g| ids([("id", g.text("natGatewayId"))]))
                    .collect()
            })))
        }
        ResourceSpec::ElasticIp { name } => {
            let request = clients.ec2.request("DescribeAddresses").filter("tag:Name", name);
            Ok(all(absent(request.send_all("addressesSet").await)?.map(|addresses| {
                addresses
                    .iter()
                    .map(|a| ids([("id", a.text("allocationId")), ("public_ip", a.text("publicIp"))]))
                    .collect()
            })))
        }
        ResourceSpec::VpcEndpoint { vpc, service } => {
            let request = clients
                .ec2
                .request("DescribeVpcEndpoints")
                .filter("vpc-id", vpc)
                .filter("service-name", service);
            Ok(all(absent(request.send_all("vpcEndpointSet").await)?.map(|endpoints| {
                endpoints
                    .iter()
                    .filter(|e| endpoint_alive(e))
                    .map(|e| ids([("id", e.text("vpcEndpointId"))]))
                    .collect()
            })))
        }
        ResourceSpec::Ec2Instance { name } => {
            let request = clients.ec2.request("DescribeInstances").filter("tag:Name", name);
            Ok(all(absent(request.send_all("reservationSet").await)?.map(|reservations| {
                instances(&reservations)
                    .filter(|i| instance_alive(i))
                    .map(|i| ids([("id", i.text("instanceId"))]))
                    .collect()
            })))
        }
        ResourceSpec::Vpc { name } => {
            let request = clients.ec2.request("DescribeVpcs").filter("tag:Name", name);
            Ok(all(absent(request.send_all("vpcSet").await)?.map(|v| ec2_ids(&v, "vpcId"))))
        }
        ResourceSpec::AcmCertificate { domain } => {
            let mut found = Vec::new();
            let mut token = None;
            loop {
                let mut input = json!({});
                if let Some(token) = token.take() {
                    input["NextToken"] = Value::String(token);
                }
                let out = clients.acm.call("ListCertificates", input).await?;
                found.extend(
                    items(&out, "CertificateSummaryList")
                        .filter(|c| text(c, "DomainName").is_some_and(|d| dns_name(d) == dns_name(domain)))
                        .map(|c| ids([("arn", text(c, "CertificateArn"))])),
                );
                token = text(&out, "NextToken").map(str::to_string);
                if token.is_none() {
                    return Ok(found);
                }
            }
        }
        ResourceSpec::HostedZone { name } => {
            Ok(hosted_zones(clients, name).await?.into_iter().map(|id| ids([("id", Some(&id))])).collect())
        }
        ResourceSpec::DnsRecord { zone, name, record_type } => {
            let mut found = Vec::new();
            for id in hosted_zones(clients, zone).await? {
                if record_set(clients, &id, name, record_type).await?.is_some() {
                    let identity = format!("{id}/{}/{}", dns_name(name), record_type.to_ascii_uppercase());
                    found.push(ids([("id", Some(&identity)), ("zone_id", Some(&id))]));
                }
            }
            Ok(found)
        }
        ResourceSpec::CloudmapNamespace { name } => Ok(namespaces(clients, name)
            .await?
            .into_iter()
            .map(|(id, arn)| ids([("id", Some(&id)), ("arn", arn.as_deref())]))
            .collect()),
        _ => Ok(by_name(clients, spec).await?.into_iter().collect()),
    }
}

/// The one live resource of a type whose identifying fields are unique.
async fn by_name(clients: &Clients, spec: &ResourceSpec) -> Result<Option<Ids>, CleanupError> {
    match spec {
        ResourceSpec::EcsCluster { cluster } => {
            let Some(out) = absent(clients.ecs.describe_clusters().clusters(cluster).send().await)? else {
                return Ok(None);
            };
            Ok(out
                .clusters()
                .iter()
                .find(|c| c.status() != Some("INACTIVE"))
                .map(|c| ids([("arn", c.cluster_arn())])))
        }
        ResourceSpec::EcsService { cluster, service } => {
            let Some(out) =
                absent(clients.ecs.describe_services().cluster(cluster).services(service).send().await)?
            else {
                return Ok(None);
            };
            Ok(out
                .services()
                .iter()
                .find(|s| s.status() != Some("INACTIVE"))
                .map(|s| ids([("arn", s.service_arn()), ("status", s.status())])))
        }
        ResourceSpec::TaskDefinition { .. } => Ok(None),
        ResourceSpec::LoadBalancer { name } => {
            let out = absent(clients.elbv2.describe_load_balancers().names(name).send().await)?;
            Ok(out.and_then(|o| {
                o.load_balancers()
                    .first()
                    .map(|l| ids([("arn", l.load_balancer_arn()), ("dns_name", l.dns_name())]))
            }))
        }
        ResourceSpec::Listener { load_balancer, port } => {
            let Some(lb) = load_balancer_arn(clients, load_balancer).await? else { return Ok(None) };
            Ok(listener_arn(clients, &lb, *port)
                .await?
                .map(|arn| ids([("arn", Some(&arn)), ("load_balancer_arn", Some(&lb))])))
        }
        ResourceSpec::ListenerRule { load_balancer, port, priority } => {
            let Some(lb) = load_balancer_arn(clients, load_balancer).await? else { return Ok(None) };
            let Some(listener) = listener_arn(clients, &lb, *port).await? else { return Ok(None) };
            let Some(out) = absent(clients.elbv2.describe_rules().listener_arn(&listener).send().await)?
            else {
                return Ok(None);
            };
            let wanted = priority.to_string();
            Ok(out.rules().iter().find(|r| r.priority() == Some(wanted.as_str())).map(|r| {
                ids([
                    ("arn", r.rule_arn()),
                    ("listener_arn", Some(&listener)),
                    ("load_balancer_arn", Some(&lb)),
                ])
            }))
        }
        ResourceSpec::TargetGroup { name } => {
            let Some(out) = absent(clients.elbv2.describe_target_groups().names(name).send().await)? else {
                return Ok(None);
            };
            Ok(out.target_groups().first().map(|t| ids([("arn", t.target_group_arn())])))
        }
        ResourceSpec::CloudmapService { namespace: ns, name } => {
            let Some((ns_id, _)) = namespace(clients, ns).await? else { return Ok(None) };
            let filter = ServiceFilter::builder()
                .name(ServiceFilterName::NamespaceId)
                .values(&ns_id)
                .condition(FilterCondition::Eq)
                .build()
                .map_err(|e| CleanupError::other(e.to_string()))?;
            let mut token = None;
            loop {
                let out = clients
                    .servicediscovery
                    .list_services()
                    .filters(filter.clone())
                    .set_next_token(token)
                    .send()
                    .await?;
                if let Some(s) = out.services().iter().find(|s| s.name() == Some(name.as_str())) {
                    return Ok(Some(ids([("id", s.id()), ("arn", s.arn()), ("namespace_id", Some(&ns_id))])));
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(None);
                }
            }
        }
        ResourceSpec::ScalableTarget { service_namespace, resource_id, dimension } => {
            let out = clients
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::from(service_namespace.as_str()))
                .resource_ids(resource_id)
                .scalable_dimension(ScalableDimension::from(dimension.as_str()))
                .send()
                .await;
            let Some(out) = absent(out)? else { return Ok(None) };
            Ok(out
                .scalable_targets()
                .iter()
                .find(|t| t.resource_id() == resource_id)
                .map(|t| ids([("arn", t.scalable_target_arn()), ("resource_id", Some(t.resource_id()))])))
        }
        ResourceSpec::ScalingPolicy { service_namespace, resource_id, dimension, policy_name } => {
            let out = clients
                .autoscaling
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::from(service_namespace.as_str()))
                .resource_id(resource_id)
                .scalable_dimension(ScalableDimension::from(dimension.as_str()))
                .policy_names(policy_name)
                .send()
                .await;
            let Some(out) = absent(out)? else { return Ok(None) };
            Ok(out
                .scaling_policies()
                .iter()
                .find(|p| p.policy_name() == policy_name)
                .map(|p| ids([("arn", Some(p.policy_arn()))])))
        }
        ResourceSpec::Alarm { name } => {
            let out = clients.cloudwatch.describe_alarms().alarm_names(name).send().await?;
            let metric = out.metric_alarms().iter().find(|a| a.alarm_name() == Some(name.as_str()));
            let found = match metric {
                Some(a) => Some(ids([("arn", a.alarm_arn())])),
                None => out
                    .composite_alarms()
                    .iter()
                    .find(|a| a.alarm_name() == Some(name.as_str()))
                    .map(|a| ids([("arn", a.alarm_arn())])),
            };
            Ok(found)
        }
        ResourceSpec::Dashboard { name } => {
            let out = clients.cloudwatch.list_dashboards().dashboard_name_prefix(name).send().await?;
            Ok(out
                .dashboard_entries()
                .iter()
                .find(|d| d.dashboard_name() == Some(name.as_str()))
                .map(|d| ids([("arn", d.dashboard_arn())])))
        }
        ResourceSpec::LogGroup { name } => {
            let out = clients.logs.call("DescribeLogGroups", json!({ "logGroupNamePrefix": name })).await;
            let Some(out) = absent(out)? else { return Ok(None) };
            let found =
                items(&out, "logGroups").find(|g| text(g, "logGroupName") == Some(name.as_str())).map(|g| {
                    let arn = text(g, "logGroupArn")
                        .map(str::to_string)
                        .or_else(|| text(g, "arn").map(|a| a.trim_end_matches(":*").into()));
                    ids([("arn", arn.as_deref())])
                });
            Ok(found)
        }
        ResourceSpec::DynamodbTable { table } => {
            let out = clients.dynamodb.call("DescribeTable", json!({ "TableName": table })).await;
            let Some(out) = absent(out)? else { return Ok(None) };
            // The table id, not the name-made ARN, tells a re-created table apart.
            Ok(out.get("Table").map(|t| {
                ids([
                    ("id", text(t, "TableId")),
                    ("arn", text(t, "TableArn")),
                    ("status", text(t, "TableStatus")),
                ])
            }))
        }
        ResourceSpec::IamRole { name } => {
            let Some(out) = absent(clients.iam.get_role().role_name(name).send().await)? else {
                return Ok(None);
            };
            Ok(out.role().map(|r| ids([("arn", Some(r.arn())), ("id", Some(r.role_id()))])))
        }
        ResourceSpec::IamPolicy { name } => {
            let mut marker = None;
            loop {
                let out = clients
                    .iam
                    .list_policies()
                    .scope(PolicyScopeType::Local)
                    .set_marker(marker)
                    .send()
                    .await?;
                if let Some(p) = out.policies().iter().find(|p| p.policy_name() == Some(name.as_str())) {
                    return Ok(Some(ids([("arn", p.arn()), ("id", p.policy_id())])));
                }
                marker = out.marker().map(str::to_string);
                if !out.is_truncated() || marker.is_none() {
                    return Ok(None);
                }
            }
        }
        ResourceSpec::InstanceProfile { name } => {
            let out = absent(clients.iam.get_instance_profile().instance_profile_name(name).send().await)?;
            // The id tells a re-created profile apart (the ARN is made of the name).
            Ok(out.and_then(|o| {
                o.instance_profile()
                    .map(|p| ids([("arn", Some(p.arn())), ("id", Some(p.instance_profile_id()))]))
            }))
        }
        ResourceSpec::Secret { name } => {
            let out =
                absent(clients.secretsmanager.call("DescribeSecret", json!({ "SecretId": name })).await)?;
            // A secret scheduled for deletion is on its way out: not there for the lab.
            Ok(out.filter(secret_alive).map(|o| ids([("arn", text(&o, "ARN"))])))
        }
        ResourceSpec::AutoscalingGroup { name } => {
            let out = clients
                .ec2_autoscaling
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(name)
                .send()
                .await?;
            // The ARN carries a generated id: it tells a re-created group apart. A group being
            // deleted is still there (with its instances) until AWS has finished.
            Ok(out
                .auto_scaling_groups()
                .iter()
                .find(|g| g.auto_scaling_group_name() == Some(name.as_str()))
                .map(|g| ids([("arn", g.auto_scaling_group_arn())])))
        }
        ResourceSpec::CapacityProvider { name, .. } => {
            let out =
                absent(clients.ecs.describe_capacity_providers().capacity_providers(name).send().await)?;
            // ECS lists a deleted capacity provider as INACTIVE for a while.
            Ok(out.and_then(|o| {
                o.capacity_providers()
                    .iter()
                    .find(|c| {
                        c.name() == Some(name.as_str())
                            && c.status() != Some(&CapacityProviderStatus::Inactive)
                    })
                    .map(|c| ids([("arn", c.capacity_provider_arn())]))
            }))
        }
        ResourceSpec::EcrRepository { name } => {
            let out = clients.ecr.call("DescribeRepositories", json!({ "repositoryNames": [name] })).await;
            Ok(absent(out)?.and_then(|o| {
                items(&o, "repositories")
                    .find(|r| text(r, "repositoryName") == Some(name.as_str()))
                    .map(|r| ids([("arn", text(r, "repositoryArn")), ("uri", text(r, "repositoryUri"))]))
            }))
        }
        ResourceSpec::SsmParameter { name } => {
            // Metadata only is kept: never the value (it is not decrypted either).
            let out = absent(
                clients.ssm.call("GetParameter", json!({ "Name": name, "WithDecryption": false })).await,
            )?;
            Ok(out.and_then(|o| o.get("Parameter").map(|p| ids([("arn", text(p, "ARN"))]))))
        }
        ResourceSpec::LaunchTemplate { name } => {
            let request = clients.ec2.request("DescribeLaunchTemplates").param("LaunchTemplateName.1", name);
            let out = absent(request.send_all("launchTemplates").await)?;
            Ok(out.and_then(|t| t.first().map(|t| ids([("id", t.text("launchTemplateId"))]))))
        }
        // Types whose names are not unique are listed by `by_spec`.
        ResourceSpec::AcmCertificate { .. }
        | ResourceSpec::HostedZone { .. }
        | ResourceSpec::DnsRecord { .. }
        | ResourceSpec::NatGateway { .. }
        | ResourceSpec::ElasticIp { .. }
        | ResourceSpec::VpcEndpoint { .. }
        | ResourceSpec::Ec2Instance { .. }
        | ResourceSpec::SecurityGroup { .. }
        | ResourceSpec::Subnet { .. }
        | ResourceSpec::RouteTable { .. }
        | ResourceSpec::InternetGateway { .. }
        | ResourceSpec::Vpc { .. }
        | ResourceSpec::CloudmapNamespace { .. } => Ok(None),
    }
}

/// The resource the recorded `arn`/`id` points at, if it still exists, for the types with a
/// lookup by id ([`has_id_lookup`]).
async fn by_recorded_ids(
    clients: &Clients,
    spec: &ResourceSpec,
    recorded: &Ids,
) -> Result<Option<Ids>, CleanupError> {
    let arn = recorded.get("arn").cloned();
    let id = recorded.get("id").cloned();
    let keep = |present: bool| if present { Some(recorded.clone()) } else { None };
    match spec {
        ResourceSpec::LoadBalancer { .. } => {
            let Some(arn) = arn else { return Ok(None) };
            let out = absent(clients.elbv2.describe_load_balancers().load_balancer_arns(arn).send().await)?;
            Ok(keep(out.is_some_and(|o| !o.load_balancers().is_empty())))
        }
        ResourceSpec::Listener { .. } => {
            let Some(arn) = arn else { return Ok(None) };
            let out = absent(clients.elbv2.describe_listeners().listener_arns(arn).send().await)?;
            Ok(keep(out.is_some_and(|o| !o.listeners().is_empty())))
        }
        ResourceSpec::ListenerRule { .. } => {
            let Some(arn) = arn else { return Ok(None) };
            let out = absent(clients.elbv2.describe_rules().rule_arns(arn).send().await)?;
            Ok(keep(out.is_some_and(|o| !o.rules().is_empty())))
        }
        ResourceSpec::TargetGroup { .. } => {
            let Some(arn) = arn else { return Ok(None) };
            let out = absent(clients.elbv2.describe_target_groups().target_group_arns(arn).send().await)?;
            Ok(keep(out.is_some_and(|o| !o.target_groups().is_empty())))
        }
        ResourceSpec::CloudmapNamespace { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(clients.servicediscovery.get_namespace().id(id).send().await)?;
            Ok(keep(out.is_some_and(|o| o.namespace().is_some())))
        }
        ResourceSpec::CloudmapService { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(clients.servicediscovery.get_service().id(id).send().await)?;
            Ok(keep(out.is_some_and(|o| o.service().is_some())))
        }
        ResourceSpec::IamPolicy { .. } => {
            // The ARN is made of the name: the policy id tells a re-created policy apart.
            let Some(arn) = arn else { return Ok(None) };
            let out = absent(clients.iam.get_policy().policy_arn(arn).send().await)?;
            let live_id = out.as_ref().and_then(|o| o.policy()).map(|p| p.policy_id().map(str::to_string));
            Ok(keep(match (live_id, &id) {
                (None, _) => false,
                (Some(live), Some(recorded)) => live.as_deref() == Some(recorded.as_str()),
                (Some(_), None) => true,
            }))
        }
        ResourceSpec::SecurityGroup { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(
                ec2_by_id(clients, "DescribeSecurityGroups", "GroupId.1", &id, "securityGroupInfo").await,
            )?;
            Ok(keep(out.is_some_and(|o| !o.is_empty())))
        }
        ResourceSpec::Subnet { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(ec2_by_id(clients, "DescribeSubnets", "SubnetId.1", &id, "subnetSet").await)?;
            Ok(keep(out.is_some_and(|o| !o.is_empty())))
        }
        ResourceSpec::RouteTable { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(
                ec2_by_id(clients, "DescribeRouteTables", "RouteTableId.1", &id, "routeTableSet").await,
            )?;
            Ok(keep(out.is_some_and(|o| !o.is_empty())))
        }
        ResourceSpec::InternetGateway { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(
                ec2_by_id(
                    clients,
                    "DescribeInternetGateways",
                    "InternetGatewayId.1",
                    &id,
                    "internetGatewaySet",
                )
                .await,
            )?;
            Ok(keep(out.is_some_and(|o| !o.is_empty())))
        }
        ResourceSpec::NatGateway { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(
                ec2_by_id(clients, "DescribeNatGateways", "NatGatewayId.1", &id, "natGatewaySet").await,
            )?;
            Ok(keep(out.is_some_and(|o| o.iter().any(nat_alive))))
        }
        ResourceSpec::ElasticIp { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out =
                absent(ec2_by_id(clients, "DescribeAddresses", "AllocationId.1", &id, "addressesSet").await)?;
            Ok(keep(out.is_some_and(|o| !o.is_empty())))
        }
        ResourceSpec::VpcEndpoint { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(
                ec2_by_id(clients, "DescribeVpcEndpoints", "VpcEndpointId.1", &id, "vpcEndpointSet").await,
            )?;
            Ok(keep(out.is_some_and(|o| o.iter().any(endpoint_alive))))
        }
        ResourceSpec::Ec2Instance { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out =
                absent(ec2_by_id(clients, "DescribeInstances", "InstanceId.1", &id, "reservationSet").await)?;
            Ok(keep(out.is_some_and(|reservations| instances(&reservations).any(instance_alive))))
        }
        ResourceSpec::LaunchTemplate { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(
                ec2_by_id(clients, "DescribeLaunchTemplates", "LaunchTemplateId.1", &id, "launchTemplates")
                    .await,
            )?;
            Ok(keep(out.is_some_and(|o| !o.is_empty())))
        }
        ResourceSpec::Vpc { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(ec2_by_id(clients, "DescribeVpcs", "VpcId.1", &id, "vpcSet").await)?;
            Ok(keep(out.is_some_and(|o| !o.is_empty())))
        }
        ResourceSpec::AcmCertificate { .. } => {
            let Some(arn) = arn else { return Ok(None) };
            let out =
                absent(clients.acm.call("DescribeCertificate", json!({ "CertificateArn": arn })).await)?;
            Ok(keep(out.is_some_and(|o| o.get("Certificate").is_some())))
        }
        ResourceSpec::HostedZone { .. } => {
            let Some(id) = id else { return Ok(None) };
            let out = absent(clients.route53.get_hosted_zone().id(id).send().await)?;
            Ok(keep(out.is_some_and(|o| o.hosted_zone().is_some())))
        }
        ResourceSpec::Secret { .. } => {
            // The ARN ends in a random suffix: a re-created secret has another one.
            let Some(arn) = arn else { return Ok(None) };
            let out =
                absent(clients.secretsmanager.call("DescribeSecret", json!({ "SecretId": arn })).await)?;
            Ok(keep(out.as_ref().is_some_and(secret_alive)))
        }
        _ => Ok(None),
    }
}

/// A task definition family's live revisions as `revision:<family>:<n>` → ARN.
///
/// With recorded revisions: those of them still ACTIVE (the lab's, nothing else). Without: every
/// ACTIVE revision of the family (what a step just registered).
async fn task_definition(
    clients: &Clients,
    family: &str,
    recorded: &Ids,
) -> Result<Option<Ids>, CleanupError> {
    let recorded_arns: Vec<&String> =
        recorded.iter().filter(|(k, _)| k.starts_with("revision:")).map(|(_, v)| v).collect();
    let mut live = Ids::new();
    if recorded_arns.is_empty() {
        let mut token = None;
        loop {
            let out = clients
                .ecs
                .list_task_definitions()
                .family_prefix(family)
                .status(TaskDefinitionStatus::Active)
                .set_next_token(token)
                .send()
                .await?;
            for arn in out.task_definition_arns() {
                if let Some((f, rev)) = family_revision(arn) {
                    if f == family {
                        live.insert(format!("revision:{f}:{rev}"), arn.clone());
                    }
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    } else {
        for arn in recorded_arns {
            let out = absent(clients.ecs.describe_task_definition().task_definition(arn).send().await)?;
            let active = out
                .as_ref()
                .and_then(|o| o.task_definition())
                .is_some_and(|t| t.status() == Some(&TaskDefinitionStatus::Active));
            if active {
                if let Some((f, rev)) = family_revision(arn) {
                    live.insert(format!("revision:{f}:{rev}"), arn.clone());
                }
            }
        }
    }
    Ok(if live.is_empty() { None } else { Some(live) })
}

/// The ARN of the load balancer called `name`.
pub(crate) async fn load_balancer_arn(clients: &Clients, name: &str) -> Result<Option<String>, CleanupError> {
    let out = absent(clients.elbv2.describe_load_balancers().names(name).send().await)?;
    Ok(out.and_then(|o| o.load_balancers().first().and_then(|l| l.load_balancer_arn()).map(str::to_string)))
}

async fn listener_arn(clients: &Clients, lb_arn: &str, port: u16) -> Result<Option<String>, CleanupError> {
    let Some(out) = absent(clients.elbv2.describe_listeners().load_balancer_arn(lb_arn).send().await)? else {
        return Ok(None);
    };
    Ok(out
        .listeners()
        .iter()
        .find(|l| l.port() == Some(i32::from(port)))
        .and_then(|l| l.listener_arn())
        .map(str::to_string))
}

/// The id and ARN of the first Cloud Map namespace called `name`.
async fn namespace(clients: &Clients, name: &str) -> Result<Option<(String, Option<String>)>, CleanupError> {
    Ok(namespaces(clients, name).await?.into_iter().next())
}

/// The ids and ARNs of every Cloud Map namespace called `name` (private DNS namespaces of the
/// same name may exist in several VPCs).
async fn namespaces(clients: &Clients, name: &str) -> Result<Vec<(String, Option<String>)>, CleanupError> {
    let mut token = None;
    let mut found = Vec::new();
    loop {
        let out = clients.servicediscovery.list_namespaces().set_next_token(token).send().await?;
        for ns in out.namespaces().iter().filter(|n| n.name() == Some(name)) {
            if let Some(id) = ns.id() {
                found.push((id.to_string(), ns.arn().map(str::to_string)));
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definition_arns_split_into_family_and_revision() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/flask-inventory-invsys:12";
        assert_eq!(family_revision(arn), Some(("flask-inventory-invsys", "12")));
        assert_eq!(family_revision("web:3"), Some(("web", "3")));
        assert_eq!(family_revision("nothing"), None);
    }
}
