//! `labrunner env LAB`: the values a run of the lab captured (`VPC_ID`, `CLUSTER_NAME`, ...) as
//! `export` lines, so a student doing a step by hand has them in their own shell:
//! `eval "$(labrunner env flask-inventory)"`. Reads local state only; secrets are never stored,
//! so never printed.

use crate::cli::EnvArgs;
use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::out;
use crate::state::progress::Progress;
use crate::state::RunDir;
use crate::ui::Ui;

/// Prints the variables of the lab's run as shell `export` lines.
pub fn cmd_env(ui: &mut Ui, ctx: &Context, args: &EnvArgs) -> Result<u8, Error> {
    let id = match ctx.load_lab(&args.lab) {
        Ok(lab) => lab.id().to_string(),
        Err(_) => args.lab.clone(),
    };
    let state_dir = ctx.state_dir()?;
    let region = ctx.aws.region.clone().or_else(|| std::env::var("AWS_REGION").ok());
    let runs: Vec<(RunDir, Progress)> = RunDir::all_for_lab(&state_dir, &id)
        .into_iter()
        .filter_map(|run| Progress::peek(&run).ok().flatten().map(|p| (run, p)))
        .collect();
    let chosen: Vec<&(RunDir, Progress)> = match &region {
        Some(r) if runs.len() > 1 => runs.iter().filter(|(_, p)| &p.region == r).collect(),
        _ => runs.iter().collect(),
    };
    let (_, progress) = match chosen.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::usage(
                format!("lab `{id}` has no run on this machine yet"),
                format!("start it first: labrunner start {id}"),
            ))
        }
        many => {
            let places: Vec<String> =
                many.iter().map(|(_, p)| format!("{} {}", p.account, p.region)).collect();
            return Err(Error::usage(
                format!("lab `{id}` has runs in several accounts or regions: {}", places.join(", ")),
                "choose one with --region (or AWS_REGION)",
            ));
        }
    };
    out!(ui, "# labrunner env {id}: account {}, region {}", progress.account, progress.region);
    out!(ui, "export AWS_REGION={}", quote(&progress.region));
    out!(ui, "export AWS_DEFAULT_REGION={}", quote(&progress.region));
    if let Some(profile) = &ctx.aws.profile {
        out!(ui, "export AWS_PROFILE={}", quote(profile));
    }
    for (name, value) in &progress.variables {
        if matches!(name.as_str(), "AWS_REGION" | "AWS_DEFAULT_REGION") {
            continue;
        }
        out!(ui, "export {name}={}", quote(value));
    }
    Ok(EXIT_OK)
}

/// A value quoted for POSIX shells: single quotes, with `'` written as `'\''`.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(super::quote("vpc-1"), "'vpc-1'");
        assert_eq!(super::quote("it's $HOME"), r"'it'\''s $HOME'");
    }
}
