//! Located problems in a manifest, rendered the way compilers show them: the message, the
//! place, the line with a caret under the value, and what to do about it.

use std::fmt;

use super::source::Position;

/// One problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The manifest file, as the user named it.
    pub file: String,
    pub position: Position,
    /// What is wrong, lowercase, with names in backticks.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The text of the line the problem is on.
    pub line_text: String,
    /// Columns to underline; when absent, the token at the column.
    pub width: Option<usize>,
}

impl Diagnostic {
    /// A diagnostic at `position` of `text`, which is the manifest's content.
    pub fn new(file: &str, text: &str, position: Position, message: impl Into<String>) -> Self {
        let line_text = text.lines().nth(position.line.saturating_sub(1)).unwrap_or("");
        Diagnostic {
            file: file.to_owned(),
            position,
            message: message.into(),
            hint: None,
            // A diagnostic never repeats a credential, whatever the problem it shows.
            line_text: super::rules::mask_credentials(line_text.trim_end()),
            width: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_width(mut self, width: Option<usize>) -> Self {
        self.width = width;
        self
    }

    /// How many columns the caret underlines: the value's width when known, else the token
    /// that starts at the column.
    fn caret_width(&self) -> usize {
        if let Some(width) = self.width {
            return width.max(1);
        }
        let start = self.position.column.saturating_sub(1);
        let token = self.line_text.chars().skip(start);
        let width = token.take_while(|c| !c.is_whitespace() && !",]}#".contains(*c)).count();
        width.max(1)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Position { line, column } = self.position;
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "{pad}--> {}:{line}:{column}", self.file)?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{line} | {}", self.line_text)?;
        let indent: String = self
            .line_text
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad} | {indent}{}", "^".repeat(self.caret_width()))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{pad} = hint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_place_snippet_caret_and_hint() {
        let text = "release: r1\nfiles:\n  - destination: archive\n";
        let position = Position { line: 3, column: 18 };
        let diagnostic =
            Diagnostic::new("release.yaml", text, position, "no destination `archive`")
                .with_hint("define it under `destinations`");
        let shown = diagnostic.to_string();
        let expected = "error: no destination `archive`\n --> release.yaml:3:18\n  |\n3 |   \
                        - destination: archive\n  |                  ^^^^^^^\n  = hint: define \
                        it under `destinations`";
        assert_eq!(shown, expected);
    }
}
