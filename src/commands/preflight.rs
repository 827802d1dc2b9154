//! `labrunner preflight`: the readiness checks of `validate --preflight` for the current
//! account, printed as a list with what to do about each problem.

use std::sync::Arc;

use super::Context;
use crate::aws::whoami;
use crate::cli::PreflightArgs;
use crate::error::{Error, EXIT_FINDINGS, EXIT_OK};
use crate::session::vars::Values;
use crate::ui::Ui;
use crate::validate::{readiness, report, Mark};

/// Runs `labrunner preflight`.
pub async fn cmd_preflight(ui: &mut Ui, ctx: &Context, args: &PreflightArgs) -> Result<u8, Error> {
    let lab = ctx.load_lab(&args.lab)?;
    let clients = Arc::new(ctx.clients().await?);
    let identity = whoami(&clients).await?;
    let mut values = Values::from_identity(&lab, &identity);
    values.apply_defaults(&lab);
    let cells = readiness::cells(&lab, &clients, &values).await;
    let text = report::preflight_list(&lab, &identity, &readiness::columns(), &cells, &ui.styles());
    let _ = write!(ui.out(), "{text}");
    let ready = cells.iter().all(|c| matches!(c.status, Mark::Pass | Mark::NotCheckable));
    Ok(if ready { EXIT_OK } else { EXIT_FINDINGS })
}
