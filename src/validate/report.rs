//! Renderers of a validation [`Report`]: the terminal matrix with its summary line, JSON, CSV,
//! JUnit XML and (in [`super::html`]) HTML. All pure: a report in, a `String` out.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use super::{rfc3339, time_of_day, AccountStatus, Mark, Mode, Report};
use crate::ui::Styles;

pub use super::html::html;

fn pad(text: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}

fn styled(styles: &Styles, mark: Mark) -> String {
    let s = mark.symbol();
    match mark {
        Mark::Pass => styles.ok.apply_to(s).to_string(),
        Mark::Fail | Mark::Error => styles.fail.apply_to(s).to_string(),
        Mark::NotCheckable => styles.dim.apply_to(s).to_string(),
    }
}

/// The accounts × columns matrix, a "passed" count row, account problems under their rows,
/// evidence for every check when `verbose` (and, in a watch, when each checkpoint was first
/// reached), and the summary line. Column headers are the ids
/// when they fit in `width`, numbers with a legend otherwise.
pub fn matrix(report: &Report, styles: &Styles, width: usize, verbose: bool) -> String {
    let mut out = String::new();
    let id_w =
        report.accounts.iter().map(|a| a.student.account_id.width()).max().unwrap_or(0).max("account".len());
    let name_w = report.accounts.iter().map(|a| a.student.name.width()).max().unwrap_or(0).max("name".len());
    let email_w =
        report.accounts.iter().map(|a| a.student.email.width()).max().unwrap_or(0).max("email".len());
    let lead = id_w + name_w + email_w + 6;
    let by_id: usize = report.columns.iter().map(|c| c.id.width() + 2).sum();
    let numbered = lead + by_id > width;
    let headers: Vec<String> = report
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| if numbered { (i + 1).to_string() } else { c.id.clone() })
        .collect();
    let widths: Vec<usize> = headers.iter().map(|h| h.width().max(1)).collect();
    if numbered {
        let legend: Vec<String> =
            report.columns.iter().enumerate().map(|(i, c)| format!("{} {}", i + 1, c.id)).collect();
        let _ = writeln!(out, "{} {}", styles.dim.apply_to("columns:"), legend.join(" · "));
    }
    let mut head = format!("{}  {}  {}", pad("account", id_w), pad("name", name_w), pad("email", email_w));
    for (h, w) in headers.iter().zip(&widths) {
        head.push_str("  ");
        head.push_str(&pad(h, *w));
    }
    let _ = writeln!(out, "{}", styles.heading.apply_to(head.trim_end()));
    for account in &report.accounts {
        let s = &account.student;
        let mut line =
            format!("{}  {}  {}", pad(&s.account_id, id_w), pad(&s.name, name_w), pad(&s.email, email_w));
        for (i, w) in widths.iter().enumerate() {
            let mark = account.mark(i);
            line.push_str("  ");
            line.push_str(&styled(styles, mark));
            line.push_str(&" ".repeat(w - 1));
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(problem) = &account.problem {
            let _ = writeln!(out, "    {} {}", styled(styles, Mark::Error), problem.message);
            let _ = writeln!(out, "      {} {}", styles.dim.apply_to("what to do:"), problem.advice);
        }
        if verbose {
            for (cell, column) in account.cells.iter().zip(&report.columns) {
                for check in &cell.checks {
                    let _ = writeln!(
                        out,
                        "    {} {} {}: {}",
                        styled(styles, check.status),
                        styles.dim.apply_to(&column.id),
                        check.description,
                        check.evidence
                    );
                    for d in &check.diagnostics {
                        let _ = writeln!(out, "        {}", styles.dim.apply_to(d));
                    }
                }
            }
            // A single run saw everything at once; a watch tells when each checkpoint came.
            let reached: Vec<String> = account
                .cells
                .iter()
                .filter_map(|c| c.reached_at.map(|t| format!("{} {}", c.id, time_of_day(t))))
                .collect();
            if report.round.is_some() && !reached.is_empty() {
                let _ = writeln!(out, "    {} {}", styles.dim.apply_to("reached:"), reached.join(" · "));
            }
        }
    }
    let mut counts = format!("{}  {}  {}", pad("passed", id_w), pad("", name_w), pad("", email_w));
    for (i, w) in widths.iter().enumerate() {
        let n =
            report.accounts.iter().filter(|a| a.cells.get(i).is_some_and(|c| c.status == Mark::Pass)).count();
        counts.push_str("  ");
        counts.push_str(&pad(&n.to_string(), *w));
    }
    let _ = writeln!(out, "{}", styles.dim.apply_to(counts.trim_end()));
    let _ = writeln!(out, "{}", summary_line(report));
    out
}

/// "18/24 accounts complete; 3 incomplete; 3 errors" (`ready` in preflight mode).
pub fn summary_line(report: &Report) -> String {
    let s = report.summary();
    let word = match report.mode {
        Mode::Checkpoints => "complete",
        Mode::Preflight => "ready",
    };
    let not = match report.mode {
        Mode::Checkpoints => "incomplete",
        Mode::Preflight => "not ready",
    };
    format!(
        "{}/{} accounts {word}; {} {not}; {} error{}",
        s.complete,
        s.accounts,
        s.incomplete,
        s.errors,
        if s.errors == 1 { "" } else { "s" }
    )
}

/// The report as one JSON document: lab, mode, when it was checked (and the watch's round),
/// columns, summary, and per account its status, problem, when it was checked, and per column
/// when it was first reached and every check's outcome.
pub fn json(report: &Report) -> String {
    let value = serde_json::json!({
        "lab": report.lab,
        "mode": report.mode,
        "checked_at": report.checked_at.map(rfc3339),
        "round": report.round,
        "columns": report.columns,
        "summary": report.summary(),
        "accounts": report.accounts,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

fn status_word(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Complete => "complete",
        AccountStatus::Incomplete => "incomplete",
        AccountStatus::Error => "error",
    }
}

/// One row per account: `account_id,name,email,status,<one column per checkpoint>`, cells
/// `pass`/`fail`/`not_checkable`/`error`; then (checkpoints only) `<checkpoint>_reached_at`
/// per checkpoint, when it was first seen passed; then `checked_at`. Times are RFC 3339, UTC.
pub fn csv(report: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let reached = report.mode == Mode::Checkpoints;
    let mut header: Vec<String> = ["account_id", "name", "email", "status"].map(String::from).into();
    header.extend(report.columns.iter().map(|c| c.id.clone()));
    if reached {
        header.extend(report.columns.iter().map(|c| format!("{}_reached_at", c.id)));
    }
    header.push("checked_at".into());
    let _ = w.write_record(&header);
    for a in &report.accounts {
        let mut row = vec![
            a.student.account_id.clone(),
            a.student.name.clone(),
            a.student.email.clone(),
            status_word(a.status).to_string(),
        ];
        for i in 0..report.columns.len() {
            row.push(a.mark(i).word().to_string());
        }
        if reached {
            for i in 0..report.columns.len() {
                row.push(a.cells.get(i).and_then(|c| c.reached_at).map(rfc3339).unwrap_or_default());
            }
        }
        row.push(a.checked_at.map(rfc3339).unwrap_or_default());
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per account, one `<testcase>` per column, with `<failure>` for a
/// failed column, `<error>` for one that could not be checked (or an unreachable account) and
/// `<skipped/>` for one that is not checkable read-only.
pub fn junit(report: &Report) -> String {
    let n = report.columns.len();
    let mut suites = String::new();
    let (mut all_fail, mut all_err, mut all_skip) = (0, 0, 0);
    for a in &report.accounts {
        let s = &a.student;
        let label =
            if s.name.is_empty() { s.account_id.clone() } else { format!("{} ({})", s.account_id, s.name) };
        let mut cases = String::new();
        let (mut fail, mut err, mut skip) = (0, 0, 0);
        for (i, column) in report.columns.iter().enumerate() {
            let _ = write!(
                cases,
                "    <testcase classname=\"{}.{}\" name=\"{}\"",
                xml_escape(&report.lab),
                xml_escape(&s.account_id),
                xml_escape(&column.id)
            );
            if let Some(problem) = &a.problem {
                err += 1;
                let _ = writeln!(
                    cases,
                    ">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                    xml_escape(&problem.message),
                    xml_escape(&problem.advice)
                );
                continue;
            }
            let Some(cell) = a.cells.get(i) else {
                let _ = writeln!(cases, "/>");
                continue;
            };
            let details: Vec<String> = cell
                .checks
                .iter()
                .filter(|c| c.status != Mark::Pass)
                .map(|c| {
                    let mut line = format!("{} {}: {}", c.status.symbol(), c.description, c.evidence);
                    for d in &c.diagnostics {
                        line.push_str("\n  ");
                        line.push_str(d);
                    }
                    line
                })
                .collect();
            let first = cell.checks.iter().find(|c| c.status == cell.status);
            let message = first.map(|c| format!("{}: {}", c.description, c.evidence)).unwrap_or_default();
            match cell.status {
                Mark::Pass => {
                    let _ = writeln!(cases, "/>");
                }
                Mark::Fail | Mark::Error => {
                    let tag = if cell.status == Mark::Fail {
                        fail += 1;
                        "failure"
                    } else {
                        err += 1;
                        "error"
                    };
                    let _ = writeln!(
                        cases,
                        ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>",
                        xml_escape(&message),
                        xml_escape(&details.join("\n"))
                    );
                }
                Mark::NotCheckable => {
                    skip += 1;
                    let _ = writeln!(
                        cases,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml_escape(&message)
                    );
                }
            }
        }
        all_fail += fail;
        all_err += err;
        all_skip += skip;
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{fail}\" errors=\"{err}\" skipped=\"{skip}\">",
            xml_escape(&label)
        );
        suites.push_str(&cases);
        suites.push_str("  </testsuite>\n");
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"labrunner validate {}\" tests=\"{}\" failures=\"{all_fail}\" errors=\"{all_err}\" skipped=\"{all_skip}\">",
        xml_escape(&report.lab),
        n * report.accounts.len()
    );
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

/// `labrunner preflight`: one line per readiness check with ✓/✗, what to do under each problem,
/// and a closing verdict.
pub fn preflight_list(
    lab: &crate::lab::Lab,
    identity: &crate::aws::Identity,
    columns: &[super::Column],
    cells: &[super::Cell],
    styles: &Styles,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} in account {} ({})",
        styles.heading.apply_to("Preflight for"),
        lab.id(),
        identity.account,
        identity.region
    );
    for (column, cell) in columns.iter().zip(cells) {
        let _ = writeln!(out, "{} {}", styled(styles, cell.status), column.title);
        for check in &cell.checks {
            if cell.checks.len() > 1 || check.status != Mark::Pass {
                let _ = writeln!(out, "    {} {}", styled(styles, check.status), check.evidence);
            } else {
                let _ = writeln!(out, "    {}", styles.dim.apply_to(&check.evidence));
            }
            for d in &check.diagnostics {
                let _ = writeln!(out, "      {} {d}", styles.dim.apply_to("what to do:"));
            }
        }
    }
    let problems = cells.iter().filter(|c| matches!(c.status, Mark::Fail | Mark::Error)).count();
    if problems == 0 {
        let _ = writeln!(out, "{}", styles.ok.apply_to("Ready to start."));
    } else {
        let _ = writeln!(
            out,
            "{}",
            styles.fail.apply_to(format!(
                "Not ready: {problems} problem{} above.",
                if problems == 1 { "" } else { "s" }
            ))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{AccountReport, Cell, CheckResult, Column, Problem, ProblemKind, Student};

    fn check(status: Mark, evidence: &str) -> CheckResult {
        CheckResult {
            kind: "cluster_active".into(),
            description: "cluster c is ACTIVE".into(),
            status,
            evidence: evidence.into(),
            diagnostics: if status == Mark::Fail { vec!["create it".into()] } else { vec![] },
        }
    }

    fn student(id: &str, name: &str, email: &str) -> Student {
        Student { account_id: id.into(), name: name.into(), email: email.into(), profile: None }
    }

    fn sample() -> Report {
        let columns = vec![
            Column { id: "make-cluster".into(), title: "Make the cluster".into() },
            Column { id: "deploy".into(), title: "Deploy".into() },
        ];
        let done = AccountReport::new(
            student("111111111111", "Ann", "ann@example.com"),
            Some("arn:aws:sts::111111111111:assumed-role/R/labrunner-validate".into()),
            vec![
                Cell::of("make-cluster", vec![check(Mark::Pass, "ACTIVE")]),
                Cell::of(
                    "deploy",
                    vec![check(Mark::Pass, "ok"), check(Mark::NotCheckable, "not checkable: X")],
                ),
            ],
        );
        let half = AccountReport::new(
            student("222222222222", "Bob <b&b>", ""),
            None,
            vec![
                Cell::of("make-cluster", vec![check(Mark::Pass, "ACTIVE")]),
                Cell::of("deploy", vec![check(Mark::Fail, "service \"web\" missing")]),
            ],
        );
        let denied = AccountReport::failed(
            student("333333333333", "", ""),
            Problem {
                kind: ProblemKind::AccessDenied,
                message: "could not assume R: AccessDenied".into(),
                advice: "fix trust".into(),
            },
        );
        Report {
            lab: "demo".into(),
            mode: Mode::Checkpoints,
            columns,
            accounts: vec![done, half, denied],
            checked_at: None,
            round: None,
        }
    }

    /// The sample as a watch sees it: checked at two times, Ann's deploy reached later.
    fn stamped() -> Report {
        let at = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let mut r = sample();
        r.accounts[0].stamp(at(1_800_000_000));
        r.accounts[0].cells[1].reached_at = Some(at(1_800_000_090));
        r.accounts[1].stamp(at(1_800_000_005));
        r.accounts[2].stamp(at(1_800_000_007));
        r.checked_at = Some(at(1_800_000_100));
        r.round = Some(4);
        r
    }

    #[test]
    fn matrix_exact() {
        let got = matrix(&sample(), &Styles::new(false), 100, false);
        let want = "\
account       name       email            make-cluster  deploy
111111111111  Ann        ann@example.com  ✓             ✓
222222222222  Bob <b&b>                   ✓             ✗
333333333333                              !             !
    ! could not assume R: AccessDenied
      what to do: fix trust
passed                                    2             1
1/3 accounts complete; 1 incomplete; 1 error
";
        assert_eq!(got, want);
    }

    #[test]
    fn matrix_numbers_columns_when_narrow_and_shows_evidence_when_verbose() {
        let got = matrix(&sample(), &Styles::new(false), 40, true);
        let want = "\
columns: 1 make-cluster · 2 deploy
account       name       email            1  2
111111111111  Ann        ann@example.com  ✓  ✓
    ✓ make-cluster cluster c is ACTIVE: ACTIVE
    ✓ deploy cluster c is ACTIVE: ok
    – deploy cluster c is ACTIVE: not checkable: X
222222222222  Bob <b&b>                   ✓  ✗
    ✓ make-cluster cluster c is ACTIVE: ACTIVE
    ✗ deploy cluster c is ACTIVE: service \"web\" missing
        create it
333333333333                              !  !
    ! could not assume R: AccessDenied
      what to do: fix trust
passed                                    2  1
1/3 accounts complete; 1 incomplete; 1 error
";
        assert_eq!(got, want);
    }

    #[test]
    fn csv_exact() {
        let want = "\
account_id,name,email,status,make-cluster,deploy,make-cluster_reached_at,deploy_reached_at,checked_at
111111111111,Ann,ann@example.com,complete,pass,pass,,,
222222222222,Bob <b&b>,,incomplete,pass,fail,,,
333333333333,,,error,error,error,,,
";
        assert_eq!(csv(&sample()), want);
    }

    #[test]
    fn reached_times_in_csv_json_and_the_verbose_matrix() {
        let want = "\
account_id,name,email,status,make-cluster,deploy,make-cluster_reached_at,deploy_reached_at,checked_at
111111111111,Ann,ann@example.com,complete,pass,pass,2027-01-15T08:00:00Z,2027-01-15T08:01:30Z,2027-01-15T08:00:00Z
222222222222,Bob <b&b>,,incomplete,pass,fail,2027-01-15T08:00:05Z,,2027-01-15T08:00:05Z
333333333333,,,error,error,error,,,2027-01-15T08:00:07Z
";
        assert_eq!(csv(&stamped()), want);

        let v: serde_json::Value = serde_json::from_str(&json(&stamped())).unwrap();
        assert_eq!(v["checked_at"], "2027-01-15T08:01:40Z");
        assert_eq!(v["round"], 4);
        assert_eq!(v["accounts"][0]["checked_at"], "2027-01-15T08:00:00Z");
        assert_eq!(v["accounts"][0]["cells"][1]["reached_at"], "2027-01-15T08:01:30Z");
        assert_eq!(v["accounts"][1]["cells"][1]["reached_at"], serde_json::Value::Null);
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["round"], serde_json::Value::Null);

        let m = matrix(&stamped(), &Styles::new(false), 100, true);
        assert!(m.contains("    reached: make-cluster 08:00:00Z · deploy 08:01:30Z\n"), "{m}");
        assert!(m.contains("    reached: make-cluster 08:00:05Z\n"), "{m}");
        assert_eq!(m.matches("reached:").count(), 2, "{m}");
    }

    #[test]
    fn preflight_csv_has_no_reached_columns() {
        let mut r = stamped();
        r.mode = Mode::Preflight;
        assert!(csv(&r).starts_with("account_id,name,email,status,make-cluster,deploy,checked_at\n"));
    }

    #[test]
    fn junit_exact() {
        let want = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="labrunner validate demo" tests="6" failures="1" errors="2" skipped="0">
  <testsuite name="111111111111 (Ann)" tests="2" failures="0" errors="0" skipped="0">
    <testcase classname="demo.111111111111" name="make-cluster"/>
    <testcase classname="demo.111111111111" name="deploy"/>
  </testsuite>
  <testsuite name="222222222222 (Bob &lt;b&amp;b&gt;)" tests="2" failures="1" errors="0" skipped="0">
    <testcase classname="demo.222222222222" name="make-cluster"/>
    <testcase classname="demo.222222222222" name="deploy">
      <failure message="cluster c is ACTIVE: service &quot;web&quot; missing">✗ cluster c is ACTIVE: service &quot;web&quot; missing
  create it</failure>
    </testcase>
  </testsuite>
  <testsuite name="333333333333" tests="2" failures="0" errors="2" skipped="0">
    <testcase classname="demo.333333333333" name="make-cluster">
      <error message="could not assume R: AccessDenied">fix trust</error>
    </testcase>
    <testcase classname="demo.333333333333" name="deploy">
      <error message="could not assume R: AccessDenied">fix trust</error>
    </testcase>
  </testsuite>
</testsuites>
"#;
        assert_eq!(junit(&sample()), want);
    }

    #[test]
    fn junit_skips_not_checkable_columns() {
        let mut r = sample();
        r.accounts.truncate(1);
        r.accounts[0].cells[1] = Cell::of("deploy", vec![check(Mark::NotCheckable, "needs ALB_DNS")]);
        let xml = junit(&r);
        assert!(xml.contains("<skipped message=\"cluster c is ACTIVE: needs ALB_DNS\"/>"), "{xml}");
        assert!(xml.contains("skipped=\"1\""), "{xml}");
    }

    #[test]
    fn json_has_every_check() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["summary"]["complete"], 1);
        assert_eq!(v["accounts"][0]["account_id"], "111111111111");
        assert_eq!(v["accounts"][0]["cells"][1]["checks"][1]["status"], "not_checkable");
        assert_eq!(v["accounts"][1]["cells"][1]["status"], "fail");
        assert_eq!(v["accounts"][2]["problem"]["kind"], "access_denied");
        assert_eq!(v["columns"][0]["title"], "Make the cluster");
    }

    #[test]
    fn xml_escapes_and_drops_control_characters() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
