//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn alarm(_ctx: &Ctx<'_>, _p: &crate::lab::check::Alarm) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn log_group(_ctx: &Ctx<'_>, _p: &crate::lab::check::LogGroup) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn diagnose_log_group(_ctx: &Ctx<'_>, _p: &crate::lab::check::LogGroup) -> Result<Vec<String>, LookError> { Ok(vec![]) }
