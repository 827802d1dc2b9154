//! A small reader of the bash that workshop pages hold: enough to find each command with its
//! words, what it assigns and exports, the output it captures (`VAR=$(...)`), its
//! here-documents and redirections, and the `for` loops and `if`s around it.
//!
//! It is not a shell. Anything it does not understand (arithmetic, `${X:-default}`, `$1`) is
//! kept as [`Part::Other`] so callers can say "cannot tell" instead of guessing. It never
//! fails and never panics: every input gives some list of commands.

/// One piece of a word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// `$NAME` or `${NAME}`.
    Var(String),
    /// `$(...)` or `` `...` ``: the command text inside.
    Subst(String),
    /// Any other expansion (`${X:-y}`, `$1`, `$?`, `$((1+1))`), as written.
    Other(String),
}

/// A shell word: its parts, and the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    /// The parts, in order.
    pub parts: Vec<Part>,
    /// The word as written (quotes included).
    pub raw: String,
}

impl Word {
    /// The text when the word has no expansions at all.
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                _ => return None,
            }
        }
        Some(out)
    }

    /// The literal text, with every expansion written back as `$NAME` or as written: for
    /// matching keywords and showing the word, never for values.
    pub fn display(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(n) => {
                    out.push('$');
                    out.push_str(n);
                }
                Part::Subst(c) => {
                    out.push_str("$(");
                    out.push_str(c);
                    out.push(')');
                }
                Part::Other(o) => out.push_str(o),
            }
        }
        out
    }

    /// The command substitution when the whole word is one (`$(...)` or `"$(...)"`).
    pub fn whole_substitution(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Subst(inner)] => Some(inner),
            _ => None,
        }
    }
}

/// `NAME=value`, `export NAME=value` or `export NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    /// The variable.
    pub name: String,
    /// The value (`None` for `export NAME`).
    pub value: Option<Word>,
    /// `export` (or `declare -x`): the value reaches later blocks.
    pub exported: bool,
}

/// A here-document fed to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HereDoc {
    /// The lines between the command and the delimiter.
    pub body: String,
    /// The delimiter was quoted (`<<'EOF'`): bash expands nothing inside.
    pub quoted: bool,
}

/// A `for NAME in WORDS` loop around a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    /// The loop variable.
    pub var: String,
    /// The values, as words.
    pub values: Vec<Word>,
}

/// A file a command writes or reads through a redirection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The file.
    pub target: Word,
    /// `>>`: appended to, not replaced.
    pub append: bool,
}

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// Line of its first word in the block (1-based).
    pub line: usize,
    /// Column of its first word (1-based, in characters).
    pub column: usize,
    /// The program and its arguments, assignments and redirections removed.
    pub words: Vec<Word>,
    /// Assignments (before the program, or the arguments of `export`).
    pub assigns: Vec<Assign>,
    /// Files written with `>`, `>>` or `&>`.
    pub writes: Vec<Redirect>,
    /// Files read with `<`.
    pub reads: Vec<Word>,
    /// Its here-document, if any.
    pub heredoc: Option<HereDoc>,
    /// The variable its standard output is assigned to (`VAR=$(this)`), and whether that
    /// assignment is exported.
    pub captured_by: Option<(String, bool)>,
    /// The `for` loops it runs in, outermost first.
    pub loops: Vec<Loop>,
    /// It runs only on a condition: inside an `if`, or after `||`.
    pub guarded: bool,
    /// It is the condition of an `if`, `while` or `until`, or the left side of `||`/`&&`.
    pub condition: bool,
    /// Its failure is tolerated: `||` follows it (`create-log-group ... || true`).
    pub tolerated: bool,
    /// The command as written, continuations joined, here-document bodies left out.
    pub text: String,
}

impl Command {
    /// The program name (`aws`, `cat`), without a leading path.
    pub fn program(&self) -> Option<String> {
        let first = self.words.first()?.display();
        Some(first.rsplit('/').next().unwrap_or(&first).to_string())
    }

    /// The arguments after the program, as displayed text.
    pub fn args(&self) -> Vec<String> {
        self.words.iter().skip(1).map(Word::display).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Word, usize, usize),
    /// `;`, `&&`, `||`, `|`, `&`, `(`, `)` and newline (`\n`).
    Op(&'static str, usize),
    /// A redirection operator: `>`, `>>`, `<`, `<<`, `<<-`, `<<<`, `>&`, `&>`.
    Redir(&'static str, usize),
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    /// Here-documents announced on the current line, read at its end.
    pending: Vec<(String, bool, bool, usize)>,
    /// Here-document bodies, by the offset of their `<<`.
    bodies: Vec<(usize, HereDoc)>,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer {
    fn new(text: &str) -> Self {
        Lexer { chars: text.chars().collect(), i: 0, pending: Vec::new(), bodies: Vec::new() }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn tokens(&mut self) -> Vec<Tok> {
        let mut out = Vec::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' => self.i += 1,
                '\\' if self.peek(1) == Some('\n') => self.i += 2,
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                '\n' => {
                    out.push(Tok::Op("\n", self.i));
                    self.i += 1;
                    self.read_heredocs();
                }
                ';' => {
                    let two = self.peek(1) == Some(';');
                    out.push(Tok::Op(";", self.i));
                    self.i += if two { 2 } else { 1 };
                }
                '&' if self.peek(1) == Some('&') => {
                    out.push(Tok::Op("&&", self.i));
                    self.i += 2;
                }
                '&' if self.peek(1) == Some('>') => {
                    let append = self.peek(2) == Some('>');
                    out.push(Tok::Redir(if append { ">>" } else { ">" }, self.i));
                    self.i += if append { 3 } else { 2 };
                }
                '&' => {
                    out.push(Tok::Op("&", self.i));
                    self.i += 1;
                }
                '|' if self.peek(1) == Some('|') => {
                    out.push(Tok::Op("||", self.i));
                    self.i += 2;
                }
                '|' => {
                    out.push(Tok::Op("|", self.i));
                    self.i += if self.peek(1) == Some('&') { 2 } else { 1 };
                }
                '(' => {
                    out.push(Tok::Op("(", self.i));
                    self.i += 1;
                }
                ')' => {
                    out.push(Tok::Op(")", self.i));
                    self.i += 1;
                }
                '>' | '<' => self.redirection(&mut out),
                _ => {
                    let start = self.i;
                    let word = self.word();
                    // `2>` and `2>&1`: a number right before a redirection is its descriptor.
                    let is_fd = !word.raw.is_empty()
                        && word.raw.chars().all(|c| c.is_ascii_digit())
                        && matches!(self.peek(0), Some('>' | '<'));
                    if self.i == start {
                        self.i += 1; // Never loop on a character no rule takes.
                    } else if !is_fd {
                        out.push(Tok::Word(word, start, self.i));
                    }
                }
            }
        }
        out
    }

    fn redirection(&mut self, out: &mut Vec<Tok>) {
        let at = self.i;
        let c = self.peek(0).unwrap_or('>');
        if c == '<' {
            if self.peek(1) == Some('<') {
                if self.peek(2) == Some('<') {
                    self.i += 3;
                    out.push(Tok::Redir("<<<", at));
                    return;
                }
                let strip = self.peek(2) == Some('-');
                self.i += if strip { 3 } else { 2 };
                while matches!(self.peek(0), Some(' ' | '\t')) {
                    self.i += 1;
                }
                let start = self.i;
                let word = self.word();
                let quoted = word.raw.contains(['\'', '"', '\\']);
                let delimiter = word.literal().unwrap_or_else(|| word.display());
                if self.i > start {
                    self.pending.push((delimiter, quoted, strip, at));
                }
                out.push(Tok::Redir(if strip { "<<-" } else { "<<" }, at));
                return;
            }
            self.i += 1;
            out.push(Tok::Redir("<", at));
            return;
        }
        if self.peek(1) == Some('&') {
            self.i += 2;
            // `>&2`: a descriptor, not a file.
            while self.peek(0).is_some_and(|c| c.is_ascii_digit() || c == '-') {
                self.i += 1;
            }
            return;
        }
        let append = self.peek(1) == Some('>');
        self.i += if append { 2 } else { 1 };
        if self.peek(0) == Some('|') {
            self.i += 1;
        }
        out.push(Tok::Redir(if append { ">>" } else { ">" }, at));
    }

    /// After a newline: the bodies of the here-documents announced on the line just ended.
    fn read_heredocs(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (delimiter, quoted, strip, at) in pending {
            let mut body = String::new();
            loop {
                if self.i >= self.chars.len() {
                    break;
                }
                let start = self.i;
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                let line: String = self.chars[start..self.i].iter().collect();
                if self.peek(0) == Some('\n') {
                    self.i += 1;
                }
                let compared = if strip { line.trim_start_matches('\t') } else { line.as_str() };
                if compared.trim_end_matches('\r') == delimiter {
                    break;
                }
                body.push_str(compared);
                body.push('\n');
            }
            self.bodies.push((at, HereDoc { body, quoted }));
        }
    }

    fn word(&mut self) -> Word {
        let start = self.i;
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, parts: &mut Vec<Part>| {
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(lit)));
            }
        };
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\\' => {
                    match self.peek(1) {
                        Some('\n') => {}
                        Some(next) => lit.push(next),
                        None => lit.push('\\'),
                    }
                    self.i += 2;
                }
                '\'' => {
                    self.i += 1;
                    while let Some(c) = self.peek(0) {
                        self.i += 1;
                        if c == '\'' {
                            break;
                        }
                        lit.push(c);
                    }
                }
                '"' => {
                    self.i += 1;
                    while let Some(c) = self.peek(0) {
                        match c {
                            '"' => {
                                self.i += 1;
                                break;
                            }
                            '\\' => {
                                match self.peek(1) {
                                    Some('\n') => {}
                                    Some(n @ ('$' | '`' | '"' | '\\')) => lit.push(n),
                                    Some(n) => {
                                        lit.push('\\');
                                        lit.push(n);
                                    }
                                    None => lit.push('\\'),
                                }
                                self.i += 2;
                            }
                            '$' => {
                                flush(&mut lit, &mut parts);
                                parts.push(self.dollar());
                            }
                            '`' => {
                                flush(&mut lit, &mut parts);
                                parts.push(self.backtick());
                            }
                            c => {
                                lit.push(c);
                                self.i += 1;
                            }
                        }
                    }
                }
                '$' => {
                    flush(&mut lit, &mut parts);
                    parts.push(self.dollar());
                }
                '`' => {
                    flush(&mut lit, &mut parts);
                    parts.push(self.backtick());
                }
                c => {
                    lit.push(c);
                    self.i += 1;
                }
            }
        }
        flush(&mut lit, &mut parts);
        // Adjacent literals (`a'b'c`) read as one.
        let mut merged: Vec<Part> = Vec::new();
        for part in parts {
            match (merged.last_mut(), part) {
                (Some(Part::Lit(prev)), Part::Lit(next)) => prev.push_str(&next),
                (_, part) => merged.push(part),
            }
        }
        let end = self.i.min(self.chars.len());
        Word { parts: merged, raw: self.chars[start.min(end)..end].iter().collect() }
    }

    /// At a `$`: a variable, a substitution or another expansion.
    fn dollar(&mut self) -> Part {
        let start = self.i;
        self.i += 1;
        match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => {
                let end = self.matching(self.i, '(', ')');
                self.i = end;
                Part::Other(self.chars[start..end].iter().collect())
            }
            Some('(') => {
                let end = self.matching(self.i, '(', ')');
                self.i = end;
                let inner_end = end.saturating_sub(1).max(start + 2);
                Part::Subst(self.chars[(start + 2).min(inner_end)..inner_end].iter().collect())
            }
            Some('{') => {
                let end = self.matching(self.i, '{', '}');
                self.i = end;
                let inner: String =
                    self.chars[(start + 2).min(end)..end.saturating_sub(1).max(start + 2)].iter().collect();
                let valid =
                    inner.chars().next().is_some_and(is_name_start) && inner.chars().all(is_name_char);
                if valid && self.chars.get(end.saturating_sub(1)) == Some(&'}') {
                    Part::Var(inner)
                } else {
                    Part::Other(self.chars[start..end].iter().collect())
                }
            }
            Some(c) if is_name_start(c) => {
                let from = self.i;
                while self.peek(0).is_some_and(is_name_char) {
                    self.i += 1;
                }
                Part::Var(self.chars[from..self.i].iter().collect())
            }
            Some(c) if c.is_ascii_digit() || "?@*#$!-".contains(c) => {
                self.i += 1;
                Part::Other(self.chars[start..self.i].iter().collect())
            }
            _ => Part::Lit("$".into()),
        }
    }

    fn backtick(&mut self) -> Part {
        let start = self.i + 1;
        self.i += 1;
        while let Some(c) = self.peek(0) {
            self.i += 1;
            if c == '\\' {
                self.i += 1;
            } else if c == '`' {
                break;
            }
        }
        let end = self.i.min(self.chars.len());
        let inner_end = if self.chars.get(end.saturating_sub(1)) == Some(&'`') { end - 1 } else { end };
        Part::Subst(self.chars[start.min(inner_end)..inner_end].iter().collect())
    }

    /// The index just past the bracket that closes the one at `open_at`, skipping quoted
    /// text; the end of the text when it never closes.
    fn matching(&self, open_at: usize, open: char, close: char) -> usize {
        let mut depth = 0usize;
        let mut i = open_at;
        while let Some(&c) = self.chars.get(i) {
            match c {
                '\\' => i += 1,
                '\'' => {
                    i += 1;
                    while self.chars.get(i).is_some_and(|&c| c != '\'') {
                        i += 1;
                    }
                }
                '"' => {
                    i += 1;
                    while let Some(&c) = self.chars.get(i) {
                        if c == '\\' {
                            i += 1;
                        } else if c == '"' {
                            break;
                        }
                        i += 1;
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.chars.len()
    }
}

/// Where each character offset stands: line and column, 1-based.
struct Positions {
    starts: Vec<usize>,
}

impl Positions {
    fn new(chars: &[char]) -> Self {
        let mut starts = vec![0];
        starts.extend(chars.iter().enumerate().filter(|(_, c)| **c == '\n').map(|(i, _)| i + 1));
        Positions { starts }
    }

    fn at(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        (line, offset - self.starts[line - 1] + 1)
    }
}

/// Keywords that start or end a compound command; the command proper follows them.
const PREFIX_KEYWORDS: &[&str] = &["then", "else", "do", "{", "!", "time"];
const CONDITION_KEYWORDS: &[&str] = &["if", "elif", "while", "until"];
const END_KEYWORDS: &[&str] = &["fi", "done", "}", "esac"];

/// Reads `code` (one shell block) into its simple commands, in the order they run.
/// Commands inside `$(...)` come before the command that uses their output.
pub fn parse(code: &str) -> Vec<Command> {
    parse_at(code, 0, 0)
}

fn parse_at(code: &str, line_offset: usize, depth: usize) -> Vec<Command> {
    let mut lexer = Lexer::new(code);
    let tokens = lexer.tokens();
    let positions = Positions::new(&lexer.chars);
    let chars = &lexer.chars;
    let bodies = std::mem::take(&mut lexer.bodies);

    let mut commands: Vec<Command> = Vec::new();
    let mut current = Command::default();
    let mut start: Option<usize> = None;
    let mut end = 0usize;
    let mut redirect: Option<&'static str> = None;
    let mut loops: Vec<Option<Loop>> = Vec::new();
    let mut pending_loop: Option<Loop> = None;
    let mut in_for_header = false;
    let mut if_depth = 0usize;
    let mut in_condition = false;
    let mut after_or = false;
    let mut in_case = false;
    let mut heredoc_at: Option<usize> = None;

    let finish = |current: &mut Command,
                  start: &mut Option<usize>,
                  end: usize,
                  heredoc_at: &mut Option<usize>,
                  commands: &mut Vec<Command>,
                  loops: &[Option<Loop>],
                  guarded: bool,
                  condition: bool,
                  tolerated: bool| {
        let Some(s) = start.take() else {
            *current = Command::default();
            *heredoc_at = None;
            return;
        };
        let mut cmd = std::mem::take(current);
        let (line, column) = positions.at(s);
        cmd.line = line + line_offset;
        cmd.column = column;
        let text: String = chars[s..end.min(chars.len()).max(s)].iter().collect();
        cmd.text = text.replace("\\\r\n", " ").replace("\\\n", " ");
        if let Some(at) = heredoc_at.take() {
            cmd.heredoc = bodies.iter().find(|(a, _)| *a == at).map(|(_, h)| h.clone());
            // The text stops before the body: keep only the command line.
            if let Some(first) = cmd.text.lines().next() {
                cmd.text = first.to_string();
            }
        }
        cmd.loops = loops.iter().flatten().cloned().collect();
        cmd.guarded = guarded;
        cmd.condition = condition;
        cmd.tolerated = tolerated;
        // Substitutions run first: `export ID=$(aws ...)` is an aws command captured by ID.
        if depth < 8 {
            for assign in &cmd.assigns {
                if let Some(inner) = assign.value.as_ref().and_then(Word::whole_substitution) {
                    let mut inner_cmds = parse_at(inner, cmd.line - 1, depth + 1);
                    if let Some(first) = inner_cmds.first_mut() {
                        first.captured_by = Some((assign.name.clone(), assign.exported));
                    }
                    for c in &mut inner_cmds {
                        c.loops = cmd.loops.clone();
                        c.guarded |= guarded;
                        c.column = cmd.column;
                    }
                    commands.extend(inner_cmds);
                }
            }
            let nested: Vec<String> = cmd
                .words
                .iter()
                .flat_map(|w| w.parts.iter())
                .chain(
                    cmd.assigns
                        .iter()
                        .filter(|a| a.value.as_ref().and_then(Word::whole_substitution).is_none())
                        .filter_map(|a| a.value.as_ref())
                        .flat_map(|w| w.parts.iter()),
                )
                .filter_map(|p| match p {
                    Part::Subst(inner) => Some(inner.clone()),
                    _ => None,
                })
                .collect();
            for inner in nested {
                let mut inner_cmds = parse_at(&inner, cmd.line - 1, depth + 1);
                for c in &mut inner_cmds {
                    c.loops = cmd.loops.clone();
                    c.guarded |= guarded;
                    c.column = cmd.column;
                }
                commands.extend(inner_cmds);
            }
        }
        if !cmd.words.is_empty() || !cmd.assigns.is_empty() || !cmd.writes.is_empty() {
            commands.push(cmd);
        }
    };

    for tok in tokens {
        match tok {
            Tok::Word(word, s, e) => {
                if in_case {
                    if word.raw == "esac" {
                        in_case = false;
                    }
                    continue;
                }
                if let Some(kind) = redirect.take() {
                    match kind {
                        ">" | ">>" => current.writes.push(Redirect { target: word, append: kind == ">>" }),
                        "<" => current.reads.push(word),
                        _ => {} // here-string or here-document delimiter: already handled
                    }
                    end = e;
                    continue;
                }
                let at_start = current.words.is_empty() && current.assigns.is_empty();
                if in_for_header {
                    // `for NAME in a b c` up to `;` or newline.
                    if let Some(l) = pending_loop.as_mut() {
                        if l.var.is_empty() {
                            l.var = word.raw.clone();
                        } else if word.raw != "in" || !l.values.is_empty() {
                            l.values.push(word);
                        }
                    }
                    continue;
                }
                if at_start && start.is_none() {
                    let raw = word.raw.as_str();
                    if raw == "for" || raw == "select" {
                        in_for_header = true;
                        pending_loop = Some(Loop { var: String::new(), values: Vec::new() });
                        continue;
                    }
                    if raw == "case" {
                        in_case = true;
                        continue;
                    }
                    if CONDITION_KEYWORDS.contains(&raw) {
                        if raw == "if" {
                            if_depth += 1;
                        }
                        if raw == "while" || raw == "until" {
                            pending_loop = None;
                            loops.push(None);
                        }
                        in_condition = true;
                        continue;
                    }
                    if raw == "do" {
                        if let Some(l) = pending_loop.take() {
                            loops.push(Some(l));
                        }
                        in_condition = false;
                        continue;
                    }
                    if raw == "then" || raw == "else" {
                        in_condition = false;
                        continue;
                    }
                    if PREFIX_KEYWORDS.contains(&raw) {
                        continue;
                    }
                    if END_KEYWORDS.contains(&raw) {
                        match raw {
                            "fi" => if_depth = if_depth.saturating_sub(1),
                            "done" => {
                                loops.pop();
                            }
                            _ => {}
                        }
                        continue;
                    }
                }
                if start.is_none() {
                    start = Some(s);
                }
                end = e;
                let program = current.words.first().map(|w| w.raw.clone());
                if current.words.is_empty() {
                    if let Some(assign) = assignment(&word, false) {
                        current.assigns.push(assign);
                        continue;
                    }
                } else if matches!(
                    program.as_deref(),
                    Some("export" | "declare" | "typeset" | "local" | "readonly")
                ) {
                    let exported = program.as_deref() == Some("export")
                        || current.words.iter().any(|w| w.raw.starts_with('-') && w.raw.contains('x'));
                    if word.raw.starts_with('-') {
                        current.words.push(word);
                        continue;
                    }
                    if let Some(assign) = assignment(&word, exported) {
                        current.assigns.push(assign);
                        continue;
                    }
                    if exported && word.raw.chars().next().is_some_and(is_name_start) {
                        current.assigns.push(Assign { name: word.raw.clone(), value: None, exported });
                        continue;
                    }
                }
                current.words.push(word);
            }
            Tok::Redir(kind, at) => {
                if in_case || in_for_header {
                    continue;
                }
                if start.is_none() {
                    start = Some(at);
                }
                if kind == "<<" || kind == "<<-" {
                    // The delimiter was read with the operator; the body comes after the line.
                    heredoc_at = Some(at);
                } else {
                    redirect = Some(kind);
                }
            }
            Tok::Op(op, _) => {
                redirect = None;
                if in_case {
                    continue;
                }
                if in_for_header && (op == ";" || op == "\n") {
                    in_for_header = false;
                    continue;
                }
                // Export-only commands: `export X` after `export`, reduce to the assignment.
                if current.words.first().is_some_and(|w| {
                    matches!(w.raw.as_str(), "export" | "declare" | "typeset" | "local" | "readonly")
                }) && !current.assigns.is_empty()
                {
                    current.words.clear();
                }
                let condition = in_condition || op == "||" || op == "&&";
                let guarded = (if_depth > 0 && !in_condition) || after_or;
                let tolerated = op == "||";
                finish(
                    &mut current,
                    &mut start,
                    end,
                    &mut heredoc_at,
                    &mut commands,
                    &loops,
                    guarded,
                    condition,
                    tolerated,
                );
                after_or = op == "||";
                if op == "\n" || op == ";" || op == "&" {
                    after_or = false;
                }
            }
        }
    }
    if current
        .words
        .first()
        .is_some_and(|w| matches!(w.raw.as_str(), "export" | "declare" | "typeset" | "local" | "readonly"))
        && !current.assigns.is_empty()
    {
        current.words.clear();
    }
    let guarded = (if_depth > 0 && !in_condition) || after_or;
    finish(
        &mut current,
        &mut start,
        end,
        &mut heredoc_at,
        &mut commands,
        &loops,
        guarded,
        in_condition,
        false,
    );
    commands
}

/// `NAME=value` (or `NAME+=value`) as an assignment.
fn assignment(word: &Word, exported: bool) -> Option<Assign> {
    let Some(Part::Lit(first)) = word.parts.first() else { return None };
    let eq = first.find('=')?;
    let name = first[..eq].trim_end_matches('+');
    if name.is_empty() || !name.chars().next().is_some_and(is_name_start) || !name.chars().all(is_name_char) {
        return None;
    }
    // The raw word must start with the name unquoted (`"A=b"` is an argument, not an assignment).
    if !word.raw.starts_with(name) {
        return None;
    }
    let mut parts = word.parts.clone();
    let rest = first[eq + 1..].to_string();
    if rest.is_empty() {
        parts.remove(0);
    } else {
        parts[0] = Part::Lit(rest);
    }
    let raw = word.raw.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
    Some(Assign { name: name.to_string(), value: Some(Word { parts, raw }), exported })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(c: &Command) -> Vec<String> {
        c.words.iter().map(Word::display).collect()
    }

    #[test]
    fn continuations_quotes_and_captures() {
        let code = "export VPC_ID=$(aws ec2 create-vpc \\\n  --cidr-block 10.0.0.0/16 \\\n  --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=demo}]' \\\n  --query Vpc.VpcId --output text)\necho \"VPC: $VPC_ID\"\n";
        let cmds = parse(code);
        assert_eq!(cmds.len(), 3, "{cmds:#?}");
        assert_eq!(cmds[0].captured_by, Some(("VPC_ID".into(), true)));
        assert_eq!(
            words(&cmds[0]),
            [
                "aws",
                "ec2",
                "create-vpc",
                "--cidr-block",
                "10.0.0.0/16",
                "--tag-specifications",
                "ResourceType=vpc,Tags=[{Key=Name,Value=demo}]",
                "--query",
                "Vpc.VpcId",
                "--output",
                "text"
            ]
        );
        assert_eq!(cmds[1].assigns[0].name, "VPC_ID");
        assert!(cmds[1].words.is_empty());
        assert_eq!(cmds[2].line, 5);
        assert_eq!(cmds[2].words[1].parts, [Part::Lit("VPC: ".into()), Part::Var("VPC_ID".into())]);
    }

    #[test]
    fn heredocs_redirections_loops_and_guards() {
        let code = "cat > td.json <<'EOF'\n{\"family\": \"web\"}\nEOF\nfor g in /a /b; do\n  aws logs create-log-group --log-group-name \"$g\" 2>/dev/null || true\ndone\nif ! aws iam get-role --role-name r >/dev/null 2>&1; then\n  aws iam create-role --role-name r\nfi\n";
        let cmds = parse(code);
        let cat = &cmds[0];
        assert_eq!(cat.writes[0].target.display(), "td.json");
        assert_eq!(cat.heredoc, Some(HereDoc { body: "{\"family\": \"web\"}\n".into(), quoted: true }));
        let create = cmds.iter().find(|c| c.args().contains(&"create-log-group".to_string())).unwrap();
        assert_eq!(create.loops.len(), 1);
        assert_eq!(create.loops[0].var, "g");
        assert_eq!(create.loops[0].values.iter().map(Word::display).collect::<Vec<_>>(), ["/a", "/b"]);
        assert_eq!(create.line, 5);
        let get = cmds.iter().find(|c| c.args().contains(&"get-role".to_string())).unwrap();
        assert!(get.condition);
        let role = cmds.iter().find(|c| c.args().contains(&"create-role".to_string())).unwrap();
        assert!(role.guarded && role.loops.is_empty());
    }

    #[test]
    fn assignments_and_exports() {
        let cmds =
            parse("export CLUSTER=orders\nREGION=$(aws configure get region)\nexport REGION\nA=1 env\n");
        assert_eq!(
            cmds[0].assigns,
            [Assign {
                name: "CLUSTER".into(),
                value: Some(Word { parts: vec![Part::Lit("orders".into())], raw: "orders".into() }),
                exported: true
            }]
        );
        assert_eq!(cmds[1].captured_by, Some(("REGION".into(), false)));
        assert_eq!(cmds[3].assigns, [Assign { name: "REGION".into(), value: None, exported: true }]);
        assert_eq!(words(&cmds[4]), ["env"]);
    }

    #[test]
    fn odd_input_never_panics() {
        for code in [
            "$(",
            "${",
            "'open",
            "\"open $(x",
            "a <<",
            "<<EOF\n",
            "for",
            "`x",
            "$((1+",
            "\\",
            ")))",
            "echo ${X:-y} $1 $? $$",
        ] {
            let _ = parse(code);
        }
        let cmds = parse("echo ${X:-y} $1");
        assert!(matches!(cmds[0].words[1].parts[0], Part::Other(_)));
    }
}
