//! Where each value of a manifest stands in its file.
//!
//! Deserialising gives the manifest's values; this map gives their places, so that checks
//! made after deserialising (an undefined destination, a bad bucket name) can still point at
//! a line and column. Paths are written the way diagnostics show them: `files[2].destination`.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, Span};

/// A one-based line and column in the manifest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    fn from_span(span: &Span) -> Position {
        Position { line: span.start.line(), column: span.start.col() + 1 }
    }
}

/// How many columns a value spans on its first line (0 when it runs over several lines).
fn width(span: &Span) -> usize {
    if span.end.line() == span.start.line() {
        span.end.col().saturating_sub(span.start.col())
    } else {
        0
    }
}

/// A scalar found anywhere in the file, for checks that look at every value.
#[derive(Debug, Clone)]
pub struct Scalar {
    pub path: String,
    pub value: String,
    pub position: Position,
}

/// Positions of keys and values by path, and every scalar in document order.
#[derive(Debug, Default)]
pub struct SourceMap {
    values: HashMap<String, Position>,
    widths: HashMap<String, usize>,
    keys: HashMap<String, Position>,
    scalars: Vec<Scalar>,
    top_level: Vec<(String, usize)>,
}

/// One open collection while walking the events.
enum Frame {
    Map { path: String, pending_key: Option<(String, Position)> },
    Seq { path: String, next: usize },
}

impl SourceMap {
    /// Walks the YAML events of `text`. A syntax error ends the walk; what was seen before it
    /// stays in the map (the deserialiser reports the error itself).
    pub fn build(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let position = Position::from_span(&span);
            let width = width(&span);
            match event {
                Event::Scalar(value, ..) => {
                    map.scalar(&mut stack, value.into_owned(), position, width)
                }
                Event::Alias(_) => map.scalar(&mut stack, String::new(), position, width),
                Event::MappingStart(..) => {
                    let path = map.enter(&mut stack, position);
                    stack.push(Frame::Map { path, pending_key: None });
                }
                Event::SequenceStart(..) => {
                    let path = map.enter(&mut stack, position);
                    stack.push(Frame::Seq { path, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        map
    }

    /// Position of the value at `path`, or of the nearest enclosing value that has one.
    pub fn value(&self, path: &str) -> Position {
        let mut path = path;
        loop {
            if let Some(position) = self.values.get(path) {
                return *position;
            }
            match parent(path) {
                Some(up) => path = up,
                None => return Position { line: 1, column: 1 },
            }
        }
    }

    /// Position of the key that introduces `path`, falling back to its value.
    pub fn key(&self, path: &str) -> Position {
        self.keys.get(path).copied().unwrap_or_else(|| self.value(path))
    }

    /// Where to point for a key missing from the mapping that holds the key at `position`:
    /// the key that introduces that mapping, or the top of the file.
    pub fn owner_of_key_at(&self, position: Position) -> Position {
        let found = self.keys.iter().find(|(_, p)| **p == position).map(|(path, _)| path.as_str());
        match found.and_then(parent) {
            Some(up) if !up.is_empty() => self.key(up),
            _ => Position { line: 1, column: 1 },
        }
    }

    /// Every scalar, keys included, in document order.
    pub fn scalars(&self) -> &[Scalar] {
        &self.scalars
    }

    /// Top-level keys with the line each starts on, in document order.
    pub fn top_level(&self) -> &[(String, usize)] {
        &self.top_level
    }

    /// How many columns the value at `path` spans, when known and on one line.
    pub fn width(&self, path: &str) -> Option<usize> {
        self.widths.get(path).copied().filter(|w| *w > 0)
    }

    fn scalar(&mut self, stack: &mut [Frame], value: String, position: Position, width: usize) {
        let depth = stack.len();
        match stack.last_mut() {
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                None => {
                    let key_path = join_key(path, &value);
                    if depth == 1 {
                        self.top_level.push((value.clone(), position.line));
                    }
                    self.scalars.push(Scalar {
                        path: key_path.clone(),
                        value: value.clone(),
                        position,
                    });
                    self.keys.insert(key_path, position);
                    *pending_key = Some((value, position));
                }
                Some((key, _)) => {
                    let value_path = join_key(path, &key);
                    self.values.insert(value_path.clone(), position);
                    self.widths.insert(value_path.clone(), width);
                    self.scalars.push(Scalar { path: value_path, value, position });
                }
            },
            Some(Frame::Seq { path, next }) => {
                let item_path = format!("{path}[{next}]");
                *next += 1;
                self.values.insert(item_path.clone(), position);
                self.widths.insert(item_path.clone(), width);
                self.scalars.push(Scalar { path: item_path, value, position });
            }
            None => {}
        }
    }

    /// Records the position of a collection that starts here and returns its path.
    fn enter(&mut self, stack: &mut [Frame], position: Position) -> String {
        let path = match stack.last_mut() {
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                Some((key, _)) => join_key(path, &key),
                // A collection used as a key: give it a path nothing will ask for.
                None => format!("{path}.?"),
            },
            Some(Frame::Seq { path, next }) => {
                let item = format!("{path}[{next}]");
                *next += 1;
                item
            }
            None => String::new(),
        };
        self.values.insert(path.clone(), position);
        path
    }
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// The path one level up: `files[2].key` → `files[2]` → `files` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "release: r1\naws:\n  region: eu-west-2\nfiles:\n  - source: a/*.csv\n    \
                        destination: tre\n  - source: b\n";

    #[test]
    fn finds_nested_values_and_keys() {
        let map = SourceMap::build(TEXT);
        assert_eq!(map.value("aws.region"), Position { line: 3, column: 11 });
        assert_eq!(map.key("aws.region"), Position { line: 3, column: 3 });
        assert_eq!(map.value("files[0].destination"), Position { line: 6, column: 18 });
        assert_eq!(map.value("files[1].source"), Position { line: 7, column: 13 });
    }

    #[test]
    fn falls_back_to_the_nearest_parent() {
        let map = SourceMap::build(TEXT);
        assert_eq!(map.value("files[1].destination"), map.value("files[1]"));
        assert_eq!(map.value("nowhere"), Position { line: 1, column: 1 });
    }

    #[test]
    fn lists_top_level_keys_with_lines() {
        let map = SourceMap::build(TEXT);
        let keys: Vec<_> = map.top_level().iter().map(|(k, l)| (k.as_str(), *l)).collect();
        assert_eq!(keys, [("release", 1), ("aws", 2), ("files", 4)]);
    }
}
