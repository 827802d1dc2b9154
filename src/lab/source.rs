//! Source text helpers: Hugo pre-processing that keeps every line where it was, and byte
//! offsets turned into line and column.

use regex::Regex;
use std::sync::LazyLock;

/// Maps byte offsets of a text to 1-based line and column (in characters).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// Line and column of `offset` in `text` (the text this index was built from).
    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = text.get(start..offset).map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }
}

static SHORTCODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\s*)\{\{[%<]\s*(/?)\s*([A-Za-z][A-Za-z0-9_-]*)\s*([^{}]*?)\s*[%>]\}\}\s*$")
        .expect("valid regex")
});

static INLINE_SHORTCODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\{\{[%<]\s*(/?)\s*([A-Za-z][A-Za-z0-9_-]*)\s*([^{}]*?)\s*[%>]\}\}"#).expect("valid regex")
});

static BUTTON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\{\{[%<]\s*button\s*([^{}]*?)\s*[%>]\}\}(.*?)\{\{[%<]\s*/button\s*[%>]\}\}"#)
        .expect("valid regex")
});

static SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<summary[^>]*>(.*?)</summary>").expect("valid regex"));

/// The value of `key = "v"`, `key='v'` or `key=v` in `args`, where `key` starts the arguments
/// or follows white space.
fn keyed_arg(args: &str, key: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = args[from..].find(key).map(|i| from + i) {
        from = at + key.len();
        if !args[..at].chars().next_back().is_none_or(char::is_whitespace) {
            continue;
        }
        let Some(rest) = args[from..].trim_start().strip_prefix('=') else { continue };
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => match rest[1..].find(q) {
                Some(end) => &rest[1..1 + end],
                None => rest.split(char::is_whitespace).next().unwrap_or(""),
            },
            Some(_) => rest.split(char::is_whitespace).next().unwrap_or(""),
            None => continue,
        };
        return Some(value.to_string());
    }
    None
}

/// The value of `key="..."` (or the first quoted or bare argument when `key` is absent).
fn shortcode_arg(args: &str, keys: &[&str]) -> Option<String> {
    for key in keys {
        if let Some(value) = keyed_arg(args, key) {
            return Some(value);
        }
    }
    let first = args.trim();
    if first.is_empty() || first.contains('=') {
        return None;
    }
    Some(match first.strip_prefix('"') {
        Some(rest) => rest.split('"').next().unwrap_or("").to_string(),
        None => first.split_whitespace().next().unwrap_or("").to_string(),
    })
}

/// `{{% button href="URL" %}}Label{{% /button %}}` → `[Label](URL)`: the label and where it goes.
fn button(caps: &regex::Captures) -> String {
    let label = caps[2].trim();
    match shortcode_arg(&caps[1], &["href", "link", "url"]) {
        Some(url) if !url.is_empty() => format!("[{label}]({url})"),
        _ => label.to_string(),
    }
}

/// Inline shortcodes inside prose: `ref`/`relref` keep their target, paired ones such as
/// `{{% button %}}text{{% /button %}}` keep their text, the rest disappear.
fn inline_shortcode(caps: &regex::Captures) -> String {
    let closing = !caps[1].is_empty();
    match (&caps[2], closing) {
        ("ref" | "relref", false) => caps[3].trim().trim_matches('"').to_string(),
        _ => String::new(),
    }
}

/// Result of [`prepare`]: the text to parse, plus the front matter if there was one.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The page with front matter blanked and block shortcodes turned into HTML comments;
    /// every line stays on its original line number.
    pub text: String,
    /// The front matter body and the line it starts on, when the page has YAML front matter.
    pub yaml_front_matter: Option<(String, usize)>,
    /// Title and weight read from TOML (`+++`) front matter.
    pub toml_front_matter: Option<(Option<String>, Option<i64>)>,
    /// The line of a front matter opening (`---`/`+++` on line 1) that is never closed.
    pub unclosed_front_matter: Option<usize>,
    /// A code fence never closed: its line, column and the fence itself (`` ``` ``).
    pub unclosed_fence: Option<(usize, usize, String)>,
}

/// Blanks front matter and rewrites Hugo block shortcodes that stand on their own line into
/// HTML comments the renderer understands. Lines inside fenced code and inside HTML
/// comments are left alone.
///
/// A byte order mark is dropped (editors on Windows write one; it is not an error).
pub fn prepare(page: &str) -> Prepared {
    let page = page.strip_prefix('\u{feff}').unwrap_or(page);
    let lines: Vec<&str> = page.split_inclusive('\n').collect();
    let mut out = String::with_capacity(page.len() + 64);
    let mut yaml_front_matter = None;
    let mut toml_front_matter = None;
    let mut unclosed_front_matter = None;
    let mut unclosed_fence = None;
    let mut i = 0;

    if let Some(first) = lines.first() {
        let delim = first.trim_end();
        if delim == "---" || delim == "+++" {
            if let Some(end) = lines.iter().skip(1).position(|l| l.trim_end() == delim) {
                let body: String = lines[1..=end].concat();
                if delim == "---" {
                    yaml_front_matter = Some((body, 2));
                } else {
                    toml_front_matter = Some(toml_title_weight(&body));
                }
                for line in &lines[..=end + 1] {
                    out.push_str(if line.ends_with('\n') { "\n" } else { "" });
                }
                i = end + 2;
            } else if looks_like_front_matter(&lines[1..]) {
                unclosed_front_matter = Some(1);
            }
        }
    }

    let mut fence: Option<(char, usize)> = None;
    let mut fence_at: (usize, usize, String) = (0, 0, String::new());
    let mut in_comment = false;
    for (n, line) in lines.iter().enumerate().skip(i.min(lines.len())) {
        let trimmed = line.trim_start();
        if let Some((ch, len)) = fence {
            if trimmed.chars().take_while(|&c| c == ch).count() >= len
                && trimmed.trim_start_matches(ch).trim().is_empty()
            {
                fence = None;
            }
            out.push_str(line);
            continue;
        }
        if in_comment {
            if line.contains("-->") {
                in_comment = false;
            }
            out.push_str(line);
            continue;
        }
        if let Some(ch) = trimmed.chars().next().filter(|c| *c == '`' || *c == '~') {
            let len = trimmed.chars().take_while(|&c| c == ch).count();
            // A backtick fence's info string has no backticks: ```` ```x``` ```` is inline code.
            let inline = ch == '`' && trimmed[len..].contains('`');
            if len >= 3 && !inline {
                fence = Some((ch, len));
                let column = line.chars().take_while(|c| c.is_whitespace()).count() + 1;
                fence_at = (n + 1, column, ch.to_string().repeat(len));
                out.push_str(line);
                continue;
            }
        }
        if let Some(pos) = line.find("<!--") {
            if !line[pos..].contains("-->") {
                in_comment = true;
            }
            out.push_str(line);
            continue;
        }
        if let Some(replacement) = details_line(line, &lines[n + 1..]) {
            out.push_str(&replacement);
            continue;
        }
        match shortcode_comment(line) {
            Some(replacement) => out.push_str(&replacement),
            None if line.contains("{{") => {
                let line = BUTTON.replace_all(line, button);
                out.push_str(&INLINE_SHORTCODE.replace_all(&line, inline_shortcode))
            }
            None => out.push_str(line),
        }
    }
    if fence.is_some() {
        unclosed_fence = Some(fence_at);
    }
    Prepared { text: out, yaml_front_matter, toml_front_matter, unclosed_front_matter, unclosed_fence }
}

/// Whether the lines after an opening `---` read as front matter (`key: value` or
/// `key = value` first), not as a page that starts with a thematic break.
fn looks_like_front_matter(rest: &[&str]) -> bool {
    static KEY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z_][\w-]*\s*(:|=)").expect("valid regex"));
    rest.iter().map(|l| l.trim()).find(|l| !l.is_empty()).is_some_and(|l| KEY.is_match(l))
}

/// `<details>` (with its `<summary>` on the same or a following line) and `</details>` as an
/// expandable section the renderer draws with its title; the summary's own line is blanked.
fn details_line(line: &str, next: &[&str]) -> Option<String> {
    let newline = if line.ends_with('\n') { "\n" } else { "" };
    let trimmed = line.trim();
    let indent = &line[..line.len() - line.trim_start().len()];
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("</details") {
        return Some(format!("{indent}<!-- /labrunner-callout -->{newline}"));
    }
    if lower.starts_with("<summary") && SUMMARY.is_match(trimmed) && !lower.contains("<details") {
        return Some(newline.to_string()); // Already used by the `<details>` line above it.
    }
    if !lower.starts_with("<details") {
        return None;
    }
    let title = SUMMARY
        .captures(trimmed)
        .or_else(|| next.iter().take(3).find_map(|l| SUMMARY.captures(l.trim())))
        .map(|c| strip_tags(&c[1]))
        .unwrap_or_default();
    let title = title.replace('"', "'");
    Some(format!("{indent}<!-- labrunner-callout expand \"{title}\" -->{newline}"))
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

fn shortcode_comment(line: &str) -> Option<String> {
    // Most lines have no shortcode: the check spares compiling the pattern for a page that has none.
    if !line.contains("{{") {
        return None;
    }
    let caps = SHORTCODE.captures(line.trim_end_matches(['\n', '\r']))?;
    let indent = &caps[1];
    let closing = !caps[2].is_empty();
    let name = caps[3].to_ascii_lowercase();
    let args = caps[4].replace("--", "- -");
    let newline = if line.ends_with('\n') { "\n" } else { "" };
    // Shortcodes that stand for content become Markdown on the same line.
    match (name.as_str(), closing) {
        ("youtube", false) => {
            let id = shortcode_arg(&caps[4], &["id"]).unwrap_or_default();
            return Some(format!("{indent}[video: https://www.youtube.com/watch?v={id}]{newline}"));
        }
        ("video" | "vimeo", false) => {
            let src = shortcode_arg(&caps[4], &["src", "url", "id"]).unwrap_or_default();
            return Some(format!("{indent}[video: {src}]{newline}"));
        }
        ("children", false) => {
            return Some(format!("{indent}*The pages of this section follow.*{newline}"));
        }
        ("expand", false) => {
            let title = shortcode_arg(&caps[4], &["title"]).unwrap_or_else(|| "Details".into());
            let title = title.replace('"', "'");
            return Some(format!("{indent}<!-- labrunner-callout expand \"{title}\" -->{newline}"));
        }
        ("expand", true) => return Some(format!("{indent}<!-- /labrunner-callout -->{newline}")),
        _ => {}
    }
    let marker = match (name.as_str(), closing) {
        ("notice", false) => format!("labrunner-callout {args}"),
        ("notice", true) => "/labrunner-callout".to_string(),
        ("tabs", false) => "labrunner-tabs".to_string(),
        ("tabs", true) => "/labrunner-tabs".to_string(),
        ("tab", false) => format!("labrunner-tab {}", tab_name(&args)),
        ("tab", true) => "/labrunner-tab".to_string(),
        (_, false) => format!("labrunner-shortcode {name} {args}"),
        (_, true) => format!("/labrunner-shortcode {name}"),
    };
    Some(format!("{indent}<!-- {} -->{newline}", marker.trim_end()))
}

/// `"Linux"`, `name="Linux"` or `title="Linux"` → `Linux`.
fn tab_name(args: &str) -> String {
    let args = args.trim();
    let value = args
        .split_once('=')
        .filter(|(k, _)| matches!(k.trim(), "name" | "title"))
        .map_or(args, |(_, v)| v.trim());
    value.trim_matches('"').to_string()
}

fn toml_title_weight(body: &str) -> (Option<String>, Option<i64>) {
    let mut title = None;
    let mut weight = None;
    for line in body.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            match k.trim() {
                "title" => title = Some(v.trim_matches(['"', '\'']).to_string()),
                "weight" => weight = v.parse().ok(),
                _ => {}
            }
        }
    }
    (title, weight)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shortcode_arguments_by_key_quoted_or_bare() {
        let args = r#"title = "Step one"  id='a-b' href=https://x.test/y nothref=1"#;
        assert_eq!(keyed_arg(args, "title").as_deref(), Some("Step one"));
        assert_eq!(keyed_arg(args, "id").as_deref(), Some("a-b"));
        assert_eq!(keyed_arg(args, "href").as_deref(), Some("https://x.test/y"));
        // A key only counts where it starts a word and is followed by `=`.
        assert_eq!(keyed_arg("nothref=1", "href"), None);
        assert_eq!(keyed_arg("href", "href"), None);
        assert_eq!(keyed_arg("href=", "href"), None);
        assert_eq!(keyed_arg(r#"href="open"#, "href").as_deref(), Some(r#""open"#));
        assert_eq!(shortcode_arg(r#"src="a.png" title="A""#, &["url", "src"]).as_deref(), Some("a.png"));
    }

    use super::*;

    #[test]
    fn positions_count_characters() {
        let text = "ab\nçd\n\nx";
        let idx = LineIndex::new(text);
        assert_eq!(idx.position(text, 0), (1, 1));
        assert_eq!(idx.position(text, 3), (2, 1));
        assert_eq!(idx.position(text, 5), (2, 2)); // after the two-byte ç
        assert_eq!(idx.position(text, 7), (3, 1));
        assert_eq!(idx.position(text, 99), (4, 2));
    }

    #[test]
    fn prepare_keeps_line_numbers_and_converts_shortcodes() {
        let page = "---\ntitle: T\nweight: 2\n---\n\n{{% notice warning %}}\nCareful.\n{{% /notice %}}\n```\n{{% notice note %}}\n```\n";
        let p = prepare(page);
        assert_eq!(p.text.lines().count(), page.lines().count());
        let lines: Vec<&str> = p.text.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(lines[5], "<!-- labrunner-callout warning -->");
        assert_eq!(lines[7], "<!-- /labrunner-callout -->");
        assert_eq!(lines[9], "{{% notice note %}}", "code is never rewritten");
        assert_eq!(p.yaml_front_matter, Some(("title: T\nweight: 2\n".into(), 2)));
    }

    #[test]
    fn tabs_and_unknown_shortcodes() {
        let cases = [
            ("{{< tabs >}}", "<!-- labrunner-tabs -->"),
            ("{{< tab \"Linux\" >}}", "<!-- labrunner-tab Linux -->"),
            ("{{% tab name=\"macOS\" %}}", "<!-- labrunner-tab macOS -->"),
            ("{{< /tab >}}", "<!-- /labrunner-tab -->"),
            ("  {{< youtube abc >}}", "  [video: https://www.youtube.com/watch?v=abc]"),
            ("{{< youtube id=\"abc\" >}}", "[video: https://www.youtube.com/watch?v=abc]"),
            ("{{% children %}}", "*The pages of this section follow.*"),
            ("{{% expand \"Show the answer\" %}}", "<!-- labrunner-callout expand \"Show the answer\" -->"),
            ("{{% expand title=\"Why?\" %}}", "<!-- labrunner-callout expand \"Why?\" -->"),
            ("{{% /expand %}}", "<!-- /labrunner-callout -->"),
            ("{{< mermaid >}}", "<!-- labrunner-shortcode mermaid -->"),
        ];
        for (input, want) in cases {
            assert_eq!(prepare(input).text, want, "{input}");
        }
    }

    #[test]
    fn inline_shortcodes_leave_their_text() {
        let cases = [
            ("Click {{% button href=\"/x\" %}}here{{% /button %}} now", "Click [here](/x) now"),
            ("{{< button href=\"https://console.aws.amazon.com/ecs\" icon=\"x\" >}}Open ECS{{< /button >}}", "[Open ECS](https://console.aws.amazon.com/ecs)"),
            ("See {{< ref \"setup.md\" >}}.", "See setup.md."),
            ("plain {{ not a shortcode }}", "plain {{ not a shortcode }}"),
        ];
        for (input, want) in cases {
            assert_eq!(prepare(input).text, want, "{input}");
        }
    }

    #[test]
    fn details_become_an_expandable_section_with_its_summary_as_title() {
        let page = "<details>\n<summary>Why <b>two</b> subnets?</summary>\n\nBecause of AZs.\n</details>\n";
        let p = prepare(page);
        assert_eq!(p.text, "<!-- labrunner-callout expand \"Why two subnets?\" -->\n\n\nBecause of AZs.\n<!-- /labrunner-callout -->\n");
        let one_line = prepare("<details><summary>Answer</summary>\n\nYes.\n\n</details>\n");
        assert!(
            one_line.text.starts_with("<!-- labrunner-callout expand \"Answer\" -->\n"),
            "{}",
            one_line.text
        );
    }

    #[test]
    fn toml_front_matter_gives_title_and_weight() {
        let p = prepare("+++\ntitle = \"Setup\"\nweight = 5\n+++\nbody\n");
        assert_eq!(p.toml_front_matter, Some((Some("Setup".into()), Some(5))));
        assert_eq!(p.text, "\n\n\n\nbody\n");
    }
}
