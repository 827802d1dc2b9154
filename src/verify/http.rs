//! stub
use super::{Ctx, LookError, Verdict};
pub(crate) async fn http(_ctx: &Ctx<'_>, _p: &crate::lab::check::Http) -> Result<Verdict, LookError> { Ok(Verdict::fail("todo")) }
pub(crate) async fn diagnose(_ctx: &Ctx<'_>, _p: &crate::lab::check::Http) -> Result<Vec<String>, LookError> { Ok(vec![]) }
pub(crate) fn client() -> reqwest::Client { reqwest::Client::new() }
