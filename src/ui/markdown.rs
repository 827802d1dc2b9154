//! Terminal Markdown renderer used by `labrunner show` and the guided runner.
//!
//! Turns a lab page (CommonMark plus GFM tables, strikethrough, task lists and
//! alerts) into text for a terminal: paragraphs wrapped by display width,
//! underlined headings, indented lists, aligned tables, set-apart code blocks
//! and block quotes. It also understands the HTML-comment markers that
//! labrunner's Hugo shortcode pre-processor leaves in the page
//! (`<!-- labrunner-callout KIND "Title" -->`, `<!-- labrunner-tabs -->`,
//! `<!-- labrunner-tab NAME -->`, their closing `<!-- /… -->` forms, and
//! `<!-- labrunner-shortcode … -->`), and hides every other comment.
//!
//! With colour off the output is plain text without escape codes; with colour
//! on, every style comes from the private [`PageTheme`] table.

use console::{Color, Style};
use pulldown_cmark::{
    Alignment, BlockQuoteKind, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd,
};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How to render: colour or not, and the width to wrap at.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Emit ANSI styles (`true`) or plain text (`false`).
    pub color: bool,
    /// Terminal width in columns to wrap prose at.
    pub width: usize,
}

/// Renders Markdown for a terminal. Never panics, whatever the input.
pub fn render(markdown: &str, options: RenderOptions) -> String {
    let source = strip_control_chars(markdown);
    let events: Vec<Event<'_>> = Parser::new_ext(&source, parser_options()).collect();
    let mut renderer = Renderer::new(options);
    for (index, event) in events.iter().enumerate() {
        let rest = events.get(index + 1..).unwrap_or_default();
        renderer.handle(event, rest);
    }
    renderer.finish()
}

/// Width of the rule drawn for `---` is at most this many columns.
const MAX_RULE_WIDTH: usize = 60;
/// Table columns are not squeezed below this width (unless naturally narrower).
const MIN_TABLE_COLUMN: usize = 6;
/// Column separator inside table rows.
const TABLE_SEPARATOR: &str = " │ ";
/// Column separator inside the table's header rule.
const TABLE_RULE_SEPARATOR: &str = "─┼─";
/// Prefix of every line inside a callout.
const CALLOUT_BAR: &str = "▌ ";
/// Prefix of every line inside a block quote.
const QUOTE_BAR: &str = "│ ";
/// Marker in front of level-3-and-deeper headings.
const MINOR_HEADING_MARKER: &str = "▸ ";
/// Bullet of unordered list items.
const BULLET: &str = "• ";
/// Nesting levels drawn (list indents, quote bars, callout bars); deeper ones share the
/// innermost levels' indentation.
const MAX_VISIBLE_DEPTH: usize = 24;

/// Indentation of a code block's language label.
const CODE_LABEL_INDENT: &str = "  ";

fn parser_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_GFM
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// Drops control characters (escape sequences included) except line breaks and tabs.
fn strip_control_chars(text: &str) -> String {
    text.chars().filter(|&c| !c.is_control() || c == '\n' || c == '\t' || c == '\r').collect()
}

// ---------------------------------------------------------------------------
// Page theme

/// Every colour and text attribute the renderer uses, built once from `color`.
struct PageTheme {
    color: bool,
    heading1: Style,
    heading2: Style,
    heading3: Style,
    table_header: Style,
    plain: Style,
    link_color: Color,
    code_color: Color,
    /// Left margin of code block lines (same width in both modes).
    code_frame_text: &'static str,
    /// Quote put around inline code (backticks when there is no colour).
    code_quote: &'static str,
    code_frame: Style,
    code_label: Style,
    quote_bar: Style,
    rule: Style,
    tab_label: Style,
    callout_note: Style,
    callout_tip: Style,
    callout_warning: Style,
    callout_danger: Style,
    callout_other: Style,
}

impl PageTheme {
    fn new(color: bool) -> Self {
        let base = || Style::new().force_styling(true);
        PageTheme {
            color,
            heading1: base().bold().cyan(),
            heading2: base().bold().cyan(),
            heading3: base().bold(),
            table_header: base().bold(),
            plain: base(),
            link_color: Color::Cyan,
            code_color: Color::Yellow,
            // Spaces only: selecting a command in the terminal must copy the command alone.
            code_frame_text: "    ",
            code_quote: if color { "" } else { "`" },
            code_frame: base().dim(),
            code_label: base().dim(),
            quote_bar: base().dim(),
            rule: base().dim(),
            tab_label: base().bold().magenta(),
            callout_note: base().blue(),
            callout_tip: base().green(),
            callout_warning: base().yellow(),
            callout_danger: base().red(),
            callout_other: base().magenta(),
        }
    }

    /// Applies `style` to `text`, or returns `text` unchanged without colour.
    fn paint(&self, style: &Style, text: &str) -> String {
        if !self.color || text.is_empty() {
            text.to_string()
        } else {
            style.apply_to(text).to_string()
        }
    }

    /// The style of inline text with `marks` inside a block whose style is `base`.
    fn inline(&self, base: &Style, marks: Marks) -> Style {
        let mut style = base.clone();
        if marks.bold {
            style = style.bold();
        }
        if marks.italic {
            style = style.italic();
        }
        if marks.strike {
            style = style.strikethrough();
        }
        if marks.code {
            style = style.fg(self.code_color);
        }
        if marks.link {
            style = style.fg(self.link_color).underlined();
        }
        if marks.dim {
            style = style.dim();
        }
        style
    }

    /// The colour of a callout with this kind (`note`, `warning`, …).
    fn callout(&self, kind: &str) -> &Style {
        match kind.to_ascii_lowercase().as_str() {
            "note" | "info" | "information" => &self.callout_note,
            "tip" | "hint" | "success" | "done" => &self.callout_tip,
            "warning" | "warn" | "caution" | "attention" => &self.callout_warning,
            "danger" | "error" | "alert" | "critical" => &self.callout_danger,
            _ => &self.callout_other,
        }
    }

    fn heading(&self, level: u8) -> &Style {
        match level {
            1 => &self.heading1,
            2 => &self.heading2,
            _ => &self.heading3,
        }
    }
}

// ---------------------------------------------------------------------------
// Inline text and word wrapping

/// Inline formatting in effect for a piece of text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Marks {
    bold: bool,
    italic: bool,
    strike: bool,
    code: bool,
    link: bool,
    dim: bool,
}

/// One run of inline content: text with its marks, or a hard line break.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text { text: String, marks: Marks },
    Break,
}

/// A run of text with uniform marks, the unit of a wrapped line.
type Fragment = (String, Marks);

/// One output line of wrapped inline content.
#[derive(Debug, Clone, Default)]
struct WrappedLine {
    fragments: Vec<Fragment>,
    width: usize,
}

impl WrappedLine {
    fn push(&mut self, text: &str, marks: Marks) {
        self.width = self.width.saturating_add(text.width());
        match self.fragments.last_mut() {
            Some((last, last_marks)) if *last_marks == marks => last.push_str(text),
            _ => self.fragments.push((text.to_string(), marks)),
        }
    }
}

/// A unit of wrapping: an unbreakable word, a breakable space, or a forced break.
enum Token {
    Word { fragments: Vec<Fragment>, width: usize },
    Space(Marks),
    Break,
}

/// Whether `c` separates words (non-breaking spaces do not).
fn is_wrap_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Splits inline pieces into words, collapsed spaces and hard breaks.
fn tokenize(pieces: &[Piece]) -> Vec<Token> {
    fn finish_word(tokens: &mut Vec<Token>, word: &mut Vec<Fragment>) {
        if !word.is_empty() {
            let fragments = std::mem::take(word);
            let width = fragments.iter().map(|(text, _)| text.width()).fold(0, usize::saturating_add);
            tokens.push(Token::Word { fragments, width });
        }
    }
    let mut tokens = Vec::new();
    let mut word: Vec<Fragment> = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Break => {
                finish_word(&mut tokens, &mut word);
                tokens.push(Token::Break);
            }
            Piece::Text { text, marks } => {
                for c in text.chars() {
                    if is_wrap_space(c) {
                        finish_word(&mut tokens, &mut word);
                        if !matches!(tokens.last(), Some(Token::Space(_))) {
                            tokens.push(Token::Space(*marks));
                        }
                    } else {
                        match word.last_mut() {
                            Some((last, last_marks)) if last_marks == marks => last.push(c),
                            _ => word.push((c.to_string(), *marks)),
                        }
                    }
                }
            }
        }
    }
    finish_word(&mut tokens, &mut word);
    tokens
}

/// Word-wraps inline pieces at `width` display columns.
///
/// Words are only broken when they are longer than a whole line. Runs of
/// spaces collapse to one; leading and trailing spaces of lines are dropped.
fn wrap_pieces(pieces: &[Piece], width: usize) -> Vec<WrappedLine> {
    let width = width.max(1);
    let mut lines = vec![WrappedLine::default()];
    let mut pending_space: Option<Marks> = None;
    for token in tokenize(pieces) {
        match token {
            Token::Break => {
                lines.push(WrappedLine::default());
                pending_space = None;
            }
            Token::Space(marks) => {
                if lines.last().is_some_and(|line| line.width > 0) {
                    pending_space = Some(marks);
                }
            }
            Token::Word { fragments, width: word_width } => {
                let current = lines.last().map_or(0, |line| line.width);
                let space_width = usize::from(pending_space.is_some());
                let needed = current.saturating_add(space_width).saturating_add(word_width);
                if current > 0 && needed > width {
                    lines.push(WrappedLine::default());
                } else if let (Some(marks), Some(line)) = (pending_space, lines.last_mut()) {
                    if line.width > 0 {
                        line.push(" ", marks);
                    }
                }
                pending_space = None;
                let current = lines.last().map_or(0, |line| line.width);
                let text: String = fragments.iter().map(|(t, _)| t.as_str()).collect();
                // A URL or an identifier is never cut: a line that overflows can still be
                // clicked or copied, a broken one cannot.
                let unbreakable = is_unbreakable(&text);
                if word_width <= width.saturating_sub(current) || unbreakable {
                    if let Some(line) = lines.last_mut() {
                        for (text, marks) in &fragments {
                            line.push(text, *marks);
                        }
                    }
                } else {
                    push_broken_word(&mut lines, &fragments, width);
                }
            }
        }
    }
    while lines.len() > 1 && lines.last().is_some_and(|line| line.width == 0) {
        lines.pop();
    }
    lines
}

/// Whether a word must stay whole even when longer than a line: URLs, ARNs, paths, ids.
fn is_unbreakable(word: &str) -> bool {
    let word = word.trim_start_matches(['(', '<', '[', '"', '\'']);
    ["http://", "https://", "arn:", "s3://", "file://", "/", "./", "~/"].iter().any(|p| word.starts_with(p))
        || (word.contains('-') && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c)))
}

/// Appends a word that is too long for a line, breaking it between characters.
fn push_broken_word(lines: &mut Vec<WrappedLine>, fragments: &[Fragment], width: usize) {
    for (text, marks) in fragments {
        for c in text.chars() {
            let c_width = char_width(c);
            let current = lines.last().map_or(0, |line| line.width);
            if current > 0 && current.saturating_add(c_width) > width {
                lines.push(WrappedLine::default());
            }
            if let Some(line) = lines.last_mut() {
                let mut buffer = [0u8; 4];
                line.push(c.encode_utf8(&mut buffer), *marks);
            }
        }
    }
}

/// The text of inline pieces without styling, hard breaks as spaces.
fn pieces_plain_text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text { text, .. } => text.as_str(),
            Piece::Break => " ",
        })
        .collect()
}

fn has_visible_text(pieces: &[Piece]) -> bool {
    pieces.iter().any(|piece| match piece {
        Piece::Text { text, .. } => text.chars().any(|c| !c.is_whitespace()),
        Piece::Break => false,
    })
}

// ---------------------------------------------------------------------------
// HTML helpers

/// Removes tags from raw HTML, decodes common entities and collapses spaces.
fn html_text_content(html: &str) -> String {
    let mut text = String::new();
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        let starts_tag = c == '<'
            && chars
                .peek()
                .is_some_and(|&next| next.is_ascii_alphabetic() || matches!(next, '/' | '!' | '?'));
        if starts_tag {
            for inside in chars.by_ref() {
                if inside == '>' {
                    break;
                }
            }
            text.push(' ');
        } else {
            text.push(c);
        }
    }
    let decoded = decode_entities(&text);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Whether an inline HTML tag is a line break (`<br>`, `<br/>`, `<br />`).
fn is_line_break_tag(html: &str) -> bool {
    let inner = html.trim().trim_start_matches('<').trim_end_matches('>').trim_end_matches('/').trim();
    inner.eq_ignore_ascii_case("br")
}

/// A labrunner marker found in an HTML comment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    CalloutOpen {
        kind: String,
        title: Option<String>,
    },
    CalloutClose,
    TabsOpen,
    TabsClose,
    TabOpen(String),
    TabClose,
    /// Any other comment (metadata, unknown shortcodes): shows nothing.
    Hidden,
}

/// Interprets the body of an HTML comment (the text between `<!--` and `-->`).
fn parse_marker(comment: &str) -> Marker {
    let body = comment.trim();
    let (word, rest) = match body.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (body, ""),
    };
    match word {
        "labrunner-callout" => {
            let (kind, title) = match rest.split_once(char::is_whitespace) {
                Some((kind, title)) => (kind, unquote(title)),
                None => (rest, String::new()),
            };
            let kind = if kind.is_empty() { "note" } else { kind };
            Marker::CalloutOpen { kind: unquote(kind), title: (!title.is_empty()).then_some(title) }
        }
        "/labrunner-callout" => Marker::CalloutClose,
        "labrunner-tabs" => Marker::TabsOpen,
        "/labrunner-tabs" => Marker::TabsClose,
        "labrunner-tab" => {
            let name = rest.strip_prefix("name=").unwrap_or(rest);
            Marker::TabOpen(unquote(name))
        }
        "/labrunner-tab" => Marker::TabClose,
        _ => Marker::Hidden,
    }
}

/// Strips one pair of surrounding double or single quotes, and outer spaces.
fn unquote(text: &str) -> String {
    let text = text.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|rest| rest.strip_suffix(quote)) {
            return inner.trim().to_string();
        }
    }
    text.to_string()
}

/// `warning` → `Warning`.
fn capitalize(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------
// Containers: things that prefix the lines inside them

/// What a container on the stack is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ContainerKind {
    BlockQuote,
    /// A GFM alert (`> [!NOTE]`), drawn like a callout.
    Alert,
    List {
        next_number: Option<u64>,
        number_width: usize,
        loose: bool,
    },
    Item,
    /// `<!-- labrunner-callout -->`.
    Callout,
    /// `<!-- labrunner-tabs -->`.
    Tabs,
    /// `<!-- labrunner-tab NAME -->`.
    Tab,
}

impl ContainerKind {
    /// Whether the container comes from a labrunner comment marker (not Markdown).
    fn is_marker(&self) -> bool {
        matches!(self, ContainerKind::Callout | ContainerKind::Tabs | ContainerKind::Tab)
    }
}

/// The style of a container's line prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrefixStyle {
    None,
    Quote,
    Callout(String),
}

/// A block that contains other blocks and prefixes their lines.
#[derive(Debug, Clone)]
struct Container {
    kind: ContainerKind,
    /// Prefix of the first line emitted inside (e.g. a list bullet).
    first_prefix: String,
    /// Prefix of all later lines.
    rest_prefix: String,
    style: PrefixStyle,
    first_used: bool,
}

impl Container {
    fn new(kind: ContainerKind) -> Self {
        Container {
            kind,
            first_prefix: String::new(),
            rest_prefix: String::new(),
            style: PrefixStyle::None,
            first_used: false,
        }
    }

    fn with_prefix(mut self, first: String, rest: String, style: PrefixStyle) -> Self {
        self.first_prefix = first;
        self.rest_prefix = rest;
        self.style = style;
        self
    }
}

// ---------------------------------------------------------------------------
// The renderer

/// The kind of block whose inline content is being collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InlineBlock {
    Paragraph,
    Heading(u8),
}

/// A fenced or indented code block being collected.
struct CodeState {
    language: String,
    text: String,
}

/// A table being collected.
struct TableState {
    alignments: Vec<Alignment>,
    header: Vec<Vec<Piece>>,
    rows: Vec<Vec<Vec<Piece>>>,
    row: Vec<Vec<Piece>>,
}

/// Event-driven renderer state.
struct Renderer {
    styles: PageTheme,
    width: usize,
    lines: Vec<String>,
    containers: Vec<Container>,
    /// A blank line is owed before the next line (blocks are separated by one).
    pending_blank: bool,
    inline: Vec<Piece>,
    block: InlineBlock,
    marks: MarkDepths,
    links: Vec<(usize, String)>,
    /// Open images: where their alt text starts, their path, whether they began a line.
    images: Vec<(usize, String, bool)>,
    /// The last inline piece closed an image that stood at the start of its line: a soft
    /// break after it ends the line, so the image stands on a line of its own.
    after_line_image: bool,
    /// The previous event was a soft break (this one starts a source line).
    soft_break_last: bool,
    soft_break_pending: bool,
    code: Option<CodeState>,
    html: Option<String>,
    table: Option<TableState>,
}

/// How deeply nested each inline formatting currently is.
#[derive(Default)]
struct MarkDepths {
    emphasis: usize,
    strong: usize,
    strike: usize,
    link: usize,
}

impl MarkDepths {
    fn current(&self) -> Marks {
        Marks {
            bold: self.strong > 0,
            italic: self.emphasis > 0,
            strike: self.strike > 0,
            link: self.link > 0,
            ..Marks::default()
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Counts the items of the list whose events follow `Start(List)`.
fn count_list_items(rest: &[Event<'_>]) -> u64 {
    let mut depth = 0usize;
    let mut count = 0u64;
    for event in rest {
        match event {
            Event::Start(Tag::List(_)) => depth += 1,
            Event::End(TagEnd::List(_)) => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            Event::Start(Tag::Item) if depth == 0 => count = count.saturating_add(1),
            _ => {}
        }
    }
    count
}

fn alert_kind_name(kind: BlockQuoteKind) -> &'static str {
    match kind {
        BlockQuoteKind::Note => "note",
        BlockQuoteKind::Tip => "tip",
        BlockQuoteKind::Important => "important",
        BlockQuoteKind::Warning => "warning",
        BlockQuoteKind::Caution => "caution",
    }
}

/// The label shown above a code block: the info string's first word, and whether labrunner
/// only shows it (`{labrunner=show}`), so a block that runs never looks like one that does not.
fn code_language(info: &str) -> String {
    let language = info
        .split(|c: char| c.is_whitespace() || c == '{' || c == ',')
        .next()
        .unwrap_or_default()
        .to_string();
    let shown = info.replace(['"', '\''], "").contains("labrunner=show");
    match (language.is_empty(), shown) {
        (_, false) => language,
        (true, true) => "shown only, not run".into(),
        (false, true) => format!("{language} · shown only, not run"),
    }
}

impl Renderer {
    fn new(options: RenderOptions) -> Self {
        Renderer {
            styles: PageTheme::new(options.color),
            width: options.width.max(1),
            lines: Vec::new(),
            containers: Vec::new(),
            pending_blank: false,
            inline: Vec::new(),
            block: InlineBlock::Paragraph,
            marks: MarkDepths::default(),
            links: Vec::new(),
            images: Vec::new(),
            after_line_image: false,
            soft_break_last: false,
            soft_break_pending: false,
            code: None,
            html: None,
            table: None,
        }
    }

    fn finish(mut self) -> String {
        self.flush_inline();
        if let Some(html) = self.html.take() {
            self.render_html(&html);
        }
        let start = self.lines.iter().position(|line| !line.trim().is_empty()).unwrap_or(self.lines.len());
        let end =
            self.lines.iter().rposition(|line| !line.trim().is_empty()).map_or(start, |index| index + 1);
        let kept = self.lines.get(start..end).unwrap_or_default();
        if kept.is_empty() {
            String::new()
        } else {
            let mut output = kept.join("\n");
            output.push('\n');
            output
        }
    }

    fn handle(&mut self, event: &Event<'_>, rest: &[Event<'_>]) {
        // Line-start bookkeeping for figures lasts exactly one event.
        let after_image = std::mem::take(&mut self.after_line_image);
        self.soft_break_last = std::mem::take(&mut self.soft_break_pending);
        match event {
            Event::Start(tag) => self.start(tag, rest),
            Event::End(tag) => self.end(*tag),
            Event::Text(text) => self.text(text),
            Event::Code(code) | Event::InlineMath(code) | Event::DisplayMath(code) => self.inline_code(code),
            Event::Html(html) => match self.html.as_mut() {
                Some(buffer) => buffer.push_str(html),
                None => self.render_html(html),
            },
            Event::InlineHtml(html) => self.inline_html(html),
            Event::FootnoteReference(name) => self.push_text(format!("[{name}]")),
            Event::SoftBreak if after_image => self.inline.push(Piece::Break),
            Event::SoftBreak => {
                self.push_text(" ".to_string());
                self.soft_break_pending = true;
            }
            Event::HardBreak => self.inline.push(Piece::Break),
            Event::Rule => self.rule(),
            Event::TaskListMarker(checked) => {
                let marker = if *checked { "[x] " } else { "[ ] " };
                self.push_text(marker.to_string());
            }
        }
    }

    fn start(&mut self, tag: &Tag<'_>, rest: &[Event<'_>]) {
        match tag {
            Tag::Paragraph => {
                self.mark_parent_list_loose();
                self.begin_block();
                self.block = InlineBlock::Paragraph;
            }
            Tag::Heading { level, .. } => {
                self.begin_block();
                self.block = InlineBlock::Heading(heading_level(*level));
            }
            Tag::BlockQuote(kind) => {
                self.begin_block();
                self.emit_pending_blank();
                match kind {
                    Some(kind) => self.open_callout(ContainerKind::Alert, alert_kind_name(*kind), None),
                    None => {
                        let bar = QUOTE_BAR.to_string();
                        self.containers.push(Container::new(ContainerKind::BlockQuote).with_prefix(
                            bar.clone(),
                            bar,
                            PrefixStyle::Quote,
                        ));
                    }
                }
            }
            Tag::CodeBlock(kind) => {
                self.begin_block();
                let language = match kind {
                    CodeBlockKind::Fenced(info) => code_language(info),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some(CodeState { language, text: String::new() });
            }
            Tag::HtmlBlock => {
                self.flush_inline();
                self.html = Some(String::new());
            }
            Tag::List(start) => {
                self.begin_block();
                let count = count_list_items(rest);
                let number_width =
                    start.map_or(0, |first| first.saturating_add(count.saturating_sub(1)).to_string().len());
                self.containers.push(Container::new(ContainerKind::List {
                    next_number: *start,
                    number_width,
                    loose: false,
                }));
            }
            Tag::Item => self.start_item(),
            Tag::Table(alignments) => {
                self.begin_block();
                self.table = Some(TableState {
                    alignments: alignments.clone(),
                    header: Vec::new(),
                    rows: Vec::new(),
                    row: Vec::new(),
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = self.table.as_mut() {
                    table.row.clear();
                }
            }
            Tag::TableCell => self.inline.clear(),
            Tag::Emphasis => self.marks.emphasis += 1,
            Tag::Strong => self.marks.strong += 1,
            Tag::Strikethrough => self.marks.strike += 1,
            Tag::Link { dest_url, .. } => {
                self.links.push((self.inline.len(), dest_url.to_string()));
                self.marks.link += 1;
            }
            Tag::Image { dest_url, .. } => {
                let line_start =
                    self.inline.last().is_none_or(|p| matches!(p, Piece::Break)) || self.soft_break_last;
                self.images.push((self.inline.len(), dest_url.to_string(), line_start));
            }
            Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => self.begin_block(),
            Tag::Superscript | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_) => self.flush_inline(),
            TagEnd::BlockQuote(_) => {
                self.flush_inline();
                self.pop_container(|kind| matches!(kind, ContainerKind::BlockQuote | ContainerKind::Alert));
                self.pending_blank = true;
            }
            TagEnd::CodeBlock => self.finish_code_block(),
            TagEnd::HtmlBlock => {
                if let Some(html) = self.html.take() {
                    self.render_html(&html);
                }
            }
            TagEnd::List(_) => {
                self.flush_inline();
                self.pop_container(|kind| matches!(kind, ContainerKind::List { .. }));
                self.pending_blank = true;
            }
            TagEnd::Item => {
                self.flush_inline();
                let marker_unused = self
                    .containers
                    .iter()
                    .rev()
                    .find(|container| container.kind == ContainerKind::Item)
                    .is_some_and(|item| !item.first_used);
                if marker_unused {
                    self.emit_line(String::new());
                }
                self.pop_container(|kind| *kind == ContainerKind::Item);
                self.pending_blank = true;
            }
            TagEnd::Table => self.finish_table(),
            TagEnd::TableHead => {
                if let Some(table) = self.table.as_mut() {
                    table.header = std::mem::take(&mut table.row);
                }
            }
            TagEnd::TableRow => {
                if let Some(table) = self.table.as_mut() {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                }
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.inline);
                if let Some(table) = self.table.as_mut() {
                    table.row.push(cell);
                }
            }
            TagEnd::Emphasis => self.marks.emphasis = self.marks.emphasis.saturating_sub(1),
            TagEnd::Strong => self.marks.strong = self.marks.strong.saturating_sub(1),
            TagEnd::Strikethrough => self.marks.strike = self.marks.strike.saturating_sub(1),
            TagEnd::Link => self.end_link(),
            TagEnd::Image => self.end_image(),
            TagEnd::Superscript | TagEnd::Subscript => {}
        }
    }

    // -- inline content ----------------------------------------------------

    fn push_text(&mut self, text: String) {
        let marks = self.marks.current();
        self.inline.push(Piece::Text { text, marks });
    }

    fn text(&mut self, text: &str) {
        if let Some(code) = self.code.as_mut() {
            code.text.push_str(text);
        } else {
            self.push_text(text.to_string());
        }
    }

    fn inline_code(&mut self, code: &str) {
        let marks = Marks { code: true, ..self.marks.current() };
        let quote = self.styles.code_quote;
        let text = format!("{quote}{code}{quote}");
        self.inline.push(Piece::Text { text, marks });
    }

    fn end_link(&mut self) {
        self.marks.link = self.marks.link.saturating_sub(1);
        let Some((start, url)) = self.links.pop() else {
            return;
        };
        let start = start.min(self.inline.len());
        let text = pieces_plain_text(self.inline.get(start..).unwrap_or_default());
        let text = text.trim();
        let same = text == url || url.strip_prefix("mailto:") == Some(text);
        if url.is_empty() || same {
            return;
        }
        let url_marks = Marks { dim: true, ..Marks::default() };
        if text.is_empty() {
            self.inline.truncate(start);
            let marks = Marks { link: true, ..self.marks.current() };
            self.inline.push(Piece::Text { text: url, marks });
        } else {
            self.inline.push(Piece::Text { text: " ".to_string(), marks: Marks::default() });
            self.inline.push(Piece::Text { text: format!("({url})"), marks: url_marks });
        }
    }

    fn end_image(&mut self) {
        let Some((start, path, line_start)) = self.images.pop() else {
            return;
        };
        let start = start.min(self.inline.len());
        let alt = pieces_plain_text(self.inline.get(start..).unwrap_or_default());
        let alt = alt.split_whitespace().collect::<Vec<_>>().join(" ");
        self.inline.truncate(start);
        let text = if alt.is_empty() { "[image]".to_string() } else { format!("[image: {alt}]") };
        let marks = Marks { dim: true, ..self.marks.current() };
        if line_start && self.marks.link == 0 {
            // An image on a line of its own is a figure: it keeps its line, and its path says
            // where to look at it.
            if self.inline.last().is_some_and(|p| !matches!(p, Piece::Break)) {
                if let Some(Piece::Text { text, .. }) = self.inline.last_mut() {
                    if text == " " {
                        self.inline.pop();
                    }
                }
                self.inline.push(Piece::Break);
            }
            let text = if path.is_empty() { text } else { format!("{text} ({path})") };
            self.inline.push(Piece::Text { text, marks });
            self.after_line_image = true;
        } else {
            self.inline.push(Piece::Text { text, marks });
        }
    }

    fn inline_html(&mut self, html: &str) {
        let trimmed = html.trim();
        if let Some(body) = trimmed.strip_prefix("<!--") {
            let body = body.strip_suffix("-->").unwrap_or(body);
            if self.table.is_none() {
                self.apply_marker(parse_marker(body));
            }
        } else if is_line_break_tag(trimmed) {
            self.inline.push(Piece::Break);
        }
    }

    // -- blocks --------------------------------------------------------------

    /// Finishes pending inline text and prepares for a new block.
    fn begin_block(&mut self) {
        self.flush_inline();
        // Inside a tight list item, blocks follow the item's text directly.
        let tight_item_continues = self
            .containers
            .last()
            .is_some_and(|container| container.kind == ContainerKind::Item && container.first_used)
            && !self.parent_list_is_loose();
        if tight_item_continues {
            self.pending_blank = false;
        }
    }

    fn parent_list_is_loose(&self) -> bool {
        self.containers.iter().rev().find_map(|container| match container.kind {
            ContainerKind::List { loose, .. } => Some(loose),
            _ => None,
        }) == Some(true)
    }

    /// A paragraph directly inside a list item makes the list loose.
    fn mark_parent_list_loose(&mut self) {
        let in_item = self.containers.last().is_some_and(|container| container.kind == ContainerKind::Item);
        if !in_item {
            return;
        }
        if let Some(list) = self
            .containers
            .iter_mut()
            .rev()
            .find(|container| matches!(container.kind, ContainerKind::List { .. }))
        {
            if let ContainerKind::List { loose, .. } = &mut list.kind {
                *loose = true;
            }
        }
    }

    fn start_item(&mut self) {
        self.flush_inline();
        let mut first_item = true;
        let mut loose = false;
        let mut marker = BULLET.to_string();
        if let Some(list) = self
            .containers
            .iter_mut()
            .rev()
            .find(|container| matches!(container.kind, ContainerKind::List { .. }))
        {
            first_item = !list.first_used;
            list.first_used = true;
            if let ContainerKind::List { next_number, number_width, loose: list_loose } = &mut list.kind {
                loose = *list_loose;
                if let Some(number) = next_number {
                    marker = format!("{:>width$}. ", number, width = *number_width);
                    *number = number.saturating_add(1);
                }
            }
        }
        if !first_item {
            self.pending_blank = loose;
        }
        let indent = " ".repeat(marker.width());
        self.containers.push(Container::new(ContainerKind::Item).with_prefix(
            marker,
            indent,
            PrefixStyle::None,
        ));
    }

    /// Removes the innermost container matching `is_match` and everything inside it.
    fn pop_container(&mut self, is_match: impl Fn(&ContainerKind) -> bool) {
        if let Some(index) = self.containers.iter().rposition(|container| is_match(&container.kind)) {
            self.containers.truncate(index);
        }
    }

    /// Closes the innermost marker container of `kind`, crossing only other markers.
    fn close_marker(&mut self, kind: &ContainerKind) {
        self.flush_inline();
        for index in (0..self.containers.len()).rev() {
            let Some(container) = self.containers.get(index) else {
                break;
            };
            if container.kind == *kind {
                self.containers.truncate(index);
                self.pending_blank = true;
                return;
            }
            if !container.kind.is_marker() {
                return;
            }
        }
    }

    fn apply_marker(&mut self, marker: Marker) {
        match marker {
            Marker::Hidden => {}
            Marker::CalloutOpen { kind, title } => {
                self.begin_block();
                self.open_callout(ContainerKind::Callout, &kind, title.as_deref());
            }
            Marker::CalloutClose => self.close_marker(&ContainerKind::Callout),
            Marker::TabsOpen => {
                self.begin_block();
                self.containers.push(Container::new(ContainerKind::Tabs));
            }
            Marker::TabsClose => self.close_marker(&ContainerKind::Tabs),
            Marker::TabOpen(name) => {
                let name = if name.is_empty() { "Tab".to_string() } else { name };
                if self.containers.last().is_some_and(|container| container.kind == ContainerKind::Tab) {
                    self.close_marker(&ContainerKind::Tab);
                }
                self.begin_block();
                self.containers.push(Container::new(ContainerKind::Tab));
                let label = self.styles.paint(&self.styles.tab_label, &format!("[{name}]"));
                self.emit_line(label);
            }
            Marker::TabClose => self.close_marker(&ContainerKind::Tab),
        }
    }

    /// Pushes a callout container and writes its label line.
    fn open_callout(&mut self, container: ContainerKind, kind: &str, title: Option<&str>) {
        let label = match (kind, title) {
            // An expandable section (`expand`, `<details>`): its title is the label.
            ("expand", Some(title)) => format!("▸ {title}"),
            ("expand", None) => "▸ Details".to_string(),
            (_, Some(title)) => format!("{}: {title}", capitalize(kind)),
            (_, None) => capitalize(kind),
        };
        self.emit_pending_blank();
        let bar = CALLOUT_BAR.to_string();
        self.containers.push(Container::new(container).with_prefix(
            bar.clone(),
            bar,
            PrefixStyle::Callout(kind.to_string()),
        ));
        let style = self.styles.callout(kind).clone().bold();
        let label = self.styles.paint(&style, &label);
        self.emit_line(label);
    }

    fn rule(&mut self) {
        self.begin_block();
        let width = self.available_width().min(MAX_RULE_WIDTH);
        let line = self.styles.paint(&self.styles.rule, &"─".repeat(width));
        self.emit_line(line);
        self.pending_blank = true;
    }

    fn finish_code_block(&mut self) {
        let Some(code) = self.code.take() else {
            return;
        };
        if !code.language.is_empty() {
            let label = format!("{CODE_LABEL_INDENT}{}", code.language);
            let label = self.styles.paint(&self.styles.code_label, &label);
            self.emit_line(label);
        }
        let text = code.text.replace('\t', "    ").replace('\r', "");
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let frame = self.styles.paint(&self.styles.code_frame, self.styles.code_frame_text);
        if !text.is_empty() || code.language.is_empty() {
            for line in text.split('\n') {
                if line.is_empty() {
                    self.emit_line(String::new());
                } else {
                    self.emit_line(format!("{frame}{line}"));
                }
            }
        }
        self.pending_blank = true;
    }

    fn render_html(&mut self, html: &str) {
        let mut rest = html;
        while !rest.is_empty() {
            match rest.find("<!--") {
                Some(open) => {
                    self.render_html_text(rest.get(..open).unwrap_or_default());
                    let after = rest.get(open + 4..).unwrap_or_default();
                    match after.find("-->") {
                        Some(close) => {
                            self.apply_marker(parse_marker(after.get(..close).unwrap_or_default()));
                            rest = after.get(close + 3..).unwrap_or_default();
                        }
                        // An unterminated comment hides the rest of the block.
                        None => break,
                    }
                }
                None => {
                    self.render_html_text(rest);
                    break;
                }
            }
        }
    }

    /// Renders the text content of raw HTML (without tags) as a paragraph.
    fn render_html_text(&mut self, html: &str) {
        let text = html_text_content(html);
        if text.is_empty() {
            return;
        }
        self.begin_block();
        self.block = InlineBlock::Paragraph;
        self.inline.push(Piece::Text { text, marks: Marks::default() });
        self.flush_inline();
    }

    /// Wraps and writes the collected inline content as a paragraph or heading.
    fn flush_inline(&mut self) {
        if self.table.is_some() {
            return;
        }
        let pieces = std::mem::take(&mut self.inline);
        let block = std::mem::replace(&mut self.block, InlineBlock::Paragraph);
        if !has_visible_text(&pieces) {
            return;
        }
        let available = self.available_width();
        match block {
            InlineBlock::Paragraph => {
                for line in wrap_pieces(&pieces, available) {
                    let rendered = self.render_fragments(&line.fragments, &self.styles.plain);
                    self.emit_line(rendered);
                }
            }
            InlineBlock::Heading(level) => self.emit_heading(level, pieces, available),
        }
        self.pending_blank = true;
    }

    fn emit_heading(&mut self, level: u8, mut pieces: Vec<Piece>, available: usize) {
        let style = self.styles.heading(level).clone();
        if level >= 3 {
            pieces.insert(0, Piece::Text { text: MINOR_HEADING_MARKER.to_string(), marks: Marks::default() });
        }
        let lines = wrap_pieces(&pieces, available);
        let underline_width = lines.iter().map(|line| line.width).max().unwrap_or(0).min(available);
        for line in &lines {
            let rendered = self.render_fragments(&line.fragments, &style);
            self.emit_line(rendered);
        }
        let underline = match level {
            1 => Some("═"),
            2 => Some("─"),
            _ => None,
        };
        if let Some(character) = underline {
            let rendered = self.styles.paint(&style, &character.repeat(underline_width));
            self.emit_line(rendered);
        }
    }

    fn render_fragments(&self, fragments: &[Fragment], base: &Style) -> String {
        fragments
            .iter()
            .map(|(text, marks)| {
                let style = self.styles.inline(base, *marks);
                self.styles.paint(&style, text)
            })
            .collect()
    }

    fn finish_table(&mut self) {
        let Some(table) = self.table.take() else {
            return;
        };
        self.inline.clear();
        let available = self.available_width();
        let header_style = self.styles.table_header.clone();
        let plain_style = self.styles.plain.clone();
        let columns = table
            .rows
            .iter()
            .map(Vec::len)
            .chain([table.header.len(), table.alignments.len()])
            .max()
            .unwrap_or(0);
        if columns == 0 {
            return;
        }
        let natural: Vec<usize> = (0..columns)
            .map(|column| {
                std::iter::once(&table.header)
                    .chain(table.rows.iter())
                    .filter_map(|row| row.get(column))
                    .flat_map(|cell| wrap_pieces(cell, usize::MAX))
                    .map(|line| line.width)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let separators = TABLE_SEPARATOR.width().saturating_mul(columns - 1);
        let fitted = fit_column_widths(&natural, available.saturating_sub(separators));
        // Wrapping may leave a squeezed column narrower than allowed: use what is needed.
        let widths: Vec<usize> = fitted
            .iter()
            .enumerate()
            .map(|(column, width)| {
                std::iter::once(&table.header)
                    .chain(table.rows.iter())
                    .filter_map(|row| row.get(column))
                    .flat_map(|cell| wrap_pieces(cell, *width))
                    .map(|line| line.width)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let alignments: Vec<Alignment> = (0..columns)
            .map(|column| table.alignments.get(column).copied().unwrap_or(Alignment::None))
            .collect();
        if !table.header.is_empty() {
            self.emit_table_row(&table.header, &widths, &alignments, &header_style);
            let rule =
                widths.iter().map(|width| "─".repeat(*width)).collect::<Vec<_>>().join(TABLE_RULE_SEPARATOR);
            let rule = self.styles.paint(&self.styles.rule, &rule);
            self.emit_line(rule);
        }
        for row in &table.rows {
            self.emit_table_row(row, &widths, &alignments, &plain_style);
        }
        self.pending_blank = true;
    }

    /// Writes one table row, wrapping cells to their column width.
    fn emit_table_row(
        &mut self,
        row: &[Vec<Piece>],
        widths: &[usize],
        alignments: &[Alignment],
        base: &Style,
    ) {
        let cells: Vec<Vec<WrappedLine>> = widths
            .iter()
            .enumerate()
            .map(|(column, width)| match row.get(column) {
                Some(cell) => wrap_pieces(cell, *width),
                None => Vec::new(),
            })
            .collect();
        let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let separator = self.styles.paint(&self.styles.rule, TABLE_SEPARATOR);
        for line_index in 0..height {
            let texts: Vec<(String, usize)> = widths
                .iter()
                .enumerate()
                .map(|(column, _)| match cells.get(column).and_then(|c| c.get(line_index)) {
                    Some(line) => (self.render_fragments(&line.fragments, base), line.width),
                    None => (String::new(), 0),
                })
                .collect();
            // Trailing empty cells are left out rather than padded.
            let used = texts.iter().rposition(|(text, _)| !text.is_empty()).map_or(1, |last| last + 1);
            let mut rendered = String::new();
            for (column, ((text, text_width), width)) in texts.iter().zip(widths).take(used).enumerate() {
                if column > 0 {
                    rendered.push_str(&separator);
                }
                let alignment = alignments.get(column).copied().unwrap_or(Alignment::None);
                let last = column + 1 == used;
                rendered.push_str(&pad_cell(text, *text_width, *width, alignment, last));
            }
            self.emit_line(rendered);
        }
    }

    // -- output ----------------------------------------------------------------

    /// Columns left for content after the prefixes of all open containers.
    fn available_width(&self) -> usize {
        let hidden = self.containers.len().saturating_sub(MAX_VISIBLE_DEPTH);
        let prefix: usize = self
            .containers
            .iter()
            .skip(hidden)
            .map(|container| container.rest_prefix.width().max(container.first_prefix.width()))
            .fold(0, usize::saturating_add);
        self.width.saturating_sub(prefix).max(1)
    }

    fn paint_prefix(&self, text: &str, style: &PrefixStyle) -> String {
        match style {
            PrefixStyle::None => text.to_string(),
            PrefixStyle::Quote => self.styles.paint(&self.styles.quote_bar, text),
            PrefixStyle::Callout(kind) => self.styles.paint(self.styles.callout(kind), text),
        }
    }

    /// Builds the container prefix of the next line; `blank` lines keep markers unused.
    fn line_prefix(&mut self, blank: bool) -> Vec<(String, PrefixStyle)> {
        let mut parts = Vec::new();
        // Past MAX_VISIBLE_DEPTH only the innermost containers are drawn: deeply nested input
        // (thousands of list levels) renders in linear time, not with a line per level of
        // indentation.
        let hidden = self.containers.len().saturating_sub(MAX_VISIBLE_DEPTH);
        for (depth, container) in self.containers.iter_mut().enumerate() {
            let first = !blank && !container.first_used;
            if first {
                container.first_used = true;
            }
            if depth < hidden {
                continue;
            }
            let text = if first { container.first_prefix.clone() } else { container.rest_prefix.clone() };
            if !text.is_empty() {
                parts.push((text, container.style.clone()));
            }
        }
        parts
    }

    /// Paints prefix parts, dropping trailing spaces when the line has no content.
    fn render_prefix(&self, mut parts: Vec<(String, PrefixStyle)>, content_empty: bool) -> String {
        if content_empty {
            while parts.last().is_some_and(|(text, _)| text.trim().is_empty()) {
                parts.pop();
            }
            if let Some((text, _)) = parts.last_mut() {
                *text = text.trim_end().to_string();
            }
        }
        parts.iter().map(|(text, style)| self.paint_prefix(text, style)).collect()
    }

    /// Writes the blank line owed between blocks, if any.
    fn emit_pending_blank(&mut self) {
        if self.pending_blank && !self.lines.is_empty() {
            let parts = self.line_prefix(true);
            let blank = self.render_prefix(parts, true);
            self.lines.push(blank);
        }
        self.pending_blank = false;
    }

    /// Writes one line of content under the current containers.
    fn emit_line(&mut self, content: String) {
        self.emit_pending_blank();
        let parts = self.line_prefix(false);
        let prefix = self.render_prefix(parts, content.is_empty());
        self.lines.push(prefix + &content);
    }
}

/// Shrinks the widest columns until the table fits `available` (if it can).
fn fit_column_widths(natural: &[usize], available: usize) -> Vec<usize> {
    let total =
        |cap: usize| natural.iter().map(|width| (*width).min(cap)).fold(0usize, usize::saturating_add);
    let widest = natural.iter().copied().max().unwrap_or(0);
    if total(widest) <= available {
        return natural.to_vec();
    }
    // Largest cap in [MIN_TABLE_COLUMN, widest] that fits; MIN_TABLE_COLUMN otherwise.
    let (mut low, mut high) = (MIN_TABLE_COLUMN, widest);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if total(middle) <= available {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    natural.iter().map(|width| (*width).min(low).max(1)).collect()
}

/// Pads a rendered cell to `width` columns according to its alignment.
fn pad_cell(text: &str, text_width: usize, width: usize, alignment: Alignment, last: bool) -> String {
    let free = width.saturating_sub(text_width);
    let (left, right) = match alignment {
        Alignment::Right => (free, 0),
        Alignment::Center => (free / 2, free - free / 2),
        Alignment::Left | Alignment::None => (0, free),
    };
    let right = if last { 0 } else { right };
    format!("{}{text}{}", " ".repeat(left), " ".repeat(right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain(markdown: &str, width: usize) -> String {
        render(markdown, RenderOptions { color: false, width })
    }

    fn colored(markdown: &str, width: usize) -> String {
        render(markdown, RenderOptions { color: true, width })
    }

    /// Runs `(name, markdown, width, expected plain output)` cases.
    fn check(cases: &[(&str, &str, usize, &str)]) {
        for (name, markdown, width, expected) in cases {
            let actual = plain(markdown, *width);
            assert_eq!(
                actual, *expected,
                "case `{name}`\n--- actual ---\n{actual}\n--- expected ---\n{expected}"
            );
        }
    }

    #[test]
    fn headings() {
        check(&[
            ("h1 underlined", "# Title\n\nText", 80, "Title\n═════\n\nText\n"),
            ("h2 underlined", "## Sub section", 80, "Sub section\n───────────\n"),
            ("h3 marker", "### Deeper\ntext", 80, "▸ Deeper\n\ntext\n"),
            ("h5 marker", "##### Deepest", 80, "▸ Deepest\n"),
            ("setext h1", "Title\n===", 80, "Title\n═════\n"),
            (
                "long h1 wraps, underline as wide as the text",
                "# Deploy the web application",
                12,
                "Deploy the\nweb\napplication\n═══════════\n",
            ),
            ("heading attributes hidden", "## Setup {#setup}", 80, "Setup\n─────\n"),
            ("emphasis inside heading", "# A *big* `deal`", 80, "A big `deal`\n════════════\n"),
        ]);
    }

    #[test]
    fn paragraphs_and_wrapping() {
        check(&[
            (
                "word wrap",
                "The quick brown fox jumps over the lazy dog",
                15,
                "The quick brown\nfox jumps over\nthe lazy dog\n",
            ),
            (
                "long word broken only when longer than the width",
                "a supercalifragilistic b",
                10,
                "a\nsupercalif\nragilistic\nb\n",
            ),
            ("wide characters by display width", "日本語 日本語 日本語", 13, "日本語 日本語\n日本語\n"),
            ("soft break is a space", "one\ntwo", 80, "one two\n"),
            ("hard break (spaces)", "one  \ntwo", 80, "one\ntwo\n"),
            ("hard break (backslash)", "one\\\ntwo", 80, "one\ntwo\n"),
            ("br tag is a hard break", "one<br>two", 80, "one\ntwo\n"),
            ("one blank line between blocks", "one\n\n\n\ntwo", 80, "one\n\ntwo\n"),
            ("leading and trailing blank lines trimmed", "\n\n\n# T\n\n\n", 80, "T\n═\n"),
            ("empty input", "", 80, ""),
            ("blank input", "\n  \n\n", 80, ""),
            ("tiny width still makes progress", "abc", 1, "a\nb\nc\n"),
            ("escape sequences removed", "a\u{1b}[31mred", 80, "a[31mred\n"),
        ]);
    }

    #[test]
    fn inline_formatting() {
        check(&[
            ("markers dropped in plain mode", "*it* **bold** ~~gone~~ _u_", 80, "it bold gone u\n"),
            ("inline code keeps backticks", "run `ls -l` now", 80, "run `ls -l` now\n"),
            ("link with text", "see [the docs](https://x.io/a)", 80, "see the docs (https://x.io/a)\n"),
            ("autolink", "<https://x.io>", 80, "https://x.io\n"),
            ("link text equals url", "[https://x.io](https://x.io)", 80, "https://x.io\n"),
            ("email autolink", "<me@x.io>", 80, "me@x.io\n"),
            ("image", "![VPC diagram](img/vpc.png)", 80, "[image: VPC diagram] (img/vpc.png)\n"),
            ("image without alt", "![](img/vpc.png)", 80, "[image] (img/vpc.png)\n"),
            (
                "an image on its own line keeps it",
                "Look:\n![VPC](vpc.png)\nFigure 1: the VPC",
                80,
                "Look:\n[image: VPC] (vpc.png)\nFigure 1: the VPC\n",
            ),
            ("an image inside a sentence stays inline", "See ![x](x.png) here", 80, "See [image: x] here\n"),
            (
                "a long URL is never cut",
                "Open https://console.aws.amazon.com/ecs/v2/clusters/flask-inventory-cluster now",
                30,
                "Open\nhttps://console.aws.amazon.com/ecs/v2/clusters/flask-inventory-cluster\nnow\n",
            ),
            ("linked image", "[![logo](l.png)](https://x.io)", 80, "[image: logo] (https://x.io)\n"),
            ("url wraps as one word", "a [b](https://example.com/x)", 12, "a b\n(https://example.com/x)\n"),
        ]);
    }

    #[test]
    fn lists() {
        check(&[
            ("bullets", "- one\n- two", 80, "• one\n• two\n"),
            ("ordered honours start", "3. three\n4. four", 80, "3. three\n4. four\n"),
            ("numbers right-aligned", "9. nine\n10. ten", 80, " 9. nine\n10. ten\n"),
            (
                "nested with aligned continuation lines",
                "- alpha beta gamma delta\n  - one two three four\n- last",
                16,
                "• alpha beta\n  gamma delta\n  • one two\n    three four\n• last\n",
            ),
            ("ordered inside unordered", "- a\n  1. x\n  2. y\n- b", 80, "• a\n  1. x\n  2. y\n• b\n"),
            ("loose list keeps blank lines", "- a\n\n- b", 80, "• a\n\n• b\n"),
            (
                "loose item with two paragraphs",
                "1. first\n\n   more\n2. second",
                80,
                "1. first\n\n   more\n\n2. second\n",
            ),
            ("task list", "- [x] done\n- [ ] todo", 80, "• [x] done\n• [ ] todo\n"),
            ("list separated from paragraphs", "Intro\n\n- a\n\nOutro", 80, "Intro\n\n• a\n\nOutro\n"),
            ("empty item", "- \n- b", 80, "•\n• b\n"),
            (
                "code block in item",
                "1. Run:\n\n   ```bash\n   ls\n   ```",
                80,
                "1. Run:\n\n     bash\n       ls\n",
            ),
        ]);
    }

    #[test]
    fn tables() {
        check(&[
            (
                "aligned columns with alignment",
                "| Left | Center | Right |\n|:-----|:------:|------:|\n| a | b | c |\n| longer | mid | 1234 |",
                80,
                "Left   │ Center │ Right\n───────┼────────┼──────\na      │   b    │     c\nlonger │  mid   │  1234\n",
            ),
            (
                "display width used for alignment",
                "| k | v |\n|---|---|\n| 日本 | x |\n| a | y |",
                80,
                "k    │ v\n─────┼──\n日本 │ x\na    │ y\n",
            ),
            (
                "missing cells are blank",
                "| a | b |\n|---|---|\n| 1 |\n| 2 | 3 |",
                80,
                "a │ b\n──┼──\n1\n2 │ 3\n",
            ),
            (
                "wide table wraps cells",
                "| Name | Description |\n|---|---|\n| web | The front end service of the shop |",
                30,
                "Name │ Description\n─────┼──────────────────────\nweb  │ The front end service\n     │ of the shop\n",
            ),
            (
                "inline formatting in cells",
                "| Cmd |\n|---|\n| `ls` **x** |",
                80,
                "Cmd\n──────\n`ls` x\n",
            ),
        ]);
    }

    #[test]
    fn code_blocks_quotes_rules() {
        check(&[
            (
                "fenced with language, not wrapped, tabs expanded",
                "```bash\naws ecs list-clusters --region eu-west-1\n\techo hi\n```",
                10,
                "  bash\n    aws ecs list-clusters --region eu-west-1\n        echo hi\n",
            ),
            (
                "language label takes the first word",
                "```yaml {linenos=true}\na: 1\n```",
                80,
                "  yaml\n    a: 1\n",
            ),
            ("indented code, no label", "text\n\n    x = 1\n      y", 80, "text\n\n    x = 1\n      y\n"),
            ("blank line inside code kept", "```\na\n\nb\n```", 80, "    a\n\n    b\n"),
            ("markdown inside code is literal", "```\n# not *a* heading\n```", 80, "    # not *a* heading\n"),
            ("block quote", "> quoted text\n> more", 80, "│ quoted text more\n"),
            ("quote wraps under the bar", "> aaa bbb ccc", 9, "│ aaa bbb\n│ ccc\n"),
            ("quote with two paragraphs", "> a\n>\n> b", 80, "│ a\n│\n│ b\n"),
            ("nested quote", "> a\n>> b", 80, "│ a\n│\n│ │ b\n"),
            ("rule capped at 60", "a\n\n---\n\nb", 80, &format!("a\n\n{}\n\nb\n", "─".repeat(60))),
            ("rule at narrow width", "***", 10, "──────────\n"),
        ]);
    }

    #[test]
    fn callouts_and_tabs() {
        check(&[
            (
                "note callout",
                "Before\n\n<!-- labrunner-callout note -->\nRead this first.\n<!-- /labrunner-callout -->\n\nAfter",
                80,
                "Before\n\n▌ Note\n▌ Read this first.\n\nAfter\n",
            ),
            (
                "titled warning wraps inside the bar",
                "<!-- labrunner-callout warning \"Costs\" -->\nThis lab creates billable resources.\n<!-- /labrunner-callout -->",
                20,
                "▌ Warning: Costs\n▌ This lab creates\n▌ billable\n▌ resources.\n",
            ),
            (
                "unknown kind capitalised, blocks inside",
                "<!-- labrunner-callout important -->\nOne.\n\n- a\n- b\n<!-- /labrunner-callout -->",
                80,
                "▌ Important\n▌ One.\n▌\n▌ • a\n▌ • b\n",
            ),
            (
                "callout directly after a paragraph line",
                "text\n<!-- labrunner-callout tip -->\ninside\n<!-- /labrunner-callout -->\nafter",
                80,
                "text\n\n▌ Tip\n▌ inside\n\nafter\n",
            ),
            (
                "callout marker as inline html",
                "Before <!-- labrunner-callout info --> inside",
                80,
                "Before\n\n▌ Info\n▌ inside\n",
            ),
            (
                "callout in a list item closes with the item",
                "- a\n  <!-- labrunner-callout note -->\n  b\n- c\n<!-- /labrunner-callout -->",
                80,
                "• a\n  ▌ Note\n  ▌ b\n• c\n",
            ),
            (
                "GFM alert",
                "> [!WARNING]\n> Careful now",
                80,
                "▌ Warning\n▌ Careful now\n",
            ),
            (
                "tabs",
                "<!-- labrunner-tabs -->\n<!-- labrunner-tab Linux -->\n```bash\nls\n```\n<!-- /labrunner-tab -->\n<!-- labrunner-tab \"Windows PowerShell\" -->\nUse `dir`.\n<!-- /labrunner-tab -->\n<!-- /labrunner-tabs -->\n\nDone.",
                80,
                "[Linux]\n  bash\n    ls\n\n[Windows PowerShell]\nUse `dir`.\n\nDone.\n",
            ),
            (
                "unknown shortcode renders nothing",
                "a\n\n<!-- labrunner-shortcode youtube abc -->\n\nb",
                80,
                "a\n\nb\n",
            ),
            (
                "multi-line step metadata hidden",
                "# Step\n\n<!-- labrunner:step\nid: create-cluster\n\ncheck: ecs.cluster_active\n-->\n\nCreate the cluster.",
                80,
                "Step\n════\n\nCreate the cluster.\n",
            ),
            ("other comments hidden", "a <!-- secret --> b\n\n<!-- note to self -->", 80, "a b\n"),
            ("raw html reduced to text", "<div align=\"center\">\n<b>Hi</b> &amp; bye\n</div>", 80, "Hi & bye\n"),
            ("pure tags render nothing", "a\n\n<img src=\"x.png\">\n\nb", 80, "a\n\nb\n"),
            ("unterminated comment hides the rest", "a\n\n<!-- labrunner:step\nid: x", 80, "a\n"),
        ]);
    }

    #[test]
    fn marker_parsing() {
        assert_eq!(
            parse_marker(" labrunner-callout warning \"Costs apply\" "),
            Marker::CalloutOpen { kind: "warning".into(), title: Some("Costs apply".into()) }
        );
        assert_eq!(
            parse_marker("labrunner-callout"),
            Marker::CalloutOpen { kind: "note".into(), title: None }
        );
        assert_eq!(parse_marker("labrunner-tab 'Mac OS'"), Marker::TabOpen("Mac OS".into()));
        assert_eq!(parse_marker("/labrunner-tabs"), Marker::TabsClose);
        assert_eq!(parse_marker("labrunner-shortcode x"), Marker::Hidden);
        assert_eq!(parse_marker("labrunner:step id: x"), Marker::Hidden);
    }

    #[test]
    fn colour_mode() {
        let page = "# Title\n\n*it* **b** `code` [l](https://x.io)\n\n```sh\nls\n```\n\n<!-- labrunner-callout warning -->\nHot\n<!-- /labrunner-callout -->\n\n<!-- labrunner-callout danger -->\nX\n<!-- /labrunner-callout -->";
        let output = colored(page, 80);
        assert!(output.contains("\u{1b}[1mTitle"), "bold heading: {output:?}");
        assert!(output.contains("\u{1b}[3mit"), "italic emphasis: {output:?}");
        assert!(output.contains("\u{1b}[4ml"), "underlined link: {output:?}");
        assert!(output.contains("\u{1b}[36m"), "cyan: {output:?}");
        assert!(!output.contains("`code`"), "no backticks in colour: {output:?}");
        assert!(output.contains("\u{1b}[33m▌"), "yellow warning bar: {output:?}");
        assert!(output.contains("\u{1b}[31m▌"), "red danger bar: {output:?}");
        assert!(output.contains("\u{1b}[2m  sh"), "dim code label: {output:?}");
        let stripped = console::strip_ansi_codes(&output);
        assert!(stripped.contains("Title\n═════"));
        assert!(stripped.contains("▌ Warning\n▌ Hot"));
        assert!(stripped.contains("\n    ls"), "no gutter to copy with the command: {stripped:?}");
    }

    #[test]
    fn plain_mode_has_no_escape_codes() {
        let page = "# T\n\n*a* **b** ~~c~~ `d` [e](f)\n\n> q\n\n<!-- labrunner-callout tip -->\nx\n<!-- /labrunner-callout -->\n\n| a |\n|---|\n| b |\n\n```rs\nfn x() {}\n```\n\n---";
        assert!(!plain(page, 40).contains('\u{1b}'));
    }

    #[test]
    fn column_fitting() {
        assert_eq!(fit_column_widths(&[3, 4], 20), vec![3, 4]);
        assert_eq!(fit_column_widths(&[30, 4], 20), vec![16, 4]);
        assert_eq!(fit_column_widths(&[30, 30], 20), vec![10, 10]);
        // Cannot fit: columns stop at the minimum and the table overflows.
        assert_eq!(fit_column_widths(&[30, 30, 3], 5), vec![6, 6, 3]);
    }

    fn markdownish() -> impl Strategy<Value = String> {
        let atoms = prop::sample::select(vec![
            "[",
            "]",
            "(",
            ")",
            "*",
            "_",
            "#",
            "|",
            "-",
            "`",
            "\n",
            ">",
            "{",
            "}",
            "<",
            "!",
            " ",
            "a",
            "word ",
            "日本",
            "1. ",
            "- ",
            "```",
            "\t",
            "<!--",
            "-->",
            "\\",
            "~~",
            ":",
            "  \n",
            "<!-- labrunner-callout warning \"T\" -->\n",
            "<!-- /labrunner-callout -->\n",
            "<!-- labrunner-tabs -->\n",
            "<!-- labrunner-tab A -->\n",
            "<!-- /labrunner-tab -->\n",
            "<!-- /labrunner-tabs -->\n",
            "| a | b |\n|:-:|--:|\n",
            "> [!NOTE]\n",
            "<br>",
            "\u{1b}",
            "\r\n",
            "é\u{301}",
            "👍🏽",
        ]);
        prop::collection::vec(atoms, 0..60).prop_map(|parts| parts.concat())
    }

    fn assert_well_formed(markdown: &str) {
        for width in [1, 5, 20, 80] {
            let text = plain(markdown, width);
            assert!(!text.contains('\u{1b}'));
            assert!(text.is_empty() || (text.ends_with('\n') && !text.ends_with("\n\n")));
            assert!(!text.starts_with('\n'));
            let _ = colored(markdown, width);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics(s in ".*") {
            assert_well_formed(&s);
        }

        #[test]
        fn never_panics_on_markdown_punctuation(s in markdownish()) {
            assert_well_formed(&s);
        }

        #[test]
        fn prose_wraps_within_width(words in prop::collection::vec("[a-z]{1,12}", 1..40), width in 1usize..40) {
            let text = plain(&words.join(" "), width);
            for line in text.lines() {
                prop_assert!(line.width() <= width, "line {line:?} wider than {width}");
            }
            let rejoined: String = text.split_whitespace().collect();
            prop_assert_eq!(rejoined, words.concat());
            if words.iter().all(|word| word.len() <= width) {
                let kept: Vec<&str> = text.split_whitespace().collect();
                prop_assert_eq!(kept, words.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn deep_nesting_draws_only_the_innermost_levels() {
        let page: String = (0..2000).map(|i| format!("{}- item {i}\n", "  ".repeat(i))).collect();
        let out = render(&page, RenderOptions { color: false, width: 80 });
        assert!(out.contains("item 1999"), "every item is rendered");
        let widest = out.lines().map(|l| l.len() - l.trim_start().len()).max().unwrap_or(0);
        assert!(widest <= MAX_VISIBLE_DEPTH * 2 + 2, "indentation stops growing: {widest}");
        let quotes = format!("{}deep\n", "> ".repeat(3000));
        assert!(render(&quotes, RenderOptions { color: false, width: 80 }).contains("deep"));
    }
}
