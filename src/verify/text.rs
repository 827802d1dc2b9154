//! Small text helpers for evidence and diagnostics: one line, bounded length.

/// `text` on one line (newlines and runs of whitespace become one space), cut to `max` chars
/// with an ellipsis.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&joined, max)
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The last `n` non-empty lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}

/// Glob matching with `*` (any run) and `?` (one character).
pub(crate) fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative wildcard match with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A list for evidence: at most `max` items, then "+N more".
pub(crate) fn list(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!("{}, +{} more", items[..max].join(", "), items.len() - max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_and_truncate() {
        assert_eq!(one_line("a\n  b\tc ", 10), "a b c");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(truncate("héllo", 5), "héllo");
    }

    #[test]
    fn tail_keeps_last_non_empty_lines() {
        assert_eq!(tail("a\nb\n\nc\n\n", 2), vec!["b", "c"]);
        assert!(tail("", 3).is_empty());
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "anything", false, true),
            ("dynamodb:*", "dynamodb:Query", false, true),
            ("dynamodb:Get*", "dynamodb:GetItem", false, true),
            ("dynamodb:Get*", "dynamodb:PutItem", false, false),
            ("DynamoDB:get*", "dynamodb:GetItem", true, true),
            ("DynamoDB:get*", "dynamodb:GetItem", false, false),
            ("arn:aws:dynamodb:*:*:table/Inv*", "arn:aws:dynamodb:us-east-1:1:table/Inventory", false, true),
            ("a?c", "abc", false, true),
            ("a?c", "ac", false, false),
            ("*a*b", "xxaxxb", false, true),
            ("*a*b", "xxaxxbx", false, false),
            ("", "", false, true),
            ("", "x", false, false),
        ];
        for (p, t, ci, want) in cases {
            assert_eq!(glob(p, t, ci), want, "{p} vs {t}");
        }
    }

    #[test]
    fn list_caps_items() {
        let items: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(list(&items, 3), "1, 2, 3, +2 more");
        assert_eq!(list(&items[..2], 3), "1, 2");
    }
}
