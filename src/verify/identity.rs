//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn caller_identity(_ctx: &Ctx<'_>, _p: &crate::lab::check::CallerIdentity) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
