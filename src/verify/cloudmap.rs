//! Cloud Map checks: namespaces, service instances, private DNS names (`invsys.local`) and
//! Service Connect aliases.
//!
//! Instances are read with ListInstances, never DiscoverInstances: the SDK sends that one to a
//! `data-` prefixed host, which breaks custom endpoints such as the local sandbox.
//!
//! Health (`cloudmap_instances` with `healthy_only`): HEALTHY counts, UNHEALTHY does not, and
//! UNKNOWN counts as healthy, because Cloud Map and Route 53 keep answering with an instance
//! until a health check has reported it unhealthy. A service without health checking (where
//! GetInstancesHealthStatus is refused) counts every instance.

use aws_sdk_route53::types::RrType;
use aws_sdk_servicediscovery::types::{FilterCondition, HealthStatus, ServiceFilter, ServiceFilterName};

use super::text::list;
use super::{Fetch, LookError, Verdict};
use crate::aws::ErrorClass;
use crate::lab::check::{CloudmapInstances, NameRef, PrivateDns, ServiceConnect};

/// A namespace found by name, id or ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NamespaceObs {
    pub id: String,
    pub name: String,
    /// DNS_PRIVATE, DNS_PUBLIC or HTTP.
    pub kind: String,
    pub hosted_zone: Option<String>,
}

/// A registered instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct InstanceObs {
    pub id: String,
    /// AWS_INSTANCE_IPV4.
    pub ipv4: Option<String>,
    /// HEALTHY, UNHEALTHY, UNKNOWN; `None` when health was not read.
    pub health: Option<String>,
}

/// What `private_dns` saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrivateDnsObs {
    pub service: String,
    pub namespace: String,
    pub namespace_found: bool,
    pub service_found: bool,
    pub instance_ips: Vec<String>,
    /// A records in the namespace's hosted zone, when they were read.
    pub record_ips: Option<Vec<String>>,
}

/// Splits `invsys.local` into the service (`invsys`) and the namespace (`local`).
pub(crate) fn split_name(name: &str) -> Option<(&str, &str)> {
    let name = name.trim_end_matches('.');
    name.split_once('.').filter(|(s, n)| !s.is_empty() && !n.is_empty())
}

/// `private_dns`, pure.
pub(crate) fn evaluate_private_dns(name: &str, min: u32, o: &PrivateDnsObs) -> Verdict {
    if !o.namespace_found {
        return Verdict::fail(format!("{name}: namespace {} not found", o.namespace));
    }
    if !o.service_found && o.record_ips.as_ref().is_none_or(|r| r.is_empty()) {
        return Verdict::fail(format!(
            "{name}: no Cloud Map service {} in namespace {}",
            o.service, o.namespace
        ));
    }
    let mut all: Vec<String> = o.instance_ips.clone();
    all.extend(o.record_ips.iter().flatten().cloned());
    all.sort();
    all.dedup();
    let mut sources = vec![format!("{} instance(s)", o.instance_ips.len())];
    if let Some(records) = &o.record_ips {
        sources.push(format!("{} A record(s)", records.len()));
    }
    let evidence = if all.is_empty() {
        format!("{name}: no addresses ({})", sources.join(", "))
    } else {
        format!("{name}: {} ({})", list(&all, 6), sources.join(", "))
    };
    Verdict::pass_if(all.len() >= min as usize, evidence)
}

/// `cloudmap_instances`, pure.
pub(crate) fn evaluate_instances(p: &CloudmapInstances, service: &str, instances: &[InstanceObs]) -> Verdict {
    let min = p.min.unwrap_or(1) as usize;
    let healthy_only = p.healthy_only.unwrap_or(true);
    let counted: Vec<&InstanceObs> =
        instances.iter().filter(|i| !healthy_only || i.health.as_deref() != Some("UNHEALTHY")).collect();
    let labels: Vec<String> = instances
        .iter()
        .map(|i| {
            let addr = i.ipv4.as_deref().unwrap_or(i.id.as_str());
            match &i.health {
                Some(h) => format!("{addr} {h}"),
                None => addr.to_string(),
            }
        })
        .collect();
    let what = if healthy_only { "healthy " } else { "" };
    let mut evidence = format!("{service}: {} {what}instance(s) of {}", counted.len(), instances.len());
    if !labels.is_empty() {
        evidence.push_str(&format!(" ({})", list(&labels, 5)));
    }
    if counted.len() < min {
        evidence.push_str(&format!(", need {min}"));
    }
    Verdict::pass_if(counted.len() >= min, evidence)
}

/// The Service Connect settings of a service's newest deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceConnectObs {
    pub enabled: bool,
    pub namespace: Option<String>,
    pub services: Vec<ScServiceObs>,
}

/// One Service Connect service entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScServiceObs {
    pub port_name: String,
    pub discovery_name: Option<String>,
    /// (dnsName, port).
    pub aliases: Vec<(String, i32)>,
}

impl ScServiceObs {
    /// The Cloud Map service this entry registers: discoveryName, else portName.
    pub fn cloudmap_name(&self) -> &str {
        self.discovery_name.as_deref().unwrap_or(&self.port_name)
    }
}

/// The Service Connect entry offering `alias` (and `port`), if configured and enabled.
pub(crate) fn find_alias<'a>(
    sc: &'a ServiceConnectObs,
    alias: &str,
    port: Option<u16>,
) -> Result<&'a ScServiceObs, String> {
    if !sc.enabled {
        return Err("Service Connect is not enabled".into());
    }
    let all: Vec<String> =
        sc.services.iter().flat_map(|s| s.aliases.iter().map(|(d, p)| format!("{d}:{p}"))).collect();
    sc.services
        .iter()
        .find(|s| {
            s.aliases
                .iter()
                .any(|(d, p)| d.eq_ignore_ascii_case(alias) && port.is_none_or(|want| i32::from(want) == *p))
        })
        .ok_or_else(|| {
            let wanted = match port {
                Some(p) => format!("{alias}:{p}"),
                None => alias.to_string(),
            };
            if all.is_empty() {
                format!("no client alias {wanted} (none configured)")
            } else {
                format!("no client alias {wanted} (configured: {})", list(&all, 4))
            }
        })
}

/// Reads every namespace page (at most 10) until one matches `wanted` (name, id or ARN).
async fn find_namespace(ctx: &Fetch<'_>, wanted: &str) -> Result<Option<NamespaceObs>, LookError> {
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let request = ctx.clients.servicediscovery.list_namespaces().set_next_token(token.take()).send();
        let out = ctx.call("ListNamespaces", request).await?;
        let found = out
            .namespaces()
            .iter()
            .find(|n| n.name() == Some(wanted) || n.id() == Some(wanted) || n.arn() == Some(wanted));
        if let Some(n) = found {
            let mut ns = NamespaceObs {
                id: n.id().unwrap_or_default().to_string(),
                name: n.name().unwrap_or_default().to_string(),
                kind: n.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                hosted_zone: n
                    .properties()
                    .and_then(|p| p.dns_properties())
                    .and_then(|d| d.hosted_zone_id())
                    .map(str::to_string),
            };
            if ns.hosted_zone.is_none() && ns.kind.starts_with("DNS") {
                let request = ctx.clients.servicediscovery.get_namespace().id(&ns.id).send();
                if let Some(full) = ctx.call_opt("GetNamespace", request).await? {
                    ns.hosted_zone = full
                        .namespace()
                        .and_then(|n| n.properties())
                        .and_then(|p| p.dns_properties())
                        .and_then(|d| d.hosted_zone_id())
                        .map(str::to_string);
                }
            }
            return Ok(Some(ns));
        }
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Ok(None)
}

/// The services of a namespace (or all, without one) as (id, name, instance count).
async fn list_services(
    ctx: &Fetch<'_>,
    namespace_id: Option<&str>,
) -> Result<Vec<(String, String)>, LookError> {
    let mut request = ctx.clients.servicediscovery.list_services();
    if let Some(id) = namespace_id {
        let filter = ServiceFilter::builder()
            .name(ServiceFilterName::NamespaceId)
            .values(id)
            .condition(FilterCondition::Eq)
            .build()
            .map_err(|e| LookError::new(ErrorClass::Other, format!("ListServices: {e}")))?;
        request = request.filters(filter);
    }
    let out = ctx.call("ListServices", request.send()).await?;
    Ok(out
        .services()
        .iter()
        .map(|s| (s.id().unwrap_or_default().to_string(), s.name().unwrap_or_default().to_string()))
        .collect())
}

async fn find_service(
    ctx: &Fetch<'_>,
    namespace_id: Option<&str>,
    name: &str,
) -> Result<Option<String>, LookError> {
    let services = list_services(ctx, namespace_id).await?;
    Ok(services.into_iter().find(|(_, n)| n == name).map(|(id, _)| id))
}

async fn list_instances(ctx: &Fetch<'_>, service_id: &str) -> Result<Option<Vec<InstanceObs>>, LookError> {
    let request = ctx.clients.servicediscovery.list_instances().service_id(service_id).send();
    let Some(out) = ctx.call_opt("ListInstances", request).await? else {
        return Ok(None);
    };
    Ok(Some(
        out.instances()
            .iter()
            .map(|i| InstanceObs {
                id: i.id().unwrap_or_default().to_string(),
                ipv4: i.attributes().and_then(|a| a.get("AWS_INSTANCE_IPV4")).cloned(),
                health: None,
            })
            .collect(),
    ))
}

/// The A record values for `fqdn` in a hosted zone.
async fn zone_records(ctx: &Fetch<'_>, zone: &str, fqdn: &str) -> Result<Vec<String>, LookError> {
    let want = format!("{}.", fqdn.trim_end_matches('.')).to_ascii_lowercase();
    let request = ctx
        .clients
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(&want)
        .start_record_type(RrType::A)
        .max_items(20)
        .send();
    let Some(out) = ctx.call_opt("ListResourceRecordSets", request).await? else {
        return Ok(vec![]);
    };
    Ok(out
        .resource_record_sets()
        .iter()
        .filter(|r| r.name().eq_ignore_ascii_case(&want) && r.r#type() == &RrType::A)
        .flat_map(|r| r.resource_records().iter().map(|v| v.value().to_string()))
        .collect())
}

async fn observe_private_dns(
    ctx: &Fetch<'_>,
    name: &str,
    min: u32,
) -> Result<Result<PrivateDnsObs, String>, LookError> {
    let Some((service, namespace)) = split_name(name) else {
        return Ok(Err(format!("{name} is not <service>.<namespace>")));
    };
    let mut o = PrivateDnsObs { service: service.into(), namespace: namespace.into(), ..Default::default() };
    let Some(ns) = find_namespace(ctx, namespace).await? else {
        return Ok(Ok(o));
    };
    o.namespace_found = true;
    if let Some(id) = find_service(ctx, Some(&ns.id), service).await? {
        o.service_found = true;
        o.instance_ips =
            list_instances(ctx, &id).await?.unwrap_or_default().into_iter().filter_map(|i| i.ipv4).collect();
    }
    // Records are what a resolver in the VPC would answer; read them only when instances
    // alone do not make the count, to stay within the call budget.
    if o.instance_ips.len() < min as usize {
        if let Some(zone) = &ns.hosted_zone {
            o.record_ips = Some(zone_records(ctx, zone, name).await?);
        }
    }
    Ok(Ok(o))
}

/// `private_dns`: ListNamespaces + ListServices + ListInstances, and ListResourceRecordSets in
/// the namespace's hosted zone when instances are not enough.
pub(crate) async fn private_dns(ctx: &Fetch<'_>, p: &PrivateDns) -> Result<Verdict, LookError> {
    let min = p.min_addresses.unwrap_or(1);
    Ok(match observe_private_dns(ctx, &p.name, min).await? {
        Ok(o) => evaluate_private_dns(&p.name, min, &o),
        Err(bad) => Verdict::fail_now(bad),
    })
}

/// What is missing behind a private DNS name: the namespaces there are, the services in the
/// namespace, the instances and records.
pub(crate) async fn diagnose_private_dns(ctx: &Fetch<'_>, p: &PrivateDns) -> Result<Vec<String>, LookError> {
    let Some((service, namespace)) = split_name(&p.name) else {
        return Ok(vec![]);
    };
    let Some(ns) = find_namespace(ctx, namespace).await? else {
        let request = ctx.clients.servicediscovery.list_namespaces().send();
        let out = ctx.call("ListNamespaces", request).await?;
        let names: Vec<String> = out
            .namespaces()
            .iter()
            .map(|n| {
                format!("{} ({})", n.name().unwrap_or("?"), n.r#type().map(|t| t.as_str()).unwrap_or("?"))
            })
            .collect();
        return Ok(vec![format!(
            "no Cloud Map namespace {namespace}; namespaces: {}",
            if names.is_empty() { "none".to_string() } else { list(&names, 6) }
        )]);
    };
    let mut lines = vec![format!("namespace {} ({}, {})", ns.name, ns.kind, ns.id)];
    let services = list_services(ctx, Some(&ns.id)).await?;
    match services.iter().find(|(_, n)| n == service) {
        None => {
            let names: Vec<String> = services.iter().map(|(_, n)| n.clone()).collect();
            lines.push(format!(
                "no service {service} in namespace {namespace}; services: {}",
                if names.is_empty() { "none".to_string() } else { list(&names, 6) }
            ));
        }
        Some((id, _)) => {
            let instances = list_instances(ctx, id).await?.unwrap_or_default();
            if instances.is_empty() {
                lines.push(format!("Cloud Map service {service} ({id}) has no registered instances"));
            }
            for i in instances {
                lines.push(format!(
                    "instance {}: {}",
                    i.id,
                    i.ipv4.as_deref().unwrap_or("no AWS_INSTANCE_IPV4")
                ));
            }
        }
    }
    if let Some(zone) = &ns.hosted_zone {
        let records = zone_records(ctx, zone, &p.name).await?;
        lines.push(format!(
            "hosted zone {zone}: {}",
            if records.is_empty() { format!("no A records for {}", p.name) } else { list(&records, 6) }
        ));
    }
    Ok(lines)
}

/// `cloudmap_namespace`: ListNamespaces.
pub(crate) async fn namespace(ctx: &Fetch<'_>, p: &NameRef) -> Result<Verdict, LookError> {
    Ok(match find_namespace(ctx, &p.name).await? {
        Some(ns) => {
            let zone = ns.hosted_zone.map(|z| format!(", hosted zone {z}")).unwrap_or_default();
            Verdict::pass(format!("namespace {} ({}, {}){zone}", ns.name, ns.kind, ns.id))
        }
        None => Verdict::fail(format!("namespace {} not found", p.name)),
    })
}

/// The id of a Cloud Map service given by id (`srv-…`), ARN, or name (in a namespace).
async fn service_id(
    ctx: &Fetch<'_>,
    namespace: Option<&str>,
    service: &str,
) -> Result<Result<String, String>, LookError> {
    if service.starts_with("srv-") {
        return Ok(Ok(service.to_string()));
    }
    if service.starts_with("arn:") {
        return Ok(Ok(service.rsplit('/').next().unwrap_or(service).to_string()));
    }
    let ns_id = match namespace {
        Some(ns) => match find_namespace(ctx, ns).await? {
            Some(n) => Some(n.id),
            None => return Ok(Err(format!("namespace {ns} not found"))),
        },
        None => None,
    };
    Ok(match find_service(ctx, ns_id.as_deref(), service).await? {
        Some(id) => Ok(id),
        None => Err(match namespace {
            Some(ns) => format!("no Cloud Map service {service} in namespace {ns}"),
            None => format!("no Cloud Map service {service}"),
        }),
    })
}

/// `cloudmap_instances`: (ListNamespaces +) ListServices + ListInstances (+ GetInstancesHealthStatus).
pub(crate) async fn instances(ctx: &Fetch<'_>, p: &CloudmapInstances) -> Result<Verdict, LookError> {
    let id = match service_id(ctx, p.namespace.as_deref(), &p.service).await? {
        Ok(id) => id,
        Err(missing) => return Ok(Verdict::fail(missing)),
    };
    let Some(mut instances) = list_instances(ctx, &id).await? else {
        return Ok(Verdict::fail(format!("Cloud Map service {} not found", p.service)));
    };
    if p.healthy_only.unwrap_or(true) && !instances.is_empty() {
        let request = ctx.clients.servicediscovery.get_instances_health_status().service_id(&id).send();
        match ctx.call("GetInstancesHealthStatus", request).await {
            Ok(out) => {
                for i in &mut instances {
                    let h = out.status().and_then(|s| s.get(&i.id)).map_or("UNKNOWN", HealthStatus::as_str);
                    i.health = Some(h.to_string());
                }
            }
            // No health checking on the service: every instance is served.
            Err(e) if e.class == ErrorClass::Other || e.class == ErrorClass::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(evaluate_instances(p, &p.service, &instances))
}

/// The Service Connect configuration of a service's PRIMARY deployment (or newest with one).
async fn service_connect_config(
    ctx: &Fetch<'_>,
    cluster: &str,
    service: &str,
) -> Result<Result<(String, ServiceConnectObs), String>, LookError> {
    let request = ctx.clients.ecs.describe_services().cluster(cluster).services(service).send();
    let Some(out) = ctx.call_opt("DescribeServices", request).await? else {
        return Ok(Err(format!("cluster {cluster} not found")));
    };
    let Some(s) = out.services().first() else {
        return Ok(Err(format!("service {service} not found in cluster {cluster}")));
    };
    let name = s.service_name().unwrap_or(service).to_string();
    let deployments = s.deployments();
    let chosen = deployments
        .iter()
        .find(|d| d.status() == Some("PRIMARY") && d.service_connect_configuration().is_some())
        .or_else(|| deployments.iter().find(|d| d.service_connect_configuration().is_some()));
    let Some(cfg) = chosen.and_then(|d| d.service_connect_configuration()) else {
        return Ok(Ok((name, ServiceConnectObs::default())));
    };
    Ok(Ok((
        name,
        ServiceConnectObs {
            enabled: cfg.enabled(),
            namespace: cfg.namespace().map(str::to_string),
            services: cfg
                .services()
                .iter()
                .map(|s| ScServiceObs {
                    port_name: s.port_name().to_string(),
                    discovery_name: s.discovery_name().map(str::to_string),
                    aliases: s
                        .client_aliases()
                        .iter()
                        .map(|a| (a.dns_name().unwrap_or(s.port_name()).to_string(), a.port()))
                        .collect(),
                })
                .collect(),
        },
    )))
}

/// `service_connect`: DescribeServices, then ListNamespaces + ListServices + ListInstances.
pub(crate) async fn service_connect(ctx: &Fetch<'_>, p: &ServiceConnect) -> Result<Verdict, LookError> {
    let (name, sc) = match service_connect_config(ctx, &p.cluster, &p.service).await? {
        Ok(found) => found,
        Err(missing) => return Ok(Verdict::fail(missing)),
    };
    let entry = match find_alias(&sc, &p.alias, p.port) {
        Ok(e) => e,
        Err(why) => return Ok(Verdict::fail(format!("{name}: {why}"))),
    };
    let Some(namespace) = sc.namespace.as_deref() else {
        return Ok(Verdict::fail(format!("{name}: Service Connect has no namespace")));
    };
    let ns_label = namespace.rsplit('/').next().unwrap_or(namespace);
    let cm_name = entry.cloudmap_name();
    let head = format!("{name}: alias {} → {cm_name} in namespace {ns_label}", p.alias);
    let Some(ns) = find_namespace(ctx, namespace).await? else {
        return Ok(Verdict::fail(format!("{head}; namespace not found")));
    };
    let Some(id) = find_service(ctx, Some(&ns.id), cm_name).await? else {
        return Ok(Verdict::fail(format!("{head}; no Cloud Map service {cm_name} yet")));
    };
    let count = list_instances(ctx, &id).await?.map_or(0, |i| i.len());
    Ok(Verdict::pass_if(count >= 1, format!("{head}, {count} instance(s)")))
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    #[test]
    fn names_split_into_service_and_namespace() {
        assert_eq!(split_name("invsys.local"), Some(("invsys", "local")));
        assert_eq!(split_name("api.corp.internal."), Some(("api", "corp.internal")));
        assert_eq!(split_name("local"), None);
        assert_eq!(split_name(".local"), None);
    }

    #[test]
    fn private_dns_table() {
        let base = PrivateDnsObs {
            service: "invsys".into(),
            namespace: "local".into(),
            namespace_found: true,
            service_found: true,
            ..Default::default()
        };
        #[rustfmt::skip]
        let cases = vec![
            ("two instances", 1, PrivateDnsObs { instance_ips: vec!["10.0.1.2".into(), "10.0.1.1".into()], ..base.clone() }, Pass,
             "invsys.local: 10.0.1.1, 10.0.1.2 (2 instance(s))"),
            ("min not reached", 3, PrivateDnsObs { instance_ips: vec!["10.0.1.1".into()], record_ips: Some(vec!["10.0.1.1".into()]), ..base.clone() }, Fail,
             "(1 instance(s), 1 A record(s))"),
            ("records only", 1, PrivateDnsObs { service_found: false, record_ips: Some(vec!["10.0.1.5".into()]), ..base.clone() }, Pass, "10.0.1.5"),
            ("no namespace", 1, PrivateDnsObs { namespace_found: false, ..base.clone() }, Fail, "namespace local not found"),
            ("no service", 1, PrivateDnsObs { service_found: false, ..base.clone() }, Fail, "no Cloud Map service invsys"),
            ("service without instances", 1, PrivateDnsObs { record_ips: Some(vec![]), ..base.clone() }, Fail, "no addresses"),
        ];
        for (name, min, o, status, evidence) in cases {
            let v = evaluate_private_dns("invsys.local", min, &o);
            assert_eq!(v.status, status, "{name}: {}", v.evidence);
            assert!(v.evidence.contains(evidence), "{name}: {:?}", v.evidence);
        }
    }

    #[test]
    fn instances_table() {
        let i = |ip: &str, h: Option<&str>| InstanceObs {
            id: ip.into(),
            ipv4: Some(ip.into()),
            health: h.map(String::from),
        };
        let p = |min, healthy_only| CloudmapInstances {
            namespace: None,
            service: "invsys".into(),
            min,
            healthy_only,
        };
        #[rustfmt::skip]
        let cases = vec![
            ("healthy", p(None, None), vec![i("10.0.0.1", Some("HEALTHY"))], Pass, "1 healthy instance(s) of 1"),
            ("unknown counts as healthy", p(None, None), vec![i("10.0.0.1", Some("UNKNOWN"))], Pass, "UNKNOWN"),
            ("unhealthy does not", p(None, None), vec![i("10.0.0.1", Some("UNHEALTHY"))], Fail, "0 healthy instance(s) of 1 (10.0.0.1 UNHEALTHY), need 1"),
            ("unhealthy counts when not healthy_only", p(None, Some(false)), vec![i("10.0.0.1", Some("UNHEALTHY"))], Pass, "1 instance(s)"),
            ("no health checking", p(Some(2), None), vec![i("10.0.0.1", None), i("10.0.0.2", None)], Pass, "2 healthy"),
            ("none", p(None, None), vec![], Fail, "0 healthy instance(s) of 0"),
        ];
        for (name, p, instances, status, evidence) in cases {
            let v = evaluate_instances(&p, "invsys", &instances);
            assert_eq!(v.status, status, "{name}: {}", v.evidence);
            assert!(v.evidence.contains(evidence), "{name}: {:?}", v.evidence);
        }
    }

    #[test]
    fn aliases_are_found_by_name_and_port() {
        let sc = ServiceConnectObs {
            enabled: true,
            namespace: Some("local".into()),
            services: vec![ScServiceObs {
                port_name: "carts-http".into(),
                discovery_name: Some("carts".into()),
                aliases: vec![("carts".into(), 80)],
            }],
        };
        assert_eq!(find_alias(&sc, "carts", None).unwrap().cloudmap_name(), "carts");
        assert!(find_alias(&sc, "CARTS", Some(80)).is_ok());
        assert_eq!(
            find_alias(&sc, "carts", Some(8080)).unwrap_err(),
            "no client alias carts:8080 (configured: carts:80)"
        );
        assert!(find_alias(&sc, "orders", None).is_err());
        let off = ServiceConnectObs { enabled: false, ..sc.clone() };
        assert_eq!(find_alias(&off, "carts", None).unwrap_err(), "Service Connect is not enabled");
        let none = ServiceConnectObs { enabled: true, ..Default::default() };
        assert_eq!(find_alias(&none, "carts", None).unwrap_err(), "no client alias carts (none configured)");
        let no_discovery = ScServiceObs { port_name: "web".into(), discovery_name: None, aliases: vec![] };
        assert_eq!(no_discovery.cloudmap_name(), "web");
    }
}
