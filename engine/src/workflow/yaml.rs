//! The one place that reads YAML: values through `serde_yaml`, positions through `yaml-rust2`.
//!
//! `serde_yaml` gives values but no positions once parsing succeeded, so a second, marked pass
//! records where every mapping key and sequence item starts. Validation uses it to point each
//! problem at its `file:line:column`, and it finds every duplicate key, not only the first.
//! A maintained fork of `serde_yaml` can replace it here without touching the rest.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A path into the document: mapping keys and sequence indexes as strings.
pub type Path = Vec<String>;

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlProblem {
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    DuplicateKey {
        path: Path,
        key: String,
        line: usize,
        column: usize,
    },
}

/// Positions (1-based line and column) of every key and item in a document.
#[derive(Debug, Default)]
pub struct Outline {
    positions: HashMap<Path, (usize, usize)>,
}

impl Outline {
    /// Where the key (or item) at `path` starts.
    pub fn position(&self, path: &[&str]) -> Option<(usize, usize)> {
        let path: Path = path.iter().map(|s| s.to_string()).collect();
        self.positions.get(&path).copied()
    }
}

/// Parses `text` into a YAML value and its outline, or every problem found.
pub fn parse(text: &str) -> Result<(serde_yaml::Value, Outline), Vec<YamlProblem>> {
    let mut builder = OutlineBuilder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(error) = parser.load(&mut builder, false) {
        let marker = error.marker();
        return Err(vec![YamlProblem::Syntax {
            line: marker.line(),
            column: marker.col() + 1,
            message: error.info().to_string(),
        }]);
    }
    if !builder.problems.is_empty() {
        return Err(builder.problems);
    }
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(value) => Ok((value, builder.outline)),
        Err(error) => {
            let (line, column) = error
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            Err(vec![YamlProblem::Syntax {
                line,
                column,
                message: strip_serde_position(&error.to_string()),
            }])
        }
    }
}

/// Deserializes a YAML value into a typed shape; the error is serde's message without position.
pub fn from_value<T: DeserializeOwned>(value: serde_yaml::Value) -> Result<T, String> {
    serde_yaml::from_value(value).map_err(|e| strip_serde_position(&e.to_string()))
}

/// Converts a YAML value into JSON, the engine's value model.
pub fn to_json(value: &serde_yaml::Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(value).map_err(|e| format!("cannot be represented as JSON: {e}"))
}

/// Step ids in file order, read without validation (for showing stored runs whose workflow
/// may no longer validate against today's registry).
pub fn step_ids(text: &str) -> Vec<String> {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Mapping(map)) => match map.get("steps") {
            Some(serde_yaml::Value::Mapping(steps)) => steps
                .keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// serde_yaml appends " at line X column Y"; positions are reported separately.
fn strip_serde_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

enum Frame {
    Mapping {
        path: Path,
        key: Option<String>,
        seen: HashMap<String, (usize, usize)>,
    },
    Sequence {
        path: Path,
        index: usize,
    },
}

#[derive(Default)]
struct OutlineBuilder {
    stack: Vec<Frame>,
    outline: Outline,
    problems: Vec<YamlProblem>,
}

impl OutlineBuilder {
    /// Records a node starting at `mark`; returns the node's path.
    fn node(&mut self, mark: Marker, scalar: Option<&str>) -> Path {
        let position = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Vec::new(),
            Some(Frame::Sequence { path, index }) => {
                let mut child = path.clone();
                child.push(index.to_string());
                *index += 1;
                self.outline.positions.insert(child.clone(), position);
                child
            }
            Some(Frame::Mapping { path, key, seen }) => match key.take() {
                Some(key) => {
                    let mut child = path.clone();
                    child.push(key);
                    child
                }
                None => {
                    // This node is a key.
                    let name = scalar.unwrap_or("?").to_string();
                    let mut child = path.clone();
                    child.push(name.clone());
                    if seen.contains_key(&name) {
                        self.problems.push(YamlProblem::DuplicateKey {
                            path: path.clone(),
                            key: name.clone(),
                            line: position.0,
                            column: position.1,
                        });
                    } else {
                        seen.insert(name.clone(), position);
                        self.outline.positions.insert(child.clone(), position);
                    }
                    *key = Some(name);
                    child
                }
            },
        }
    }
}

impl MarkedEventReceiver for OutlineBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                self.node(mark, Some(&value));
            }
            Event::Alias(_) => {
                self.node(mark, None);
            }
            Event::MappingStart(..) => {
                let path = self.node(mark, None);
                self.stack.push(Frame::Mapping {
                    path,
                    key: None,
                    seen: HashMap::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node(mark, None);
                self.stack.push(Frame::Sequence { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_keys() {
        let text = "name: x\nsteps:\n  a:\n    uses: core/echo\n  b:\n    needs: [a]\n";
        let (_, outline) = parse(text).unwrap();
        assert_eq!(outline.position(&["steps", "a"]), Some((3, 3)));
        assert_eq!(outline.position(&["steps", "a", "uses"]), Some((4, 5)));
        assert_eq!(
            outline.position(&["steps", "b", "needs", "0"]),
            Some((6, 13))
        );
    }

    #[test]
    fn every_duplicate_key_is_reported() {
        let text = "steps:\n  a: {}\n  a: {}\n  b: {}\n  b: {}\n";
        let problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let problems = parse("steps:\n  a: [1, 2\n").unwrap_err();
        assert!(
            matches!(problems[0], YamlProblem::Syntax { line: 3, .. }),
            "{problems:?}"
        );
    }
}
