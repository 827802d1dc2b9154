//! The lab manifest (`labs/<id>.yaml`): read, check the format version, validate.

use std::path::Path;

use serde::Deserialize;

use super::model::{Location, Manifest, Variable, VariableSource, FORMAT_VERSION};
use super::parse::is_valid_id;
use super::vars;
use super::yaml::{self, FormatField, Origin};
use super::LabError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    format: u32,
    id: String,
    title: String,
    summary: String,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    estimated_time: Option<String>,
    #[serde(default)]
    cost: Option<String>,
    modules: Vec<String>,
    #[serde(default)]
    variables: Vec<RawVariable>,
    #[serde(default)]
    prerequisites: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    name: String,
    #[serde(default)]
    description: String,
    from: RawSource,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    secret: bool,
    #[serde(default)]
    lookup: Option<RawLookup>,
}

/// `lookup: { <resource type>: { ... }, field: id }`.
#[derive(Debug, Deserialize)]
struct RawLookup {
    #[serde(default)]
    field: Option<String>,
    #[serde(flatten)]
    resource: super::ResourceSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawSource {
    Prompt,
    Command,
    Account,
    CallerArn,
    Region,
    Step,
}

/// Finds `needle` in `text` and returns its position in `file`, or the file's start.
pub(crate) fn locate_in(file: &Path, text: &str, needle: &str) -> Location {
    match text.find(needle) {
        Some(offset) => {
            let index = super::source::LineIndex::new(text);
            let (line, column) = index.position(text, offset);
            Location::new(file, line, column)
        }
        None => Location::new(file, 1, 1),
    }
}

/// Like [`locate_in`], for the occurrence after `skip` earlier ones.
pub(crate) fn locate_nth(file: &Path, text: &str, needle: &str, skip: usize) -> Location {
    match text.match_indices(needle).nth(skip) {
        Some((offset, _)) => {
            let index = super::source::LineIndex::new(text);
            let (line, column) = index.position(text, offset);
            Location::new(file, line, column)
        }
        None => locate_in(file, text, needle),
    }
}

/// Parses and validates a manifest. `file` is used for positions and the id check.
pub fn parse_manifest(file: &Path, text: &str) -> Result<Manifest, Vec<LabError>> {
    let err = |line, column, message: String| LabError::new(Location::new(file, line, column), message);
    match yaml::format_version(text, Origin::FILE) {
        Err(e) => return Err(vec![err(e.line, e.column, e.message)]),
        Ok(FormatField::Missing) => {
            return Err(vec![err(
                1,
                1,
                "missing `format`: a lab manifest starts with its format version".into(),
            )
            .with_hint(&format!("add `format: {FORMAT_VERSION}` as the first line"))])
        }
        Ok(FormatField::Invalid) => {
            return Err(vec![LabError::new(
                locate_in(file, text, "format:"),
                "`format` must be a whole number such as 1".into(),
            )])
        }
        Ok(FormatField::Version(v)) if v > u64::from(FORMAT_VERSION) => {
            return Err(vec![LabError::new(
                locate_in(file, text, "format:"),
                format!(
                    "this lab is written in lab format {v}, but this labrunner reads format {FORMAT_VERSION}"
                ),
            )
            .with_hint(
                "upgrade labrunner to a release that reads this format (see the README's install section)",
            )])
        }
        Ok(FormatField::Version(v)) if v < u64::from(FORMAT_VERSION) => {
            return Err(vec![LabError::new(
                locate_in(file, text, "format:"),
                format!("lab format {v} is no longer read; this labrunner reads format {FORMAT_VERSION}"),
            )
            .with_hint("see docs/lab-format.md for what changed and set `format: 1`")])
        }
        Ok(FormatField::Version(_)) => {}
    }

    let raw: RawManifest =
        yaml::from_str(text, Origin::FILE).map_err(|e| vec![err(e.line, e.column, e.message)])?;
    let mut errors = Vec::new();
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if !is_valid_id(&raw.id) {
        errors.push(LabError::new(
            locate_in(file, text, "id:"),
            format!("invalid lab id `{}`: expected lower-case letters, digits and dashes", raw.id),
        ));
    } else if raw.id != stem {
        errors.push(
            LabError::new(
                locate_in(file, text, "id:"),
                format!("lab id `{}` does not match the file name `{stem}.yaml`", raw.id),
            )
            .with_hint("name the manifest after the lab id, or change the id"),
        );
    }
    if raw.modules.is_empty() {
        errors
            .push(LabError::new(locate_in(file, text, "modules:"), "a lab needs at least one module".into()));
    }

    let mut variables: Vec<Variable> = Vec::new();
    for v in raw.variables {
        // The n-th declaration of a name stands at the n-th occurrence of `name: X`.
        let nth = variables.iter().filter(|d| d.name == v.name).count();
        let location = locate_nth(file, text, &format!("name: {}", v.name), nth);
        if !vars::is_valid_name(&v.name) {
            errors.push(LabError::new(
                location.clone(),
                format!("invalid variable name `{}`: expected letters, digits and underscores, such as CLUSTER_NAME", v.name),
            ));
        }
        if variables.iter().any(|d| d.name == v.name) {
            errors.push(LabError::new(location.clone(), format!("variable `{}` is declared twice", v.name)));
        }
        let source = match (v.from, v.command) {
            (RawSource::Command, Some(cmd)) => VariableSource::Command(cmd),
            (RawSource::Command, None) => {
                errors.push(
                    LabError::new(
                        location.clone(),
                        format!("variable `{}` comes `from: command` but has no `command`", v.name),
                    )
                    .with_hint("add `command: \"aws ... --output text\"`"),
                );
                continue;
            }
            (_, Some(_)) => {
                errors.push(LabError::new(
                    locate_in(file, text, "command:"),
                    format!("variable `{}` has a `command` but does not come `from: command`", v.name),
                ));
                continue;
            }
            (RawSource::Prompt, None) => VariableSource::Prompt,
            (RawSource::Account, None) => VariableSource::Account,
            (RawSource::CallerArn, None) => VariableSource::CallerArn,
            (RawSource::Region, None) => VariableSource::Region,
            (RawSource::Step, None) => VariableSource::Step,
        };
        if let Some(p) = &v.pattern {
            // Parsed, not compiled: a start-up of `list` need not build automata it never runs.
            if let Err(e) = regex_syntax::Parser::new().parse(p) {
                let detail = e.to_string();
                errors.push(LabError::new(
                    locate_in(file, text, p),
                    format!(
                        "pattern of `{}` is not a valid regular expression: {}",
                        v.name,
                        super::parse::regex_problem(&detail)
                    ),
                ));
            }
        }
        if let Some(d) = &v.default {
            if let Err(bad) = vars::references(d) {
                errors.push(LabError::new(locate_in(file, text, d), bad.message));
            }
        }
        if v.lookup.is_some() && source != VariableSource::Step {
            errors.push(
                LabError::new(location.clone(), format!("`{}` has a lookup but is not `from: step`", v.name))
                    .with_hint(
                        "only values a step captures can be looked up; remove `lookup` or use `from: step`",
                    ),
            );
        }
        variables.push(Variable {
            name: v.name,
            description: v.description,
            source,
            default: v.default,
            pattern: v.pattern,
            secret: v.secret,
            lookup: v.lookup.map(|l| super::model::Lookup {
                resource: l.resource,
                field: l.field.unwrap_or_else(|| "id".to_string()),
            }),
            location,
        });
    }
    // Defaults may reference only variables declared before them, so they can be resolved in order.
    for (i, v) in variables.iter().enumerate() {
        let Some(d) = &v.default else { continue };
        for r in vars::references(d).unwrap_or_default() {
            if !variables[..i].iter().any(|e| e.name == r.name) {
                errors.push(
                    LabError::new(
                        locate_in(file, text, &format!("${{{}}}", r.name)),
                        format!(
                            "the default of `{}` uses `${{{}}}`, which is not declared before it",
                            v.name, r.name
                        ),
                    )
                    .with_hint("declare that variable earlier in `variables`"),
                );
            }
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Manifest {
        format: raw.format,
        id: raw.id,
        title: raw.title,
        summary: raw.summary,
        audience: raw.audience,
        estimated_time: raw.estimated_time,
        cost: raw.cost,
        modules: raw.modules,
        variables,
        prerequisites: raw.prerequisites,
    })
}
