//! `${NAME}` references in check parameters, resource fields and variable defaults.
//!
//! Only the braced form is a reference; `$$` writes a literal dollar sign. Shell blocks are
//! not touched here: bash expands their variables itself.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A reference found in a text, with its byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The variable name.
    pub name: String,
    /// Byte offset of the `$`.
    pub offset: usize,
}

/// A malformed reference, with its byte offset and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReference {
    /// Byte offset of the `$`.
    pub offset: usize,
    /// What is wrong, and what to write instead.
    pub message: String,
}

/// True for names like `CLUSTER_NAME`: a letter or underscore, then letters, digits, underscores.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Finds the references in `text`, or the first malformed one.
pub fn references(text: &str) -> Result<Vec<Reference>, BadReference> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let start = i + 2;
                let Some(len) = text[start..].find('}') else {
                    return Err(BadReference {
                        offset: i,
                        message: "unterminated variable reference: `${` has no closing `}`".into(),
                    });
                };
                let name = &text[start..start + len];
                if !is_valid_name(name) {
                    return Err(BadReference {
                        offset: i,
                        message: format!(
                            "malformed variable reference `${{{name}}}`: expected a name of letters, digits and underscores, such as `${{CLUSTER_NAME}}`"
                        ),
                    });
                }
                found.push(Reference { name: name.to_string(), offset: i });
                i = start + len + 1;
            }
            _ => i += 1,
        }
    }
    Ok(found)
}

/// Replaces every `${NAME}` through `lookup` and `$$` with `$`.
///
/// Fails with a message naming the first variable that `lookup` does not know.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let refs = references(text).map_err(|e| e.message)?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in refs {
        out.push_str(&text[last..r.offset].replace("$$", "$"));
        match lookup(&r.name) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("variable {} has no value yet", r.name)),
        }
        last = r.offset + r.name.len() + 3;
    }
    out.push_str(&text[last..].replace("$$", "$"));
    Ok(out)
}

/// Interpolates every string inside a serializable value (a check or resource spec).
pub fn resolve_value<T: Serialize + DeserializeOwned>(
    value: &T,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<T, String> {
    let mut json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    walk_strings_mut(&mut json, &mut |s| {
        *s = interpolate(s, lookup)?;
        Ok(())
    })?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// The names referenced by any string inside a serializable value, in order, deduplicated.
pub fn value_references<T: Serialize>(value: &T) -> Vec<String> {
    let mut json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    let mut names: Vec<String> = Vec::new();
    let _ = walk_strings_mut(&mut json, &mut |s| {
        for r in references(s).unwrap_or_default() {
            if !names.contains(&r.name) {
                names.push(r.name);
            }
        }
        Ok(())
    });
    names
}

/// Every string inside a serializable value (for lint's look at literals).
pub fn value_strings<T: Serialize>(value: &T) -> Vec<String> {
    let mut json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    let mut out = Vec::new();
    let _ = walk_strings_mut(&mut json, &mut |s| {
        out.push(s.clone());
        Ok(())
    });
    out
}

fn walk_strings_mut(
    value: &mut serde_json::Value,
    f: &mut dyn FnMut(&mut String) -> Result<(), String>,
) -> Result<(), String> {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter_mut().try_for_each(|v| walk_strings_mut(v, f)),
        serde_json::Value::Object(map) => map.values_mut().try_for_each(|v| walk_strings_mut(v, f)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "CLUSTER" => Some("c1".into()),
            "REGION" => Some("us-east-1".into()),
            _ => None,
        }
    }

    #[test]
    fn references_table() {
        let cases: &[(&str, Result<Vec<&str>, &str>)] = &[
            ("plain", Ok(vec![])),
            ("${CLUSTER}", Ok(vec!["CLUSTER"])),
            ("a-${CLUSTER}-${REGION}", Ok(vec!["CLUSTER", "REGION"])),
            ("$$ {not} $CLUSTER", Ok(vec![])),
            ("$${CLUSTER}", Ok(vec![])),
            ("${CLUSTER", Err("unterminated")),
            ("${}", Err("malformed")),
            ("${9LIVES}", Err("malformed")),
            ("${a-b}", Err("malformed")),
        ];
        for (text, want) in cases {
            let got = references(text);
            match (got, want) {
                (Ok(refs), Ok(names)) => {
                    let got: Vec<_> = refs.iter().map(|r| r.name.as_str()).collect();
                    assert_eq!(&got, names, "{text}");
                }
                (Err(e), Err(fragment)) => assert!(e.message.contains(fragment), "{text}: {}", e.message),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn interpolate_table() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("${CLUSTER}", Ok("c1")),
            ("arn:${REGION}:${CLUSTER}/x", Ok("arn:us-east-1:c1/x")),
            ("cost $$5", Ok("cost $5")),
            ("${MISSING}", Err("variable MISSING has no value yet")),
        ];
        for (text, want) in cases {
            let got = interpolate(text, &lookup);
            assert_eq!(got.as_deref().map_err(|e| e.as_str()), *want, "{text}");
        }
    }

    #[test]
    fn offsets_point_at_the_dollar() {
        let refs = references("ab ${CLUSTER}").unwrap();
        assert_eq!(refs[0].offset, 3);
        assert_eq!(references("xx ${").unwrap_err().offset, 3);
    }
}
