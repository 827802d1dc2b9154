//! The validation report as one self-contained HTML page (`--format html`, `--output x.html`):
//! the summary, a progress bar per checkpoint, and the accounts × checkpoints matrix with
//! names and emails, sortable by any column and filterable by status or text, each cell's
//! evidence and diagnostics in a popover on demand. Inline CSS and a little inline script, no
//! network (the page's Content-Security-Policy forbids fetching anything), a print style that
//! drops the controls and appends every check that failed or could not look.
//!
//! Names, emails, evidence and every other text are untrusted: all of it goes through
//! [`escape`] into element text or quoted attributes, and the script only reads attributes and
//! moves rows; it never builds markup from data.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::{rfc3339, AccountReport, AccountStatus, Cell, CheckResult, Mark, Mode, Report};

/// Escapes text for HTML element content and double- or single-quoted attribute values;
/// drops control characters HTML does not allow (keeping tab, newline, carriage return).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The CSS class of a mark.
fn class(mark: Mark) -> &'static str {
    match mark {
        Mark::Pass => "pass",
        Mark::Fail => "fail",
        Mark::NotCheckable => "na",
        Mark::Error => "error",
    }
}

/// Words for a mark, as screen readers and the popovers say it.
fn words(mark: Mark) -> &'static str {
    match mark {
        Mark::Pass => "passed",
        Mark::Fail => "failed",
        Mark::NotCheckable => "not checkable",
        Mark::Error => "could not check",
    }
}

/// Sort rank of a mark: passed first, then not checkable, failed, could not check.
fn rank(mark: Mark) -> u8 {
    match mark {
        Mark::Pass => 0,
        Mark::NotCheckable => 1,
        Mark::Fail => 2,
        Mark::Error => 3,
    }
}

fn status_word(status: AccountStatus, mode: Mode) -> &'static str {
    match (status, mode) {
        (AccountStatus::Complete, Mode::Checkpoints) => "complete",
        (AccountStatus::Complete, Mode::Preflight) => "ready",
        (AccountStatus::Incomplete, Mode::Checkpoints) => "incomplete",
        (AccountStatus::Incomplete, Mode::Preflight) => "not ready",
        (AccountStatus::Error, _) => "error",
    }
}

fn status_class(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Complete => "complete",
        AccountStatus::Incomplete => "incomplete",
        AccountStatus::Error => "error",
    }
}

fn epoch(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn time_tag(time: SystemTime) -> String {
    let t = rfc3339(time);
    format!("<time datetime=\"{t}\">{}</time>", t.replace('T', " "))
}

fn percent(n: usize, of: usize) -> String {
    if of == 0 {
        return "0".into();
    }
    let p = (n as f64) * 100.0 / (of as f64);
    let text = format!("{p:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

const STYLE: &str = r#"
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--error:#9a6700;--error-bg:#fff8c5;--na:#6e7781;--na-bg:#f6f8fa;--line:#d0d7de;--fg:#1f2328;--muted:#59636e;--bg:#fff}
*{box-sizing:border-box}
body{margin:0;padding:1.5rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.mode{font-size:.8rem;font-weight:600;color:var(--muted);border:1px solid var(--line);border-radius:1em;padding:.1em .6em;vertical-align:middle}
.meta,.note{color:var(--muted);margin:.25rem 0}
.counts{display:flex;flex-wrap:wrap;gap:.75rem;list-style:none;padding:0;margin:1rem 0}
.counts li{border:1px solid var(--line);border-left-width:6px;border-radius:6px;padding:.4rem .9rem;min-width:8rem}
.counts b{display:block;font-size:1.4rem}
.counts .complete{border-left-color:var(--pass)}.counts .incomplete{border-left-color:var(--fail)}.counts .error{border-left-color:var(--error)}.counts .all{border-left-color:var(--na)}
.chart{display:grid;grid-template-columns:minmax(8rem,max-content) minmax(12rem,1fr) max-content;gap:.3rem .75rem;align-items:center;max-width:60rem}
.bar{display:flex;height:1rem;border-radius:3px;overflow:hidden;background:var(--na-bg);border:1px solid var(--line)}
.seg.pass{background:var(--pass)}.seg.fail{background:var(--fail)}.seg.error{background:#d4a72c}.seg.na{background:#afb8c1}
.bar-label{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
.bar-count{font-variant-numeric:tabular-nums;color:var(--muted)}
.legend{display:flex;gap:1rem;flex-wrap:wrap;color:var(--muted);font-size:.85rem;margin:.5rem 0}
.legend span::before{content:"";display:inline-block;width:.8em;height:.8em;margin-right:.3em;border-radius:2px;vertical-align:-.05em}
.legend .pass::before{background:var(--pass)}.legend .fail::before{background:var(--fail)}.legend .error::before{background:#d4a72c}.legend .na::before{background:#afb8c1}
.controls{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.5rem 0 .75rem}
.controls button{font:inherit;border:1px solid var(--line);background:var(--na-bg);border-radius:6px;padding:.25rem .7rem;cursor:pointer}
.controls button[aria-pressed=true]{background:var(--fg);color:var(--bg);border-color:var(--fg)}
.controls input{font:inherit;padding:.25rem .5rem;border:1px solid var(--line);border-radius:6px;min-width:15rem}
#shown{color:var(--muted);margin-left:.5rem}
table{border-collapse:separate;border-spacing:0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:middle}
thead th{position:sticky;top:0;background:var(--bg);z-index:2;vertical-align:bottom;border-bottom:2px solid var(--line)}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit;text-align:left}
th[aria-sort=ascending] button::after{content:" ▲";font-size:.7em}
th[aria-sort=descending] button::after{content:" ▼";font-size:.7em}
th.cp{padding:.3rem .2rem}
th.cp button{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;max-height:12rem;overflow:hidden;text-overflow:ellipsis;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-weight:500}
tr[hidden]{display:none}
tbody tr:hover td{background:#f6f8fa}
td.id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
td.email{color:var(--muted)}
td.status span{font-weight:600;border-radius:1em;padding:.05em .6em;white-space:nowrap}
td.status.complete span{color:var(--pass);background:var(--pass-bg)}
td.status.incomplete span{color:var(--fail);background:var(--fail-bg)}
td.status.error span{color:var(--error);background:var(--error-bg)}
td.cell{position:relative;text-align:center;padding:0;min-width:2.2rem}
td.cell.pass{background:var(--pass-bg)}td.cell.fail{background:var(--fail-bg)}td.cell.error{background:var(--error-bg)}td.cell.na{background:var(--na-bg)}
td.cell summary{list-style:none;cursor:pointer;padding:.3rem .5rem;font-weight:700}
td.cell summary::-webkit-details-marker{display:none}
td.cell.pass summary{color:var(--pass)}td.cell.fail summary{color:var(--fail)}td.cell.error summary{color:var(--error)}td.cell.na summary{color:var(--na)}
.pop{position:absolute;top:100%;left:0;z-index:5;width:26rem;max-width:80vw;text-align:left;font-weight:400;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:6px;box-shadow:0 8px 24px rgba(31,35,40,.18);padding:.6rem .8rem}
tr td.cell:nth-last-child(-n+3) .pop{left:auto;right:0}
.pop p{margin:.2rem 0}
.pop ul{margin:.3rem 0;padding-left:1.1rem}
.pop li{margin:.2rem 0;white-space:pre-wrap;overflow-wrap:anywhere}
.pop .diag{color:var(--muted)}
.pop .head{font-weight:600}
.m-pass{color:var(--pass)}.m-fail{color:var(--fail)}.m-error{color:var(--error)}.m-na{color:var(--na)}
.problem{color:var(--error)}
td.status details summary{cursor:pointer}
tfoot td,tfoot th{font-variant-numeric:tabular-nums;color:var(--muted);text-align:center;border-bottom:0}
tfoot th{text-align:left}
.print-only{display:none}
footer{margin-top:2rem;color:var(--muted);font-size:.85rem}
@media (prefers-color-scheme:dark){:root{--pass:#3fb950;--pass-bg:#12261e;--fail:#f85149;--fail-bg:#2d1215;--error:#d29922;--error-bg:#272115;--na:#8b949e;--na-bg:#161b22;--line:#30363d;--fg:#e6edf3;--muted:#8b949e;--bg:#0d1117}tbody tr:hover td{background:#161b22}}
@media print{
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--error:#9a6700;--error-bg:#fff8c5;--na:#6e7781;--na-bg:#f6f8fa;--line:#bbb;--fg:#000;--muted:#444;--bg:#fff}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{padding:0;font-size:10pt}
.controls,.pop,.screen-note,footer .screen{display:none}
thead th{position:static}
thead{display:table-header-group}
tr{break-inside:avoid}
.print-only{display:block}
.print-only h3{font-size:10pt;margin:.6rem 0 .2rem}
.print-only li{white-space:pre-wrap}
a{color:inherit;text-decoration:none}
}
"#;

const SCRIPT: &str = r#"
(function () {
  'use strict';
  var table = document.getElementById('accounts');
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  rows.forEach(function (r, i) { r.setAttribute('data-order', String(i)); });
  var buttons = Array.prototype.slice.call(document.querySelectorAll('[data-filter]'));
  var search = document.getElementById('search');
  var shown = document.getElementById('shown');
  var filter = 'all';
  var query = '';
  function matches(row) {
    var s = row.getAttribute('data-status');
    var byStatus = filter === 'all' || (filter === 'not-complete' ? s !== 'complete' : s === filter);
    return byStatus && (!query || row.getAttribute('data-search').indexOf(query) >= 0);
  }
  function apply() {
    var n = 0;
    rows.forEach(function (r) { var v = matches(r); r.hidden = !v; if (v) { n += 1; } });
    shown.textContent = n + ' of ' + rows.length + ' accounts shown';
    buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.getAttribute('data-filter') === filter)); });
    table.setAttribute('data-filter', filter);
  }
  buttons.forEach(function (b) {
    b.addEventListener('click', function () {
      filter = b.getAttribute('data-filter');
      if (history.replaceState) { history.replaceState(null, '', '#' + filter); }
      apply();
    });
  });
  search.addEventListener('input', function () { query = search.value.trim().toLowerCase(); apply(); });
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    var button = th.querySelector('button');
    if (!button) { return; }
    button.addEventListener('click', function () {
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      var sorted = rows.slice().sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-key') || '';
        var y = b.cells[col].getAttribute('data-key') || '';
        var c = x.localeCompare(y, undefined, { numeric: true });
        return c !== 0 ? dir * c : Number(a.getAttribute('data-order')) - Number(b.getAttribute('data-order'));
      });
      sorted.forEach(function (r) { body.appendChild(r); });
    });
  });
  document.addEventListener('toggle', function (e) {
    var d = e.target;
    if (d.tagName === 'DETAILS' && d.open) {
      document.querySelectorAll('td details[open]').forEach(function (o) { if (o !== d) { o.open = false; } });
    }
  }, true);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { document.querySelectorAll('td details[open]').forEach(function (o) { o.open = false; }); }
  });
  document.querySelectorAll('time[datetime]').forEach(function (t) {
    var d = new Date(t.getAttribute('datetime'));
    if (!isNaN(d.getTime())) { t.title = d.toLocaleString(); }
  });
  var wanted = (location.hash || '').replace('#', '');
  if (buttons.some(function (b) { return b.getAttribute('data-filter') === wanted; })) { filter = wanted; }
  apply();
  document.body.setAttribute('data-ready', 'true');
}());
"#;

/// The checks of a cell as a list, with evidence and diagnostics.
fn checks_list(out: &mut String, checks: &[CheckResult]) {
    out.push_str("<ul>");
    for c in checks {
        let _ = write!(
            out,
            "<li><span class=\"m-{}\" title=\"{}\">{}</span> <b>{}</b>: {}",
            class(c.status),
            words(c.status),
            c.status.symbol(),
            escape(&c.description),
            escape(&c.evidence)
        );
        if !c.diagnostics.is_empty() {
            out.push_str("<ul class=\"diag\">");
            for d in &c.diagnostics {
                let _ = write!(out, "<li>{}</li>", escape(d));
            }
            out.push_str("</ul>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

/// One matrix cell: the mark, and a popover with the checkpoint, when it was reached, and
/// every check (or the account's problem).
fn cell(out: &mut String, account: &AccountReport, i: usize, column: &super::Column) {
    let mark = account.mark(i);
    let found: Option<&Cell> = account.cells.get(i);
    let reached = found.and_then(|c| c.reached_at);
    let key = format!("{}:{:012}", rank(mark), reached.map_or(999_999_999_999, epoch));
    let _ = write!(
        out,
        "<td class=\"cell {}\" data-key=\"{key}\"><details><summary title=\"{}: {}\">{}</summary><div class=\"pop\"><p class=\"head\">{} · {}</p>",
        class(mark),
        escape(&column.id),
        words(mark),
        mark.symbol(),
        escape(&column.id),
        escape(&column.title),
    );
    if let Some(at) = reached {
        let _ = write!(out, "<p>First reached {}</p>", time_tag(at));
    }
    if let Some(problem) = &account.problem {
        let _ = write!(
            out,
            "<p class=\"problem\">Could not validate the account: {}</p><p>What to do: {}</p>",
            escape(&problem.message),
            escape(&problem.advice)
        );
        if found.is_some() {
            out.push_str("<p>Last seen by an earlier round:</p>");
        }
    }
    if let Some(c) = found {
        checks_list(out, &c.checks);
    }
    out.push_str("</div></details></td>");
}

/// One account's row.
fn row(out: &mut String, report: &Report, account: &AccountReport) {
    let s = &account.student;
    let search = format!("{} {} {}", s.account_id, s.name, s.email).to_lowercase();
    let status = status_class(account.status);
    let _ = write!(
        out,
        "<tr class=\"account\" data-status=\"{status}\" data-search=\"{}\"><td class=\"id\" data-key=\"{}\">{}</td><td class=\"name\" data-key=\"{}\">{}</td><td class=\"email\" data-key=\"{}\">{}</td>",
        escape(&search),
        escape(&s.account_id),
        escape(&s.account_id),
        escape(&s.name.to_lowercase()),
        escape(&s.name),
        escape(&s.email.to_lowercase()),
        escape(&s.email),
    );
    let rank = match account.status {
        AccountStatus::Complete => 0,
        AccountStatus::Incomplete => 1,
        AccountStatus::Error => 2,
    };
    let word = status_word(account.status, report.mode);
    let checked =
        account.checked_at.map(|t| format!(" title=\"checked {}\"", rfc3339(t))).unwrap_or_default();
    let _ = write!(out, "<td class=\"status {status}\" data-key=\"{rank}\"{checked}>");
    match &account.problem {
        Some(problem) => {
            let _ = write!(
                out,
                "<details><summary><span>{word}</span></summary><div class=\"pop\"><p class=\"problem\">{}</p><p>What to do: {}</p></div></details>",
                escape(&problem.message),
                escape(&problem.advice)
            );
        }
        None => {
            let _ = write!(out, "<span>{word}</span>");
        }
    }
    out.push_str("</td>");
    for (i, column) in report.columns.iter().enumerate() {
        cell(out, account, i, column);
    }
    out.push_str("</tr>\n");
}

/// Per column: how many accounts passed, failed, could not be checked, were not checkable.
fn column_counts(report: &Report, i: usize) -> [usize; 4] {
    let mut n = [0; 4];
    for a in &report.accounts {
        n[usize::from(rank(a.mark(i)))] += 1;
    }
    // rank order: pass, not checkable, fail, error
    n
}

/// The report as one self-contained HTML page.
pub fn html(report: &Report) -> String {
    let s = report.summary();
    let (done, not) = match report.mode {
        Mode::Checkpoints => ("complete", "incomplete"),
        Mode::Preflight => ("ready", "not ready"),
    };
    let what = match report.mode {
        Mode::Checkpoints => "checkpoints",
        Mode::Preflight => "readiness",
    };
    let lab = escape(&report.lab);
    let mut out = String::with_capacity(4096 + report.accounts.len() * 600 * (report.columns.len() + 1));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
<meta name=\"generator\" content=\"labrunner {}\">\n<title>{lab}: {what} of {} account{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        s.accounts,
        if s.accounts == 1 { "" } else { "s" }
    );
    // Header and summary.
    let _ = write!(out, "<header>\n<h1>{lab} <span class=\"mode\">{what}</span></h1>\n<p class=\"meta\">");
    match report.checked_at {
        Some(at) => {
            let _ = write!(out, "Checked {}", time_tag(at));
        }
        None => out.push_str("Checked"),
    }
    if let Some(round) = report.round {
        let _ = write!(out, " · watch round {round}");
    }
    let _ = writeln!(
        out,
        " · {} account{} · {} {what} · read-only (labrunner validate)</p>",
        s.accounts,
        if s.accounts == 1 { "" } else { "s" },
        report.columns.len()
    );
    let _ = writeln!(
        out,
        "<p class=\"summary\" id=\"summary\">{}</p>",
        escape(&super::report::summary_line(report))
    );
    let _ = writeln!(
        out,
        "<ul class=\"counts\"><li class=\"complete\"><b>{}</b>{done}</li><li class=\"incomplete\"><b>{}</b>{not}</li><li class=\"error\"><b>{}</b>errors</li><li class=\"all\"><b>{}</b>accounts</li></ul>\n</header>",
        s.complete, s.incomplete, s.errors, s.accounts
    );

    // Progress per column.
    let _ = writeln!(
        out,
        "<section id=\"progress\" aria-labelledby=\"progress-h\">\n<h2 id=\"progress-h\">Progress per {}</h2>\n<div class=\"legend\"><span class=\"pass\">passed</span><span class=\"fail\">failed</span><span class=\"error\">could not check</span><span class=\"na\">not checkable</span></div>\n<div class=\"chart\">",
        if report.mode == Mode::Checkpoints { "checkpoint" } else { "check" }
    );
    for (i, column) in report.columns.iter().enumerate() {
        let [pass, na, fail, error] = column_counts(report, i);
        let total = report.accounts.len();
        let _ = write!(
            out,
            "<span class=\"bar-label\" title=\"{}\">{}</span><span class=\"bar\" role=\"img\" data-column=\"{}\" data-passed=\"{pass}\" aria-label=\"{}: {pass} of {total} passed, {fail} failed, {error} could not check, {na} not checkable\">",
            escape(&column.title),
            escape(&column.id),
            escape(&column.id),
            escape(&column.id),
        );
        for (n, c) in [(pass, "pass"), (fail, "fail"), (error, "error"), (na, "na")] {
            if n > 0 {
                let _ = write!(out, "<span class=\"seg {c}\" style=\"width:{}%\"></span>", percent(n, total));
            }
        }
        let _ = writeln!(out, "</span><span class=\"bar-count\">{pass}/{total}</span>");
    }
    out.push_str("</div>\n</section>\n");

    // The matrix.
    let not_complete = s.incomplete + s.errors;
    let _ = writeln!(
        out,
        "<section id=\"matrix\" aria-labelledby=\"matrix-h\">\n<h2 id=\"matrix-h\">Accounts</h2>\n<div class=\"controls\" role=\"toolbar\" aria-label=\"Filter accounts\">\
<button type=\"button\" data-filter=\"all\" aria-pressed=\"true\">All ({})</button>\
<button type=\"button\" data-filter=\"not-complete\" aria-pressed=\"false\">Not {done} ({not_complete})</button>\
<button type=\"button\" data-filter=\"complete\" aria-pressed=\"false\">{} ({})</button>\
<button type=\"button\" data-filter=\"incomplete\" aria-pressed=\"false\">{} ({})</button>\
<button type=\"button\" data-filter=\"error\" aria-pressed=\"false\">Errors ({})</button>\
<input type=\"search\" id=\"search\" placeholder=\"Account, name or email\" aria-label=\"Filter by account, name or email\">\
<span id=\"shown\" aria-live=\"polite\">{} of {} accounts shown</span></div>",
        s.accounts,
        capitalize(done),
        s.complete,
        capitalize(not),
        s.incomplete,
        s.errors,
        s.accounts,
        s.accounts
    );
    out.push_str(
        "<p class=\"note screen-note\">Click a mark for its evidence, a column heading to sort. ✓ passed · ✗ failed · ! could not check · – not checkable read-only.</p>\n",
    );
    out.push_str("<table id=\"accounts\">\n<thead><tr><th scope=\"col\"><button type=\"button\">Account</button></th><th scope=\"col\"><button type=\"button\">Name</button></th><th scope=\"col\"><button type=\"button\">Email</button></th><th scope=\"col\"><button type=\"button\">Status</button></th>");
    for column in &report.columns {
        let _ = write!(
            out,
            "<th scope=\"col\" class=\"cp\" title=\"{}\"><button type=\"button\">{}</button></th>",
            escape(&column.title),
            escape(&column.id)
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for account in &report.accounts {
        row(&mut out, report, account);
    }
    out.push_str("</tbody>\n<tfoot><tr><th colspan=\"4\" scope=\"row\">passed</th>");
    for i in 0..report.columns.len() {
        let _ = write!(out, "<td>{}</td>", column_counts(report, i)[0]);
    }
    out.push_str("</tr></tfoot>\n</table>\n</section>\n");

    // For print: every check that failed or could not look, by account (a printed page has no
    // popovers). Checks not checkable read-only are left out: they are the same for everyone.
    out.push_str(
        "<section class=\"print-only\" id=\"not-passed\">\n<h2>Checks that failed or could not look</h2>\n",
    );
    let mut any = false;
    for account in &report.accounts {
        let st = &account.student;
        let checks: Vec<(&str, &CheckResult)> = account
            .cells
            .iter()
            .flat_map(|c| c.checks.iter().map(move |k| (c.id.as_str(), k)))
            .filter(|(_, k)| matches!(k.status, Mark::Fail | Mark::Error))
            .collect();
        if checks.is_empty() && account.problem.is_none() {
            continue;
        }
        any = true;
        let _ = write!(out, "<h3>{}", escape(&st.account_id));
        if !st.name.is_empty() {
            let _ = write!(out, " · {}", escape(&st.name));
        }
        if !st.email.is_empty() {
            let _ = write!(out, " · {}", escape(&st.email));
        }
        out.push_str("</h3>\n<ul>");
        if let Some(problem) = &account.problem {
            let _ = write!(
                out,
                "<li class=\"problem\">! {} (what to do: {})</li>",
                escape(&problem.message),
                escape(&problem.advice)
            );
        }
        for (id, k) in checks {
            let _ = write!(
                out,
                "<li>{} {} · {}: {}",
                k.status.symbol(),
                escape(id),
                escape(&k.description),
                escape(&k.evidence)
            );
            for d in &k.diagnostics {
                let _ = write!(out, "\n    {}", escape(d));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>\n");
    }
    if !any {
        out.push_str("<p>None.</p>\n");
    }
    out.push_str("</section>\n");
    let _ = write!(
        out,
        "<footer><p>Generated by labrunner {} (<code>labrunner validate</code>), which only reads the accounts. <span class=\"screen\">This page is self-contained: it loads nothing from the network.</span></p></footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::validate::{Column, Problem, ProblemKind, Student};

    fn check(status: Mark, description: &str, evidence: &str) -> CheckResult {
        CheckResult {
            kind: "cluster_active".into(),
            description: description.into(),
            status,
            evidence: evidence.into(),
            diagnostics: if status == Mark::Fail { vec!["create it <now>".into()] } else { vec![] },
        }
    }

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn report() -> Report {
        let columns = vec![
            Column { id: "cluster".into(), title: "Create the <cluster>".into() },
            Column { id: "deploy".into(), title: "Deploy".into() },
        ];
        let student = |id: &str, name: &str, email: &str| Student {
            account_id: id.into(),
            name: name.into(),
            email: email.into(),
            profile: None,
        };
        let mut ann = AccountReport::new(
            student("111111111111", "Ann", "ann@example.com"),
            None,
            vec![
                Cell::of("cluster", vec![check(Mark::Pass, "cluster c is ACTIVE", "ACTIVE")]),
                Cell::of("deploy", vec![check(Mark::Pass, "web stable", "1/1 running")]),
            ],
        );
        ann.stamp(at(0));
        ann.cells[1].reached_at = Some(at(90));
        let mut mallory = AccountReport::new(
            student("222222222222", "<script>alert('x')</script>", "\"><img src=x onerror=alert(1)>@e.com"),
            None,
            vec![
                Cell::of("cluster", vec![check(Mark::Pass, "cluster c is ACTIVE", "ACTIVE")]),
                Cell::of(
                    "deploy",
                    vec![check(
                        Mark::Fail,
                        "web stable",
                        "service \"web\" missing </td></tr><script>x</script>",
                    )],
                ),
            ],
        );
        mallory.stamp(at(5));
        let mut denied = AccountReport::failed(
            student("333333333333", "Cy", ""),
            Problem {
                kind: ProblemKind::AccessDenied,
                message: "could not assume R: AccessDenied & more".into(),
                advice: "fix the trust policy".into(),
            },
        );
        denied.stamp(at(7));
        Report {
            lab: "demo".into(),
            mode: Mode::Checkpoints,
            columns,
            accounts: vec![ann, mallory, denied],
            checked_at: Some(at(100)),
            round: Some(3),
        }
    }

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(escape("a<b>&\"c'\u{1}\u{7f}\n"), "a&lt;b&gt;&amp;&quot;c&#39;\n");
    }

    #[test]
    fn untrusted_text_never_becomes_markup() {
        let page = html(&report());
        // The only script element is ours, at the end; no student text opened a tag.
        assert_eq!(page.matches("<script").count(), 1, "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@e.com"));
        assert!(page.contains(
            "service &quot;web&quot; missing &lt;/td&gt;&lt;/tr&gt;&lt;script&gt;x&lt;/script&gt;"
        ));
        assert!(page.contains("data-search=\"222222222222 &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "));
        assert!(page.contains("Create the &lt;cluster&gt;"));
        assert!(page.contains("create it &lt;now&gt;"));
        assert!(page.contains("AccessDenied &amp; more"));
    }

    #[test]
    fn self_contained_without_network() {
        let page = html(&report());
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(page.ends_with("</html>\n"));
        assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none';"));
        for external in ["src=\"", "href=\"", "url(", "@import", "http://", "https://"] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }

    #[test]
    fn rows_cells_filters_and_counts() {
        let page = html(&report());
        assert_eq!(page.matches("<tr class=\"account\"").count(), 3);
        assert_eq!(page.matches("<td class=\"cell ").count(), 6);
        assert_eq!(page.matches("<td class=\"cell pass\"").count(), 3);
        assert_eq!(page.matches("<td class=\"cell fail\"").count(), 1);
        assert_eq!(page.matches("<td class=\"cell error\"").count(), 2);
        assert!(page.contains("data-status=\"complete\""));
        assert!(page.contains("data-status=\"incomplete\""));
        assert!(page.contains("data-status=\"error\""));
        for (filter, label) in [
            ("all", "All (3)"),
            ("not-complete", "Not complete (2)"),
            ("complete", "Complete (1)"),
            ("incomplete", "Incomplete (1)"),
            ("error", "Errors (1)"),
        ] {
            assert!(
                page.contains(&format!(
                    "data-filter=\"{filter}\" aria-pressed=\"{}\">{label}</button>",
                    filter == "all"
                )),
                "{filter}"
            );
        }
        assert!(page.contains(
            "<p class=\"summary\" id=\"summary\">1/3 accounts complete; 1 incomplete; 1 error</p>"
        ));
        assert!(page.contains("<span id=\"shown\" aria-live=\"polite\">3 of 3 accounts shown</span>"));
        assert!(page.contains(
            "<tfoot><tr><th colspan=\"4\" scope=\"row\">passed</th><td>2</td><td>1</td></tr></tfoot>"
        ));
        assert!(page.contains("· watch round 3 ·"));
    }

    #[test]
    fn a_bar_per_checkpoint_with_its_shares() {
        let page = html(&report());
        assert!(page.contains("data-column=\"cluster\" data-passed=\"2\" aria-label=\"cluster: 2 of 3 passed, 0 failed, 1 could not check, 0 not checkable\"><span class=\"seg pass\" style=\"width:66.667%\"></span><span class=\"seg error\" style=\"width:33.333%\"></span></span><span class=\"bar-count\">2/3</span>"), "{page}");
        assert!(page.contains("data-column=\"deploy\" data-passed=\"1\""));
    }

    #[test]
    fn cells_carry_evidence_reached_times_and_sort_keys() {
        let page = html(&report());
        // Ann reached deploy 90 s after the start: first in the sort key, shown in the popover.
        assert!(page.contains("<td class=\"cell pass\" data-key=\"0:001800000090\"><details><summary title=\"deploy: passed\">✓</summary><div class=\"pop\"><p class=\"head\">deploy · Deploy</p><p>First reached <time datetime=\"2027-01-15T08:01:30Z\">2027-01-15 08:01:30Z</time></p><ul><li><span class=\"m-pass\" title=\"passed\">✓</span> <b>web stable</b>: 1/1 running</li></ul>"), "{page}");
        // A failed cell sorts after passed ones and lists its diagnostics.
        assert!(page.contains("<td class=\"cell fail\" data-key=\"2:999999999999\">"));
        assert!(page.contains("<ul class=\"diag\"><li>create it &lt;now&gt;</li></ul>"));
        // An account that could not be reached says why, in its status and in every cell.
        assert_eq!(page.matches("Could not validate the account: could not assume R").count(), 2);
        assert!(page.contains("<td class=\"status error\" data-key=\"2\" title=\"checked 2027-01-15T08:00:07Z\"><details><summary><span>error</span></summary>"));
        // The print appendix lists what failed or could not look, and only the accounts with some.
        assert!(page.contains("<section class=\"print-only\" id=\"not-passed\">"));
        assert!(page.contains("<li>✗ deploy · web stable: service &quot;web&quot; missing"));
        assert!(page.contains("<h3>333333333333 · Cy</h3>"));
        assert!(!page.contains("<h3>111111111111"));
    }

    #[test]
    fn an_empty_report_is_a_page_too() {
        let r = Report {
            lab: "demo".into(),
            mode: Mode::Preflight,
            columns: vec![],
            accounts: vec![],
            checked_at: None,
            round: None,
        };
        let page = html(&r);
        assert!(page.contains("<h2>Checks that failed or could not look</h2>\n<p>None.</p>"));
        assert!(page.contains("0 of 0 accounts shown"));
        assert!(page.contains("<span class=\"mode\">readiness</span>"));
    }
}
