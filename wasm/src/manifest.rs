//! `plugin.yaml`: what a plugin is, where its module is, and the limits it runs under.
//!
//! ```yaml
//! name: grade-sizes            # must match the folder name; the step kind is wasm/<name>
//! version: 1.0.0
//! description: Grades a base-size POM table into a size chart
//! module: grade-sizes.wasm     # relative to the folder; `.wat` text works too
//! input_schema: { type: object, required: [sizes] }   # optional JSON Schema for `with`
//! output_schema: { type: object }                     # optional JSON Schema for the output
//! limits: { timeout: 2s, memory: 16MiB, fuel: 100000000, output: 1MiB }
//! capabilities: []             # none can be granted yet
//! example: { with: {...}, inputs: {...}, expect: {...} }   # run by `plugins check`
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::schema::PluginSchema;

/// The manifest's file name inside a plugin folder.
pub const MANIFEST_FILE: &str = "plugin.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    /// Free-form (`1.0.0`); a bare YAML number (`version: 2`) is taken as its text.
    #[serde(deserialize_with = "string_or_number")]
    pub version: String,
    pub description: String,
    /// The module file, relative to the plugin folder.
    pub module: PathBuf,
    /// A JSON Schema for `with`, checked when a workflow is loaded and before every call.
    pub input_schema: Option<Value>,
    /// A JSON Schema checked against every output; a mismatch fails the step.
    pub output_schema: Option<Value>,
    #[serde(default)]
    limits: LimitsSpec,
    /// Host capabilities the plugin asks for. None exist yet, so any entry makes the
    /// plugin unavailable rather than letting it run without what it expects.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// An input `techpack plugins check` runs, with the output it must give.
    pub example: Option<Example>,
    /// The limits resolved against the defaults (filled by [`Manifest::read`]).
    #[serde(skip)]
    pub resolved_limits: Limits,
    /// `input_schema`, compiled (filled by [`Manifest::parse`]).
    #[serde(skip)]
    pub input: Option<PluginSchema>,
    /// `output_schema`, compiled.
    #[serde(skip)]
    pub output: Option<PluginSchema>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    #[serde(default)]
    pub with: Value,
    #[serde(default)]
    pub inputs: Value,
    /// When present, the example's output must equal it.
    pub expect: Option<Value>,
}

/// Limits as written: every field optional, sizes as `64MiB` or a byte count.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSpec {
    timeout: Option<String>,
    fuel: Option<u64>,
    memory: Option<Size>,
    table_elements: Option<u32>,
    output: Option<Size>,
    log_lines: Option<u32>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Version {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Version::deserialize(deserializer)? {
        Version::Text(text) => text,
        Version::Number(number) => number.to_string(),
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// The limits one call runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for one call, instantiation included (epoch interruption).
    pub timeout: Duration,
    /// Deterministic CPU budget in wasmtime fuel units (about one per instruction);
    /// `None`: only the wall clock limits it.
    pub fuel: Option<u64>,
    /// Linear memory, in bytes.
    pub memory_bytes: u64,
    /// Elements across the instance's tables.
    pub table_elements: u32,
    /// The result JSON, in bytes.
    pub output_bytes: u64,
    /// Log lines kept per call; the rest are counted and dropped.
    pub log_lines: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(5),
            fuel: None,
            memory_bytes: 64 << 20,
            table_elements: 10_000,
            output_bytes: 1 << 20,
            log_lines: 100,
        }
    }
}

/// What the operator allows a manifest to ask for; a manifest above these is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceilings {
    pub timeout: Duration,
    pub memory_bytes: u64,
    pub table_elements: u32,
    pub output_bytes: u64,
    pub log_lines: u32,
}

impl Default for Ceilings {
    fn default() -> Self {
        Ceilings {
            timeout: Duration::from_secs(600),
            memory_bytes: 512 << 20,
            table_elements: 100_000,
            output_bytes: 64 << 20,
            log_lines: 10_000,
        }
    }
}

impl Manifest {
    /// Reads and checks `dir/plugin.yaml`; the error names the file and the problem.
    pub fn read(dir: &Path, ceilings: &Ceilings) -> Result<Manifest, crate::PluginError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| crate::PluginError::Io {
            path: path.clone(),
            source,
        })?;
        Manifest::parse(&text, ceilings)
            .map_err(|message| crate::PluginError::Manifest { path, message })
    }

    /// Parses and checks a manifest's text.
    pub fn parse(text: &str, ceilings: &Ceilings) -> Result<Manifest, String> {
        let mut manifest: Manifest = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if !valid_name(&manifest.name) {
            return Err(format!(
                "name `{}` must be lowercase letters, digits and `-`, starting with a letter",
                manifest.name
            ));
        }
        if manifest.module.is_absolute()
            || manifest
                .module
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!(
                "module `{}` must be a path inside the plugin folder",
                manifest.module.display()
            ));
        }
        let compile = |field: &str, schema: &Option<Value>| {
            schema
                .as_ref()
                .map(PluginSchema::compile)
                .transpose()
                .map_err(|e| format!("{field}: {e}"))
        };
        manifest.input = compile("input_schema", &manifest.input_schema)?;
        manifest.output = compile("output_schema", &manifest.output_schema)?;
        manifest.resolved_limits = manifest.limits.resolve(ceilings)?;
        Ok(manifest)
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        &self.resolved_limits
    }
}

impl LimitsSpec {
    fn resolve(&self, ceilings: &Ceilings) -> Result<Limits, String> {
        let defaults = Limits::default();
        let timeout = match &self.timeout {
            None => defaults.timeout,
            Some(text) => match humantime::parse_duration(text.trim()) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => return Err("limits.timeout must be more than zero".to_string()),
                Err(e) => {
                    return Err(format!(
                        "limits.timeout `{text}`: {e} (write e.g. `500ms`, `5s`)"
                    ));
                }
            },
        };
        let memory_bytes = match &self.memory {
            None => defaults.memory_bytes,
            Some(size) => size.bytes().map_err(|e| format!("limits.memory: {e}"))?,
        };
        let output_bytes = match &self.output {
            None => defaults.output_bytes,
            Some(size) => size.bytes().map_err(|e| format!("limits.output: {e}"))?,
        };
        let limits = Limits {
            timeout,
            fuel: self.fuel,
            memory_bytes,
            table_elements: self.table_elements.unwrap_or(defaults.table_elements),
            output_bytes,
            log_lines: self.log_lines.unwrap_or(defaults.log_lines),
        };
        let over = |field: &str, value: String, ceiling: String| {
            Err(format!(
                "limits.{field} is {value}, above this host's ceiling of {ceiling}"
            ))
        };
        if limits.timeout > ceilings.timeout {
            return over(
                "timeout",
                humantime::format_duration(limits.timeout).to_string(),
                humantime::format_duration(ceilings.timeout).to_string(),
            );
        }
        if limits.memory_bytes > ceilings.memory_bytes {
            return over(
                "memory",
                bytes_text(limits.memory_bytes),
                bytes_text(ceilings.memory_bytes),
            );
        }
        if limits.memory_bytes < 64 << 10 {
            return Err("limits.memory must be at least 64KiB (one WebAssembly page)".to_string());
        }
        if limits.table_elements > ceilings.table_elements {
            return over(
                "table_elements",
                limits.table_elements.to_string(),
                ceilings.table_elements.to_string(),
            );
        }
        if limits.output_bytes > ceilings.output_bytes {
            return over(
                "output",
                bytes_text(limits.output_bytes),
                bytes_text(ceilings.output_bytes),
            );
        }
        if limits.log_lines > ceilings.log_lines {
            return over(
                "log_lines",
                limits.log_lines.to_string(),
                ceilings.log_lines.to_string(),
            );
        }
        if limits.fuel == Some(0) {
            return Err(
                "limits.fuel must be more than zero (leave it out for no fuel limit)".to_string(),
            );
        }
        Ok(limits)
    }
}

impl Size {
    fn bytes(&self) -> Result<u64, String> {
        let text = match self {
            Size::Bytes(n) => return Ok(*n),
            Size::Text(text) => text.trim(),
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let unit_size: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}` (write a byte count or e.g. `64KiB`, `16MiB`, `1GiB`)"
                ));
            }
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_size))
            .ok_or_else(|| format!("`{text}` is not a size (write e.g. `16MiB`)"))
    }
}

/// `16MiB`, `64KiB` or a byte count, whichever is exact.
pub fn bytes_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: p\nversion: 1.0.0\ndescription: d\nmodule: p.wasm\n";

    #[test]
    fn limits_default_to_safe_values_and_parse_sizes() {
        let manifest = Manifest::parse(MINIMAL, &Ceilings::default()).unwrap();
        assert_eq!(manifest.limits(), &Limits::default());
        let numbered =
            Manifest::parse(&MINIMAL.replace("1.0.0", "2"), &Ceilings::default()).unwrap();
        assert_eq!(numbered.version, "2");
        let text = format!(
            "{MINIMAL}limits: {{ memory: 16MiB, output: 4096, timeout: 250ms, fuel: 1000 }}\n"
        );
        let limits = Manifest::parse(&text, &Ceilings::default())
            .unwrap()
            .resolved_limits;
        assert_eq!(limits.memory_bytes, 16 << 20);
        assert_eq!(limits.output_bytes, 4096);
        assert_eq!(limits.timeout, Duration::from_millis(250));
        assert_eq!(limits.fuel, Some(1000));
    }

    #[test]
    fn rejects_what_would_be_unsafe_or_ambiguous() {
        let cases = [
            ("limits: { memory: 1GB }", "unknown unit `GB`"),
            (
                "limits: { memory: 4GiB }",
                "above this host's ceiling of 512MiB",
            ),
            ("limits: { timeout: forever }", "limits.timeout `forever`"),
            ("limits: { fuel: 0 }", "limits.fuel must be more than zero"),
            ("limits: { stack: 1 }", "unknown field `stack`"),
            ("capabilityz: []", "unknown field `capabilityz`"),
            (
                "input_schema: { type: thing }",
                "input_schema: `type`: \"thing\" is not valid",
            ),
        ];
        for (extra, expected) in cases {
            let error =
                Manifest::parse(&format!("{MINIMAL}{extra}\n"), &Ceilings::default()).unwrap_err();
            assert!(error.contains(expected), "{extra}: {error}");
        }
        let error = Manifest::parse(
            &MINIMAL.replace("p.wasm", "../x.wasm"),
            &Ceilings::default(),
        )
        .unwrap_err();
        assert!(error.contains("inside the plugin folder"), "{error}");
        let error = Manifest::parse(
            &MINIMAL.replace("name: p", "name: P_1"),
            &Ceilings::default(),
        )
        .unwrap_err();
        assert!(error.contains("lowercase"), "{error}");
    }
}
