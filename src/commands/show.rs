//! `labrunner show`: a lab (or one step) rendered for the terminal.

use crate::cli::ShowArgs;
use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::ui::page::lab_page;
use crate::ui::Ui;

/// Shows the lab, or one of its steps.
pub fn cmd_show(ui: &mut Ui, ctx: &Context, args: &ShowArgs) -> Result<u8, Error> {
    let lab = ctx.load_lab(&args.lab)?;
    if let Some(id) = &args.step {
        if lab.step(id).is_none() {
            let ids: Vec<&str> = lab.steps().map(|(_, s)| s.id.as_str()).collect();
            return Err(Error::usage(
                format!("lab `{}` has no step `{id}`", lab.id()),
                format!("its steps are: {}", ids.join(", ")),
            ));
        }
    }
    let page = lab_page(&lab, args.step.as_deref(), ui.render_options());
    let _ = ui.out().write_all(page.as_bytes());
    Ok(EXIT_OK)
}
