//! What the resources a lab still has recorded cost while they exist: a small table of list
//! prices for the types labs create that bill by the hour, applied to the ledger. Per hour now,
//! and since each resource was recorded. Shown by `status` and at the end of a run, so a
//! student sees the bill coming before it comes.

use std::time::SystemTime;

use crate::lab::ResourceSpec;
use crate::state::ledger::Ledger;

/// Where and when the prices below were read.
pub const PRICES: &str = "us-east-1 on-demand list prices of November 2026";

/// The hourly price of a resource of this type, with what it is, when it bills by the hour.
/// Fargate tasks bill too, but by the tasks running (a service's entry does not say how many
/// or how big): they are named as extra, not guessed.
pub fn hourly(spec: &ResourceSpec) -> Option<(f64, &'static str)> {
    match spec {
        ResourceSpec::LoadBalancer { .. } => Some((0.0225, "Application Load Balancer hour")),
        ResourceSpec::NatGateway { .. } => Some((0.045, "NAT gateway hour")),
        ResourceSpec::ElasticIp { .. } => Some((0.005, "public IPv4 address hour")),
        ResourceSpec::VpcEndpoint { .. } => Some((0.01, "interface endpoint hour (one zone)")),
        ResourceSpec::Ec2Instance { .. } => Some((0.0116, "t2.micro hour (the type labs use)")),
        _ => None,
    }
}

/// The estimate for one ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Dollars per hour for what is recorded now.
    pub per_hour: f64,
    /// Dollars since each priced resource was recorded.
    pub so_far: f64,
    /// Recorded services whose Fargate tasks bill on top.
    pub services: usize,
}

/// The estimate for what `ledger` records, at `now`.
pub fn estimate(ledger: &Ledger, now: SystemTime) -> Estimate {
    let mut e = Estimate { per_hour: 0.0, so_far: 0.0, services: 0 };
    for entry in &ledger.entries {
        if matches!(entry.resource, ResourceSpec::EcsService { .. }) {
            e.services += 1;
        }
        let Some((price, _)) = hourly(&entry.resource) else { continue };
        e.per_hour += price;
        let hours = humantime::parse_rfc3339_weak(&entry.recorded_at)
            .ok()
            .and_then(|at| now.duration_since(at).ok())
            .map_or(0.0, |d| d.as_secs_f64() / 3600.0);
        // AWS bills load balancers and NAT gateways per started hour.
        e.so_far += price * hours.ceil().max(1.0);
    }
    e
}

impl Estimate {
    /// One line for a student: "about $0.03 per hour, about $0.12 so far (…)".
    pub fn line(&self) -> String {
        let extra = if self.services > 0 {
            format!("; the {} service(s)' Fargate tasks and data transfer bill on top", self.services)
        } else {
            String::new()
        };
        // Rounded half up (0.045 is 0.0449999… as a float).
        let cents = ((self.so_far * 100.0) + 1e-6).round() / 100.0;
        format!(
            "about ${:.4} per hour while they exist, about ${cents:.2} so far ({PRICES}{extra})",
            self.per_hour
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    #[test]
    fn hourly_resources_are_priced_from_when_they_were_recorded() {
        let mut ledger = Ledger::new("lab", "123456789012", "us-east-1");
        ledger.record(ResourceSpec::LoadBalancer { name: "alb".into() }, BTreeMap::new(), "s");
        ledger.record(ResourceSpec::LogGroup { name: "/x".into() }, BTreeMap::new(), "s");
        ledger.record(
            ResourceSpec::EcsService { cluster: "c".into(), service: "s".into() },
            BTreeMap::new(),
            "s",
        );
        let recorded = humantime::parse_rfc3339_weak(&ledger.entries[0].recorded_at).unwrap();
        let e = estimate(&ledger, recorded + Duration::from_secs(90 * 60));
        assert_eq!(e.per_hour, 0.0225);
        assert!((e.so_far - 0.045).abs() < 1e-9, "two started hours: {}", e.so_far);
        assert_eq!(e.services, 1);
        assert!(
            e.line().starts_with("about $0.0225 per hour while they exist, about $0.05 so far ("),
            "{}",
            e.line()
        );
    }
}
