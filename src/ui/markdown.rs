//! Terminal Markdown rendering (being replaced by the full renderer on its branch).

/// How to render: colour or not, and the width to wrap at.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Use colour and text styles.
    pub color: bool,
    /// Wrap paragraphs at this width.
    pub width: usize,
}

/// Renders Markdown for a terminal.
pub fn render(markdown: &str, _options: RenderOptions) -> String {
    let mut text = markdown.trim().to_string();
    text.push('\n');
    text
}
