//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn dns_resolves(_ctx: &Ctx<'_>, _p: &crate::lab::check::DnsResolves) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
