//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn command(_ctx: &Ctx<'_>, _p: &crate::lab::check::Command) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
