//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn private_dns(_ctx: &Ctx<'_>, _p: &crate::lab::check::PrivateDns) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn service_connect(_ctx: &Ctx<'_>, _p: &crate::lab::check::ServiceConnect) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn namespace(_ctx: &Ctx<'_>, _p: &crate::lab::check::NameRef) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn instances(_ctx: &Ctx<'_>, _p: &crate::lab::check::CloudmapInstances) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn diagnose_private_dns(_ctx: &Ctx<'_>, _p: &crate::lab::check::PrivateDns) -> Result<Vec<String>, LookError> { Ok(vec![]) }
