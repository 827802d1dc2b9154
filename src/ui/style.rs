//! Every colour and text style labrunner uses, in one place.

use console::Style;

/// The styles of one output stream; all plain when colour is off.
#[derive(Debug, Clone)]
pub struct Styles {
    /// Headings and titles.
    pub heading: Style,
    /// Passed, done, deleted.
    pub ok: Style,
    /// Failed, errors.
    pub fail: Style,
    /// Warnings, skipped, pending.
    pub warn: Style,
    /// Secondary text: evidence, hints, ids.
    pub dim: Style,
    /// Emphasis.
    pub bold: Style,
    /// Commands and code.
    pub code: Style,
}

impl Styles {
    /// Styles with colour on or off.
    pub fn new(color: bool) -> Self {
        let s = |style: Style| style.force_styling(color);
        if !color {
            let plain = Style::new().force_styling(false);
            return Styles {
                heading: plain.clone(),
                ok: plain.clone(),
                fail: plain.clone(),
                warn: plain.clone(),
                dim: plain.clone(),
                bold: plain.clone(),
                code: plain,
            };
        }
        Styles {
            heading: s(Style::new().bold().cyan()),
            ok: s(Style::new().green()),
            fail: s(Style::new().red().bold()),
            warn: s(Style::new().yellow()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
            code: s(Style::new().cyan()),
        }
    }

    /// The mark for a pass or a failure: ✓ / ✗.
    pub fn mark(&self, passed: bool) -> String {
        if passed {
            self.ok.apply_to("✓").to_string()
        } else {
            self.fail.apply_to("✗").to_string()
        }
    }
}
