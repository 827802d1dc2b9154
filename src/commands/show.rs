//! `labrunner show`: a lab (or one step) rendered for the terminal, paged like git does, or
//! only its commands, raw.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

use crate::cli::ShowArgs;
use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::lab::Lab;
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
    if args.commands {
        let _ = ui.out().write_all(commands(&lab, args.step.as_deref()).as_bytes());
        return Ok(EXIT_OK);
    }
    let page = lab_page(&lab, args.step.as_deref(), ui.render_options());
    if args.no_pager || !std::io::stdout().is_terminal() || !page_through_pager(&page) {
        let _ = ui.out().write_all(page.as_bytes());
    }
    Ok(EXIT_OK)
}

/// The shell commands of the lab (or of one step), exactly as written.
fn commands(lab: &Lab, step: Option<&str>) -> String {
    let mut out = String::new();
    for (_, s) in lab.steps().filter(|(_, s)| step.is_none_or(|id| s.id == id)) {
        if s.shell.is_empty() {
            continue;
        }
        if step.is_none() {
            out.push_str(&format!("# {}: {}\n", s.id, s.title));
        }
        for block in &s.shell {
            out.push_str(block.code.trim_end());
            out.push('\n');
        }
        if step.is_none() {
            out.push('\n');
        }
    }
    out
}

/// Pages `text` the way git does: `$PAGER` (or `less`), with `LESS=FRX` unless set, so a page
/// that fits the screen prints as is and colours survive. False when no pager could start.
fn page_through_pager(text: &str) -> bool {
    let pager = std::env::var("LABRUNNER_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less".into());
    let pager = pager.trim();
    if pager.is_empty() || pager == "cat" {
        return false;
    }
    let mut command = Command::new("sh");
    command.arg("-c").arg(pager).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        command.env("LESS", "FRX");
    }
    let Ok(mut child) = command.spawn() else { return false };
    if let Some(mut stdin) = child.stdin.take() {
        // A reader who quits early closes the pipe: that is not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait().is_ok()
}
