//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn scalable_target(_ctx: &Ctx<'_>, _p: &crate::lab::check::ScalableTarget) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn scaling_policy(_ctx: &Ctx<'_>, _p: &crate::lab::check::ScalingPolicy) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
