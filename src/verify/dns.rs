//! `dns_resolves`: A records through `--dns-server` (a fresh hickory resolver with that one
//! UDP server, no system configuration, no hosts file, no cache) or the system resolver.
//!
//! Every DNS answer, including NXDOMAIN and timeouts, is an observation: the name may simply
//! not be published yet, so waiting is worth it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    NameServerConfig, NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::Resolver;

use super::text::list;
use super::{Fetch, LookError, Verdict};
use crate::lab::check::DnsResolves;

/// What a resolver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DnsAnswer {
    /// IPv4 addresses (A records), possibly none.
    Addresses(Vec<IpAddr>),
    /// NXDOMAIN or no A records.
    NoRecords(String),
    /// Timeout, refused, unreachable server.
    Failed(String),
}

/// `dns_resolves`, pure.
pub(crate) fn evaluate_dns(name: &str, via: &str, min: u32, answer: &DnsAnswer) -> Verdict {
    match answer {
        DnsAnswer::Addresses(addrs) => {
            let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            let mut evidence = format!(
                "{name} → {} (via {via})",
                if shown.is_empty() { "nothing".into() } else { list(&shown, 8) }
            );
            if addrs.len() < min as usize {
                evidence.push_str(&format!(", need {min} address(es)"));
            }
            Verdict::pass_if(addrs.len() >= min as usize, evidence)
        }
        DnsAnswer::NoRecords(why) => Verdict::fail(format!("{name} does not resolve via {via}: {why}")),
        DnsAnswer::Failed(why) => Verdict::fail(format!("{name}: no answer from {via}: {why}")),
    }
}

/// Asks one DNS server for A records, bypassing every cache.
pub(crate) async fn query_server(server: SocketAddr, name: &str, timeout: Duration) -> DnsAnswer {
    let mut group = NameServerConfigGroup::new();
    group.push(NameServerConfig::new(server, Protocol::Udp));
    let config = ResolverConfig::from_parts(None, vec![], group);
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.preserve_intermediates = false;
    let resolver =
        Resolver::builder_with_config(config, TokioConnectionProvider::default()).with_options(opts).build();
    // A trailing dot: the name is absolute, no search domains.
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.ipv4_lookup(fqdn.as_str()).await {
        Ok(lookup) => DnsAnswer::Addresses(lookup.iter().map(|a| IpAddr::V4(a.0)).collect()),
        Err(e) if e.is_nx_domain() => DnsAnswer::NoRecords("NXDOMAIN".into()),
        Err(e) if e.is_no_records_found() => DnsAnswer::NoRecords("no A records".into()),
        Err(e) => DnsAnswer::Failed(e.to_string()),
    }
}

/// Asks the system resolver (getaddrinfo: hosts file, nsswitch, resolv.conf).
async fn query_system(name: &str) -> DnsAnswer {
    match tokio::net::lookup_host((name, 0)).await {
        Ok(addrs) => {
            let mut v4: Vec<IpAddr> = addrs.map(|a| a.ip()).filter(IpAddr::is_ipv4).collect();
            v4.dedup();
            if v4.is_empty() {
                DnsAnswer::NoRecords("no IPv4 addresses".into())
            } else {
                DnsAnswer::Addresses(v4)
            }
        }
        Err(e) => DnsAnswer::NoRecords(e.to_string()),
    }
}

/// `dns_resolves`: one query.
pub(crate) async fn dns_resolves(ctx: &Fetch<'_>, p: &DnsResolves) -> Result<Verdict, LookError> {
    ctx.count();
    let (answer, via) = match ctx.settings.dns_server {
        Some(server) => (query_server(server, &p.name, Duration::from_secs(3)).await, server.to_string()),
        None => (query_system(&p.name).await, "the system resolver".to_string()),
    };
    Ok(evaluate_dns(&p.name, &via, p.min_addresses.unwrap_or(1), &answer))
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};
    use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
    use hickory_resolver::proto::rr::rdata::A;
    use hickory_resolver::proto::rr::{RData, Record};

    #[test]
    fn dns_table() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        #[rustfmt::skip]
        let cases = vec![
            (1, DnsAnswer::Addresses(vec![ip("10.0.0.1"), ip("10.0.0.2")]), Pass, "web.local → 10.0.0.1, 10.0.0.2 (via 127.0.0.1:53)"),
            (3, DnsAnswer::Addresses(vec![ip("10.0.0.1")]), Fail, "need 3 address(es)"),
            (1, DnsAnswer::Addresses(vec![]), Fail, "nothing"),
            (1, DnsAnswer::NoRecords("NXDOMAIN".into()), Fail, "does not resolve via 127.0.0.1:53: NXDOMAIN"),
            (1, DnsAnswer::Failed("timed out".into()), Fail, "no answer from"),
        ];
        for (min, answer, status, evidence) in cases {
            let v = evaluate_dns("web.local", "127.0.0.1:53", min, &answer);
            assert_eq!(v.status, status, "{}", v.evidence);
            assert!(!v.definitive);
            assert!(v.evidence.contains(evidence), "{:?}", v.evidence);
        }
    }

    /// A one-socket DNS server on loopback: `known.test` has two A records, the rest is NXDOMAIN.
    async fn tiny_dns_server() -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut reply = Message::new();
                reply
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_recursion_available(true);
                reply.set_op_code(query.op_code());
                for q in query.queries() {
                    reply.add_query(q.clone());
                    if q.name().to_ascii().eq_ignore_ascii_case("known.test.") {
                        for last in [7u8, 8] {
                            let rdata = RData::A(A::new(10, 0, 0, last));
                            reply.add_answer(Record::from_rdata(q.name().clone(), 0, rdata));
                        }
                    } else {
                        reply.set_response_code(ResponseCode::NXDomain);
                    }
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn resolves_through_a_given_server_without_caching() {
        let server = tiny_dns_server().await;
        let t = Duration::from_secs(2);
        let want = DnsAnswer::Addresses(vec!["10.0.0.7".parse().unwrap(), "10.0.0.8".parse().unwrap()]);
        assert_eq!(query_server(server, "known.test", t).await, want);
        assert_eq!(query_server(server, "missing.test", t).await, DnsAnswer::NoRecords("NXDOMAIN".into()));
    }

    #[tokio::test]
    async fn system_resolver_reads_localhost() {
        let answer = query_system("localhost").await;
        assert!(
            matches!(answer, DnsAnswer::Addresses(ref a) if a.contains(&"127.0.0.1".parse().unwrap())),
            "{answer:?}"
        );
    }
}
