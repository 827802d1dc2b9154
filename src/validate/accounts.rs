//! The instructor's class list: a CSV file (header `account_id,name,email`) or a YAML list of
//! `{account_id, name, email}`, read into [`Student`]s with every bad row reported at its line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::lab::yaml;

/// One account to validate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Student {
    /// The 12-digit account id (empty until known for a profile).
    pub account_id: String,
    /// The student's name, if given.
    pub name: String,
    /// The student's email, if given.
    pub email: String,
    /// The profile whose credentials are used (`--profiles`), instead of an assumed role.
    pub profile: Option<String>,
}

impl Student {
    /// A student reached through a named profile.
    pub fn from_profile(profile: &str) -> Self {
        Student {
            account_id: String::new(),
            name: profile.to_string(),
            email: String::new(),
            profile: Some(profile.to_string()),
        }
    }
}

/// Reads the accounts file at `path` (CSV unless it ends in `.yaml`/`.yml`).
pub fn read(path: &Path) -> Result<Vec<Student>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let shown = path.display().to_string();
    let result = if yaml { parse_yaml(&text) } else { parse_csv(&text) };
    result.map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|(line, msg)| format!("{shown}:{line}: {msg}")).collect();
        Error::usage(
            format!("the accounts file has {} problem{}:\n  {}", lines.len(), if lines.len() == 1 { "" } else { "s" }, lines.join("\n  ")),
            "CSV needs a header `account_id,name,email` (name and email optional); YAML is a list of {account_id, name, email}; account ids are 12 digits",
        )
    })
}

/// A problem at a line of the file.
type Problem = (usize, String);

/// Parses CSV text with a header row. Blank lines and lines starting with `#` are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<Student>, Vec<Problem>> {
    let cleaned: String = text
        .lines()
        .map(|l| if l.trim_start().starts_with('#') { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(cleaned.as_bytes());
    let header_line = cleaned.lines().position(|l| !l.trim().is_empty()).map_or(1, |i| i + 1);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![(header_line, format!("unreadable header: {e}"))]),
    };
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(id_col) = column("account_id") else {
        return Err(vec![(
            header_line,
            format!(
                "the header `{}` has no `account_id` column",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        )]);
    };
    let (name_col, email_col) = (column("name"), column("email"));
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                problems.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |col: Option<usize>| col.and_then(|c| record.get(c)).unwrap_or("").to_string();
        rows.push((line, get(Some(id_col)), get(name_col), get(email_col)));
    }
    finish(rows, problems, "")
}

/// An item of the YAML list; the account id may be written as a number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlStudent {
    account_id: yaml_id::Id,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

mod yaml_id {
    //! An account id as YAML may hold it: a string or a number.
    use serde::Deserialize;

    /// A string or a number.
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub(super) enum Id {
        /// Quoted.
        Text(String),
        /// Unquoted: leading zeros are lost.
        Number(u64),
    }
}

/// Parses a YAML list of `{account_id, name, email}`.
pub fn parse_yaml(text: &str) -> Result<Vec<Student>, Vec<Problem>> {
    let items: Vec<(usize, YamlStudent)> =
        yaml::list_items(text, yaml::Origin::FILE).map_err(|e| vec![(e.line, e.message)])?;
    let rows = items
        .into_iter()
        .map(|(line, s)| {
            let id = match s.account_id {
                yaml_id::Id::Text(t) => t.trim().to_string(),
                yaml_id::Id::Number(n) => n.to_string(),
            };
            (line, id, s.name.unwrap_or_default(), s.email.unwrap_or_default())
        })
        .collect();
    finish(rows, Vec::new(), " (quote account ids in YAML so leading zeros survive)")
}

/// Validates ids and duplicates; returns the students in file order or every problem.
fn finish(
    rows: Vec<(usize, String, String, String)>,
    mut problems: Vec<Problem>,
    zero_hint: &str,
) -> Result<Vec<Student>, Vec<Problem>> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut students = Vec::new();
    for (line, id, name, email) in rows {
        if let Some(msg) = id_problem(&id, zero_hint) {
            problems.push((line, msg));
            continue;
        }
        if let Some(first) = seen.get(&id) {
            problems.push((line, format!("account {id} is listed twice (first on line {first})")));
            continue;
        }
        seen.insert(id.clone(), line);
        students.push(Student { account_id: id, name, email, profile: None });
    }
    if students.is_empty() && problems.is_empty() {
        problems.push((1, "no accounts listed".into()));
    }
    problems.sort_by_key(|(line, _)| *line);
    if problems.is_empty() {
        Ok(students)
    } else {
        Err(problems)
    }
}

/// What is wrong with an account id, if anything.
pub fn id_problem(id: &str, zero_hint: &str) -> Option<String> {
    if id.is_empty() {
        return Some("the account id is empty".into());
    }
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("account id `{id}` is not 12 digits"));
    }
    if id.len() != 12 {
        let extra = if id.len() < 12 {
            if zero_hint.is_empty() {
                " (spreadsheets drop leading zeros: format the column as text)"
            } else {
                zero_hint
            }
        } else {
            ""
        };
        return Some(format!("account id `{id}` is not 12 digits (it has {}){extra}", id.len()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_optional_columns_in_any_order() {
        let text =
            "# class of May\nemail,account_id,name\nann@example.com,111111111111,Ann\n\n,222222222222,\n";
        let got = parse_csv(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Student {
                account_id: "111111111111".into(),
                name: "Ann".into(),
                email: "ann@example.com".into(),
                profile: None
            }
        );
        assert_eq!(got[1].account_id, "222222222222");
        assert_eq!(got[1].name, "");
    }

    #[test]
    fn csv_only_ids() {
        let got = parse_csv("account_id\n111111111111\n222222222222\n").unwrap();
        assert_eq!(
            got.iter().map(|s| s.account_id.as_str()).collect::<Vec<_>>(),
            ["111111111111", "222222222222"]
        );
    }

    #[test]
    fn csv_bad_rows_are_reported_at_their_lines() {
        let text = "account_id,name\n111111111111,Ann\n12345,Bob\nabcdefabcdef,Cy\n111111111111,Dee\n";
        let problems = parse_csv(text).unwrap_err();
        assert_eq!(
            problems,
            vec![
                (3, "account id `12345` is not 12 digits (it has 5) (spreadsheets drop leading zeros: format the column as text)".to_string()),
                (4, "account id `abcdefabcdef` is not 12 digits".to_string()),
                (5, "account 111111111111 is listed twice (first on line 2)".to_string()),
            ]
        );
    }

    #[test]
    fn csv_without_account_id_column() {
        let problems = parse_csv("id,name\n1,a\n").unwrap_err();
        assert_eq!(problems, vec![(1, "the header `id,name` has no `account_id` column".to_string())]);
    }

    #[test]
    fn yaml_list_with_lines() {
        let text = "# class\n- account_id: \"011111111111\"\n  name: Ann\n- account_id: 222222222222\n  email: b@example.com\n- account_id: 11111111111\n";
        let problems = parse_yaml(text).unwrap_err();
        assert_eq!(problems, vec![(6, "account id `11111111111` is not 12 digits (it has 11) (quote account ids in YAML so leading zeros survive)".to_string())]);
        let ok = parse_yaml("- account_id: \"011111111111\"\n  name: Ann\n- {account_id: 222222222222}\n")
            .unwrap();
        assert_eq!(ok[0].account_id, "011111111111");
        assert_eq!(ok[1].account_id, "222222222222");
    }

    #[test]
    fn yaml_duplicates_and_unknown_keys() {
        let dup = parse_yaml("- account_id: \"111111111111\"\n- account_id: \"111111111111\"\n").unwrap_err();
        assert_eq!(dup, vec![(2, "account 111111111111 is listed twice (first on line 1)".to_string())]);
        let unknown = parse_yaml("- account_id: \"111111111111\"\n  nmae: x\n").unwrap_err();
        assert_eq!(unknown[0].0, 2);
        assert!(unknown[0].1.contains("unknown field `nmae`"), "{unknown:?}");
    }
}
