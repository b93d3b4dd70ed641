//! Key templates: how a local file's relative path becomes an object key.
//!
//! A template is text with placeholders in braces. `{path}` is the file's path relative to
//! its source folder, with `/` separators; `{dir}` is that path's folder (empty at the top);
//! `{name}` is the file name, `{stem}` the name without its last extension and `{ext}` that
//! extension; `{release}` is the release id. `{{` and `}}` stand for literal braces.

use std::fmt::Write as _;

/// A parsed key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Path,
    Dir,
    Name,
    Stem,
    Ext,
    Release,
}

const FIELDS: &str = "`{path}`, `{dir}`, `{name}`, `{stem}`, `{ext}`, `{release}`";

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder `{{{0}}}` in key template")]
    Unknown(String),
    #[error("unclosed `{{` in key template")]
    Unclosed,
    #[error("lone `}}` in key template")]
    LoneClose,
}

impl TemplateError {
    pub fn hint(&self) -> String {
        match self {
            TemplateError::Unknown(_) => format!("the placeholders are {FIELDS}"),
            TemplateError::Unclosed | TemplateError::LoneClose => {
                "close each placeholder with `}`; write `{{` or `}}` for a literal brace".to_owned()
            }
        }
    }
}

impl KeyTemplate {
    /// The layout used when a manifest gives none: the relative path as it is.
    pub fn default_layout() -> KeyTemplate {
        KeyTemplate { parts: vec![Part::Field(Field::Path)] }
    }

    pub fn parse(text: &str) -> Result<KeyTemplate, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::LoneClose),
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed);
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(field(&name)?));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(KeyTemplate { parts })
    }

    /// The key for a file at `relative` (forward slashes) in release `release`.
    pub fn render(&self, relative: &str, release: &str) -> String {
        let (dir, name) = relative.rsplit_once('/').unwrap_or(("", relative));
        let (stem, ext) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, ext),
            _ => (name, ""),
        };
        let mut key = String::new();
        for part in &self.parts {
            let text = match part {
                Part::Text(text) => text.as_str(),
                Part::Field(Field::Path) => relative,
                Part::Field(Field::Dir) => dir,
                Part::Field(Field::Name) => name,
                Part::Field(Field::Stem) => stem,
                Part::Field(Field::Ext) => ext,
                Part::Field(Field::Release) => release,
            };
            let _ = write!(key, "{text}");
        }
        key
    }
}

fn field(name: &str) -> Result<Field, TemplateError> {
    Ok(match name {
        "path" => Field::Path,
        "dir" => Field::Dir,
        "name" => Field::Name,
        "stem" => Field::Stem,
        "ext" => Field::Ext,
        "release" => Field::Release,
        other => return Err(TemplateError::Unknown(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, relative: &str) -> String {
        KeyTemplate::parse(template).unwrap().render(relative, "r-7")
    }

    #[test]
    fn default_template_keeps_the_relative_path() {
        assert_eq!(render("{path}", "Cohort_12/demog/people.csv"), "Cohort_12/demog/people.csv");
    }

    #[test]
    fn fields_split_the_path() {
        let template = "{release}/{dir}/{stem}.v1.{ext}";
        assert_eq!(render(template, "a/b/people.csv"), "r-7/a/b/people.v1.csv");
        assert_eq!(render("{name}|{stem}|{ext}", ".hidden"), ".hidden|.hidden|");
        assert_eq!(render("x/{dir}", "top.csv"), "x/");
    }

    #[test]
    fn literal_braces_are_escaped_by_doubling() {
        assert_eq!(render("{{a}}/{name}", "d/f.txt"), "{a}/f.txt");
    }

    #[test]
    fn unknown_and_unbalanced_placeholders_are_refused() {
        assert_eq!(KeyTemplate::parse("{file}"), Err(TemplateError::Unknown("file".into())));
        assert_eq!(KeyTemplate::parse("a/{path"), Err(TemplateError::Unclosed));
        assert_eq!(KeyTemplate::parse("a}"), Err(TemplateError::LoneClose));
    }
}
