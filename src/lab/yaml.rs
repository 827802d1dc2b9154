//! The one module that touches YAML.
//!
//! Everything YAML in labrunner goes through here: lab manifests, step metadata blocks,
//! Hugo front matter and instructor account lists. Errors come back as [`YamlError`] with a
//! position already translated into the enclosing file's coordinates.
//!
//! The parser is `yaml_serde`, the YAML organisation's maintained continuation of the archived
//! `serde_yaml` (same API and the same line/column positions in its errors).

use serde::de::DeserializeOwned;

/// A YAML error at a position in the enclosing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Line in the enclosing file, 1-based.
    pub line: usize,
    /// Column in the enclosing file, 1-based.
    pub column: usize,
    /// What was wrong, without the YAML parser's trailing position.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Where a YAML snippet starts inside its file: the line and column of its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Line of the snippet's first character, 1-based.
    pub line: usize,
    /// Column of the snippet's first character, 1-based.
    pub column: usize,
}

impl Origin {
    /// A snippet that is the whole file.
    pub const FILE: Origin = Origin { line: 1, column: 1 };

    /// Translates a 1-based position inside the snippet into the file.
    pub fn translate(&self, line: usize, column: usize) -> (usize, usize) {
        if line <= 1 {
            (self.line, self.column + column.saturating_sub(1))
        } else {
            (self.line + line - 1, column)
        }
    }
}

/// Deserializes `text` (which starts at `origin` in its file) into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: Origin) -> Result<T, YamlError> {
    yaml_serde::from_str(text).map_err(|e| convert(&e, text, origin))
}

/// What a manifest's `format` key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatField {
    /// No `format` key.
    Missing,
    /// A whole number.
    Version(u64),
    /// Something else.
    Invalid,
}

/// Reads the `format` key of a manifest without judging any other key, so a newer format is
/// reported as such instead of as a pile of unknown keys.
pub fn format_version(text: &str, origin: Origin) -> Result<FormatField, YamlError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        format: Option<yaml_serde::Value>,
    }
    let probe: Probe = from_str(text, origin)?;
    Ok(match probe.format {
        None => FormatField::Missing,
        Some(v) => v.as_u64().map_or(FormatField::Invalid, FormatField::Version),
    })
}

/// Reads Hugo front matter leniently: only `title` and `weight` matter to labrunner, every
/// other key (Hugo has many) is ignored. A front matter that is not YAML at all is an error.
pub fn front_matter(text: &str, origin: Origin) -> Result<(Option<String>, Option<i64>), YamlError> {
    let value: yaml_serde::Value = from_str(text, origin)?;
    let title = value.get("title").and_then(scalar_text);
    let weight = value.get("weight").and_then(|w| match w {
        yaml_serde::Value::Number(n) => n.as_i64(),
        yaml_serde::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Ok((title, weight))
}

/// Deserializes a top-level YAML list (an instructor's account list), pairing each item with
/// the file line its `-` stands on (the list's first line when the list is written inline).
pub fn list_items<T: DeserializeOwned>(text: &str, origin: Origin) -> Result<Vec<(usize, T)>, YamlError> {
    let items: Vec<T> = from_str(text, origin)?;
    let starts: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("- ") || *l == "-")
        .map(|(i, _)| origin.translate(i + 1, 1).0)
        .collect();
    let first = text.lines().position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let fallback = origin.translate(first.unwrap_or(0) + 1, 1).0;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| (starts.get(i).copied().unwrap_or(fallback), item))
        .collect())
}

/// `s` as a YAML scalar that reads back as exactly `s`, alone on a line (`key: VALUE`) and
/// inside a flow map (`{ key: VALUE }`): plain when that is unambiguous, double-quoted
/// otherwise. The result never contains `-->`, so it can stand inside an HTML comment.
pub fn scalar(s: &str) -> String {
    if plain_is_exact(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

fn plain_is_exact(s: &str) -> bool {
    if s.is_empty() || s.trim() != s || s.contains(['\n', '\r', '\t']) || s.contains("-->") {
        return false;
    }
    // YAML 1.1 readers take these for booleans and null, whatever the YAML parser does.
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"];
    if WORDS.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    let want = yaml_serde::Value::String(s.to_string());
    let read = |text: String| {
        yaml_serde::from_str::<yaml_serde::Value>(&text).ok().and_then(|v| v.get("k").cloned())
    };
    read(format!("k: {s}\n")).as_ref() == Some(&want)
        && read(format!("{{ k: {s} }}\n")).as_ref() == Some(&want)
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // `-->` would end the HTML comment the metadata stands in.
            '>' if out.ends_with("--") => out.push_str("\\x3e"),
            c if c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value in YAML flow style on one line (`{ name: local, port: 80 }`), every string
/// through [`scalar`]. Enum values (check kinds, resource types) read as one-key maps.
pub fn to_flow<T: serde::Serialize>(value: &T) -> Result<String, String> {
    let value = yaml_serde::to_value(value).map_err(|e| e.to_string())?;
    Ok(flow(&value))
}

/// An enum value (a check kind, a resource type) as its key and its fields in flow style:
/// `ResourceSpec::Vpc { name }` → (`vpc`, `{ name: x }`).
pub fn to_tagged_flow<T: serde::Serialize>(value: &T) -> Result<(String, String), String> {
    match yaml_serde::to_value(value).map_err(|e| e.to_string())? {
        yaml_serde::Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Ok((tag.trim_start_matches('!').to_string(), flow(&tagged.value)))
        }
        yaml_serde::Value::Mapping(map) if map.len() == 1 => {
            let (k, v) = map.iter().next().ok_or("empty map")?;
            Ok((key_text(k), flow(v)))
        }
        other => Err(format!("expected an enum value, found {}", flow(&other))),
    }
}

fn key_text(key: &yaml_serde::Value) -> String {
    match key {
        yaml_serde::Value::String(s) => s.clone(),
        other => flow(other),
    }
}

fn flow(value: &yaml_serde::Value) -> String {
    use yaml_serde::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Sequence(items) => {
            format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", "))
        }
        Value::Mapping(map) if map.is_empty() => "{}".into(),
        Value::Mapping(map) => {
            let fields: Vec<String> =
                map.iter().map(|(k, v)| format!("{}: {}", scalar(&key_text(k)), flow(v))).collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            format!("{{ {}: {} }}", scalar(tag.trim_start_matches('!')), flow(&tagged.value))
        }
    }
}

fn scalar_text(v: &yaml_serde::Value) -> Option<String> {
    match v {
        yaml_serde::Value::String(s) => Some(s.clone()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        yaml_serde::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn convert(e: &yaml_serde::Error, text: &str, origin: Origin) -> YamlError {
    let message = e.to_string();
    // "found unexpected end of stream, while scanning a quoted scalar at line 3 column 8":
    // the position inside the message is where the broken construct starts, which is where
    // the author has to look; the error's own position is merely where the scanner gave up.
    let started = POSITION
        .captures_iter(&message)
        .filter_map(|c| Some((c[1].parse::<usize>().ok()?, c[2].parse::<usize>().ok()?)))
        .last()
        .filter(|_| message.contains(", while "));
    let (line, column) = match (started, e.location()) {
        (Some(pos), _) => pos,
        (None, Some(loc)) => (loc.line(), loc.column()),
        // Errors without a position (an empty document, say) point at the snippet's start.
        (None, None) => (1, 1),
    };
    let (line, column) = clamp_to_text(text, line, column);
    let (line, column) = origin.translate(line, column);
    YamlError { line, column, message: clean_message(&message) }
}

/// The YAML parser can report a position one past the last line (end of stream); keep it inside.
fn clamp_to_text(text: &str, line: usize, column: usize) -> (usize, usize) {
    let lines = text.lines().count().max(1);
    if line > lines {
        let last = text.lines().last().unwrap_or("");
        (lines, last.chars().count() + 1)
    } else {
        (line.max(1), column.max(1))
    }
}

/// Drops the YAML parser's " at line N column M" (we print positions ourselves) and makes the
/// type vocabulary read like YAML rather than Rust.
fn clean_message(message: &str) -> String {
    // The YAML parser appends positions relative to the snippet ("at line 4 column 21"), sometimes
    // twice ("while parsing a flow mapping at line 4 column 21"); labrunner prints the file
    // position itself, so every one of them goes.
    let msg = POSITION.replace_all(message, "");
    msg.replace("a sequence", "a list")
        .replace("sequence", "list")
        .replace("struct ", "")
        .replace("u32", "a whole number")
        .replace("u16", "a whole number")
        .replace("i32", "a whole number")
        .replace("i64", "a whole number")
}

static POSITION: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r" at line (\d+) column (\d+)").expect("valid regex"));

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        id: String,
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn unknown_key_is_reported_at_the_key_in_file_coordinates() {
        let text = "id: a\ncuont: 2\n";
        let err = from_str::<Doc>(text, Origin { line: 10, column: 5 }).unwrap_err();
        assert_eq!((err.line, err.column), (11, 1));
        assert!(err.message.starts_with("unknown field `cuont`"), "{}", err.message);
        assert!(!err.message.contains("at line"), "{}", err.message);
    }

    #[test]
    fn wrong_type_names_the_yaml_type() {
        let err = from_str::<Doc>("id: a\ncount: lots\n", Origin::FILE).unwrap_err();
        assert_eq!((err.line, err.column), (2, 8));
        assert!(err.message.contains("whole number"), "{}", err.message);
    }

    #[test]
    fn first_line_columns_shift_by_the_origin_column() {
        assert_eq!(Origin { line: 3, column: 20 }.translate(1, 2), (3, 21));
        assert_eq!(Origin { line: 3, column: 20 }.translate(2, 2), (4, 2));
    }

    #[test]
    fn a_broken_quote_points_where_it_starts() {
        let err = from_str::<yaml_serde::Value>("a: 1\nb: \"open\nc: 2\n", Origin { line: 10, column: 1 })
            .unwrap_err();
        assert_eq!((err.line, err.column), (11, 4));
        assert_eq!(err.message, "found unexpected end of stream, while scanning a quoted scalar");
    }

    #[test]
    fn scalars_read_back_as_written() {
        let cases = [
            ("local", "local"),
            ("/ecs/web", "/ecs/web"),
            ("10.0.1.0/24", "10.0.1.0/24"),
            ("256", "\"256\""),
            ("yes", "\"yes\""),
            ("${VPC_ID}", "\"${VPC_ID}\""),
            ("a: b", "\"a: b\""),
            ("it's \"quoted\"", "it's \"quoted\""),
            ("\"starts quoted\"", "\"\\\"starts quoted\\\"\""),
            ("x --> y", "\"x --\\x3e y\""),
            ("", "\"\""),
            ("two\nlines", "\"two\\nlines\""),
        ];
        for (text, want) in cases {
            let got = scalar(text);
            assert_eq!(got, want, "{text:?}");
            assert!(!got.contains("-->"));
            let back: yaml_serde::Value = yaml_serde::from_str(&format!("{{ k: {got} }}")).unwrap();
            assert_eq!(back["k"], yaml_serde::Value::String(text.into()), "{text:?}");
        }
    }

    #[test]
    fn enums_render_as_one_key_flow_maps() {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Subnet { vpc: String, cidr: String },
            Port(u16),
        }
        let (tag, fields) =
            to_tagged_flow(&Kind::Subnet { vpc: "${VPC_ID}".into(), cidr: "10.0.1.0/24".into() }).unwrap();
        assert_eq!((tag.as_str(), fields.as_str()), ("subnet", "{ vpc: \"${VPC_ID}\", cidr: 10.0.1.0/24 }"));
        assert_eq!(to_flow(&vec![Kind::Port(80)]).unwrap(), "[{ port: 80 }]");
    }

    #[test]
    fn front_matter_ignores_hugo_keys() {
        let (title, weight) =
            front_matter("title: \"Cart\"\nweight: 3\npre: \"<b>3.1</b>\"\nchapter: false\n", Origin::FILE)
                .unwrap();
        assert_eq!(title.as_deref(), Some("Cart"));
        assert_eq!(weight, Some(3));
    }
}
