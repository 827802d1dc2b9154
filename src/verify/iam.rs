//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn iam_role(_ctx: &Ctx<'_>, _p: &crate::lab::check::NameRef) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn role_allows(_ctx: &Ctx<'_>, _p: &crate::lab::check::RoleAllows) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
