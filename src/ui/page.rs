//! Lab and step pages: what `show` prints and what the runner shows before each step.

use std::fmt::Write;

use super::markdown::{render, RenderOptions};
use super::Styles;
use crate::lab::{Check, Lab, Step, StepMode, VariableSource};

/// The whole lab, or only the step with `only_step` as id.
pub fn lab_page(lab: &Lab, only_step: Option<&str>, options: RenderOptions) -> String {
    let s = Styles::new(options.color);
    let mut out = String::new();
    if only_step.is_none() {
        out.push_str(&lab_header(lab, options));
    }
    let total = lab.step_count();
    let mut number = 0;
    for (m, module) in lab.modules.iter().enumerate() {
        let shows_module = only_step.is_none_or(|id| module.steps.iter().any(|st| st.id == id));
        if shows_module && only_step.is_none() {
            let _ = writeln!(
                out,
                "\n{}",
                s.heading.apply_to(format!("Module {}/{} · {}", m + 1, lab.modules.len(), module.title))
            );
            let _ = writeln!(out, "{}", s.dim.apply_to("═".repeat(options.width.min(72))));
            if !module.intro.is_empty() {
                out.push('\n');
                out.push_str(&render(&module.intro, options));
            }
        }
        for step in &module.steps {
            number += 1;
            if only_step.is_some_and(|id| id != step.id) {
                continue;
            }
            out.push('\n');
            out.push_str(&step_page(step, number, total, options));
        }
    }
    out
}

fn lab_header(lab: &Lab, options: RenderOptions) -> String {
    let m = &lab.manifest;
    let mut md = format!("# {}\n\n{}\n\n", m.title, m.summary);
    let mut facts = Vec::new();
    if let Some(a) = &m.audience {
        facts.push(format!("- **Audience:** {a}"));
    }
    if let Some(t) = &m.estimated_time {
        facts.push(format!("- **Time:** {t}"));
    }
    if let Some(c) = &m.cost {
        facts.push(format!("- **Cost:** {c}"));
    }
    facts.push(format!(
        "- **Lab id:** `{}` ({}, {})",
        m.id,
        plural(lab.modules.len(), "module"),
        plural(lab.step_count(), "step")
    ));
    md.push_str(&facts.join("\n"));
    md.push_str("\n\n");
    if !m.prerequisites.is_empty() {
        md.push_str("## Before you start\n\n");
        for p in &m.prerequisites {
            let _ = writeln!(md, "- {p}");
        }
        md.push('\n');
    }
    if !m.variables.is_empty() {
        md.push_str("## Variables\n\n| Name | From | Default | Purpose |\n|---|---|---|---|\n");
        for v in &m.variables {
            let from = match &v.source {
                VariableSource::Command(c) => format!("command `{}`", c.replace('|', "\\|")),
                other => other.keyword().to_string(),
            };
            let default = v.default.as_deref().map(|d| format!("`{d}`")).unwrap_or_default();
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} |",
                v.name,
                from,
                default,
                v.description.replace('|', "\\|")
            );
        }
    }
    render(&md, options)
}

/// One step: a header line, its instructions, then its checks, resources and hints.
pub fn step_page(step: &Step, number: usize, total: usize, options: RenderOptions) -> String {
    let checks: Vec<String> = step.checks.iter().map(Check::summary).collect();
    let creates: Vec<String> = step
        .creates
        .iter()
        .map(|r| r.describe())
        .chain(step.aws_creates.iter().map(|r| format!("{} (made by AWS for the lab)", r.describe())))
        .collect();
    step_page_with(step, number, total, options, &checks, &creates)
}

/// A step page whose check and resource lines are given (with the values a run knows).
pub fn step_page_with(
    step: &Step,
    number: usize,
    total: usize,
    options: RenderOptions,
    checks: &[String],
    creates: &[String],
) -> String {
    let s = Styles::new(options.color);
    let mut out = String::new();
    let header = format!("Step {number}/{total} · {} ", step.title);
    let fill = options.width.min(72).saturating_sub(header.chars().count() + step.id.len() + 3);
    let _ = writeln!(
        out,
        "{}{} {}",
        s.heading.apply_to(&header),
        s.dim.apply_to("─".repeat(fill.max(2))),
        s.dim.apply_to(format!("[{}]", step.id))
    );
    if step.mode == StepMode::Console {
        let _ =
            writeln!(out, "{}", s.warn.apply_to("Console step: you do this one by hand in the AWS console."));
    } else if checks.is_empty() && step.runnable_blocks().next().is_none() {
        let what = if step.shell.is_empty() {
            "Reading step: nothing to run, nothing checked."
        } else {
            "Shown, not verified: labrunner runs and checks nothing here."
        };
        let _ = writeln!(out, "{}", s.dim.apply_to(what));
    }
    if !step.body.is_empty() {
        out.push('\n');
        out.push_str(&render(&step.body, options));
    }
    let mut md = String::new();
    if !checks.is_empty() {
        md.push_str("**labrunner checks:**\n\n");
        for c in checks {
            let _ = writeln!(md, "- {c}");
        }
        md.push('\n');
    }
    if !creates.is_empty() {
        md.push_str("**Creates** (removed by `labrunner cleanup`)**:**\n\n");
        for r in creates {
            let (kind, name) = r.split_once(' ').unwrap_or((r.as_str(), ""));
            let _ = writeln!(md, "- `{kind}` {name}");
        }
        md.push('\n');
    }
    if !step.hints.is_empty() {
        let _ = writeln!(
            md,
            "*{} hint{} available when a check fails.*",
            step.hints.len(),
            if step.hints.len() == 1 { "" } else { "s" }
        );
    }
    if !md.is_empty() {
        out.push('\n');
        out.push_str(&render(&md, options));
    }
    out
}

/// "1 step", "3 steps".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
