//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn targets_healthy(_ctx: &Ctx<'_>, _p: &crate::lab::check::TargetsHealthy) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn load_balancer_active(_ctx: &Ctx<'_>, _p: &crate::lab::check::NameRef) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn diagnose_targets(_ctx: &Ctx<'_>, _p: &crate::lab::check::TargetsHealthy) -> Result<Vec<String>, LookError> { Ok(vec![]) }
