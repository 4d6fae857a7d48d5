//! The plugin ABI, version 1 (documented in `plugins/README.md`): what a module must
//! export, the one function it may import, and how a call moves JSON in and out.
//!
//! A core module, not a component: C, Zig, AssemblyScript and Rust all produce one with
//! nothing but their compiler, and the contract is four exports and one import.

use serde_json::Value;
use techpack_engine::PluginCode;
use techpack_engine::step::LogLevel;
use wasmtime::{Caller, ExternType, FuncType, Instance, Linker, Module, Store};

use crate::PluginError;
use crate::sandbox::{self, CallState};

/// The ABI version this host speaks; a module's `techpack_abi_version` must return it.
pub const ABI_VERSION: i32 = 1;

const MEMORY: &str = "memory";
const VERSION: &str = "techpack_abi_version";
const ALLOC: &str = "techpack_alloc";
const RUN: &str = "techpack_run";

/// The only import: `techpack.log(level, ptr, len)`.
const IMPORT_MODULE: &str = "techpack";
const LOG: &str = "log";

/// Longest log line kept; the rest of a longer one is cut (host functions are not
/// interrupted by epochs, so their work must be bounded).
const MAX_LOG_LINE: usize = 4096;

/// The exported functions and the signatures they must have.
const FUNCTIONS: [(&str, &str); 3] = [
    (VERSION, "() -> i32"),
    (ALLOC, "(i32) -> i32"),
    (RUN, "(i32, i32) -> i64"),
];

/// Checks the module's exports and imports against the ABI, before anything runs.
pub fn check_module(name: &str, module: &Module) -> Result<(), PluginError> {
    let abi = |message: String| PluginError::Abi {
        name: name.to_string(),
        message,
    };
    for import in module.imports() {
        let (from, field) = (import.module(), import.name());
        let expected = format!("({})", ["i32"; 3].join(", "));
        match import.ty() {
            ExternType::Func(ty) if from == IMPORT_MODULE && field == LOG => {
                let actual = signature(&ty);
                if actual != format!("{expected} -> ()") {
                    return Err(abi(format!(
                        "import `{IMPORT_MODULE}.{LOG}` has type {actual}, expected (i32, i32, i32) -> ()"
                    )));
                }
            }
            _ => {
                return Err(abi(format!(
                    "it imports `{from}.{field}`, but the host provides only `{IMPORT_MODULE}.{LOG}` \
                     (no WASI: plugins get no filesystem, network, clock or environment)"
                )));
            }
        }
    }
    match module.get_export(MEMORY) {
        Some(ExternType::Memory(memory)) if memory.is_64() => {
            return Err(abi(format!(
                "export `{MEMORY}` is a 64-bit memory; the ABI uses a 32-bit one"
            )));
        }
        Some(ExternType::Memory(_)) => {}
        Some(_) => return Err(abi(format!("export `{MEMORY}` is not a memory"))),
        None => return Err(abi(format!("export `{MEMORY}` is missing"))),
    }
    for (export, expected) in FUNCTIONS {
        match module.get_export(export) {
            Some(ExternType::Func(ty)) => {
                let actual = signature(&ty);
                if actual != expected {
                    return Err(abi(format!(
                        "export `{export}` has type {actual}, expected {expected}"
                    )));
                }
            }
            Some(_) => return Err(abi(format!("export `{export}` is not a function"))),
            None => return Err(abi(format!("export `{export}` is missing"))),
        }
    }
    Ok(())
}

fn signature(ty: &FuncType) -> String {
    let list = |types: Vec<String>| types.join(", ");
    let params = list(ty.params().map(|t| t.to_string()).collect());
    let results: Vec<String> = ty.results().map(|t| t.to_string()).collect();
    match results.len() {
        0 => format!("({params}) -> ()"),
        1 => format!("({params}) -> {}", results[0]),
        _ => format!("({params}) -> ({})", list(results)),
    }
}

/// Defines `techpack.log`: a line into the host's log (`tracing`, target
/// `techpack_wasm::plugin`) with the plugin, run, step and attempt, and into the step's log
/// kept with the attempt; at most `limits.log_lines` lines per call of at most 4 KiB each.
pub fn define_imports(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        LOG,
        |mut caller: Caller<'_, CallState>, level: i32, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let Some(memory) = caller.get_export(MEMORY).and_then(|e| e.into_memory()) else {
                return Err(wasmtime::Error::msg("techpack.log called without an exported memory"));
            };
            let (data, state) = memory.data_and_store_mut(&mut caller);
            if state.log_lines >= state.limits.log_lines {
                state.log_dropped += 1;
                return Ok(());
            }
            state.log_lines += 1;
            let start = ptr as u32 as usize;
            let kept = (len as u32 as usize).min(MAX_LOG_LINE);
            let Some(bytes) = data.get(start..start.saturating_add(kept)) else {
                return Err(wasmtime::Error::msg(format!(
                    "techpack.log: the message at {start} ({len} bytes) lies outside the plugin's memory"
                )));
            };
            let message = String::from_utf8_lossy(bytes);
            let (plugin, f) = (&*state.plugin, &state.fields);
            match level {
                0 => tracing::error!(target: "techpack_wasm::plugin", plugin, run_id = %f.run_id, step_id = %f.step_id, attempt = f.attempt, "{message}"),
                1 => tracing::warn!(target: "techpack_wasm::plugin", plugin, run_id = %f.run_id, step_id = %f.step_id, attempt = f.attempt, "{message}"),
                2 => tracing::info!(target: "techpack_wasm::plugin", plugin, run_id = %f.run_id, step_id = %f.step_id, attempt = f.attempt, "{message}"),
                _ => tracing::debug!(target: "techpack_wasm::plugin", plugin, run_id = %f.run_id, step_id = %f.step_id, attempt = f.attempt, "{message}"),
            }
            if let Some(log) = &f.step_log {
                let level = match level {
                    0 => LogLevel::Error,
                    1 => LogLevel::Warn,
                    _ => LogLevel::Info,
                };
                log.keep(level, &message);
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// Calls `techpack_abi_version` (synchronously: it runs at load time) and checks it.
pub fn check_version(store: &mut Store<CallState>, instance: &Instance) -> Result<(), PluginError> {
    let version = instance
        .get_typed_func::<(), i32>(&mut *store, VERSION)
        .and_then(|f| f.call(&mut *store, ()))
        .map_err(|e| sandbox::classify(store, e, "calling techpack_abi_version"))?;
    if version != ABI_VERSION {
        return Err(PluginError::Abi {
            name: store.data().plugin.to_string(),
            message: format!(
                "`{VERSION}` returned {version}; this host speaks version {ABI_VERSION}"
            ),
        });
    }
    Ok(())
}

/// One call: writes `input` into memory the guest allocated, calls `techpack_run`, reads
/// and checks the result.
pub async fn run(
    store: &mut Store<CallState>,
    instance: &Instance,
    input: &[u8],
) -> Result<Value, PluginError> {
    let name = store.data().plugin.to_string();
    let bad = |message: String| PluginError::BadOutput {
        name: name.clone(),
        message,
    };
    let exports = (
        instance.get_typed_func::<i32, i32>(&mut *store, ALLOC),
        instance.get_typed_func::<(i32, i32), i64>(&mut *store, RUN),
        instance.get_memory(&mut *store, MEMORY),
    );
    let (Ok(alloc), Ok(run), Some(memory)) = exports else {
        return Err(PluginError::Abi {
            name,
            message: "exports changed after loading".to_string(),
        });
    };
    let Ok(length) = i32::try_from(input.len()) else {
        return Err(PluginError::ResourceLimit {
            name,
            message: format!(
                "the input is {} bytes, more than a 32-bit memory holds",
                input.len()
            ),
        });
    };
    let pointer = alloc
        .call_async(&mut *store, length)
        .await
        .map_err(|e| sandbox::classify(store, e, "calling techpack_alloc"))?;
    if pointer == 0 {
        return Err(bad(format!(
            "`{ALLOC}` returned 0 (no memory) for the {length}-byte input"
        )));
    }
    memory
        .write(&mut *store, pointer as u32 as usize, input)
        .map_err(|_| bad(format!("`{ALLOC}` returned {pointer}, which leaves no room for {length} bytes in its memory")))?;
    let packed = run
        .call_async(&mut *store, (pointer, length))
        .await
        .map_err(|e| sandbox::classify(store, e, "calling techpack_run"))? as u64;
    let (start, size) = ((packed >> 32) as usize, packed & 0xffff_ffff);
    let limit = store.data().limits.output_bytes;
    if size > limit {
        return Err(PluginError::OutputTooLarge { name, size, limit });
    }
    let bytes = memory
        .data(&*store)
        .get(start..start + size as usize)
        .ok_or_else(|| {
            bad(format!(
                "the result ({size} bytes at {start}) lies outside its memory"
            ))
        })?;
    parse_result(&name, bytes)
}

/// `{"output": value}` or `{"error": "message"}` (or `{"error": {"message": ...}}`, with an
/// optional `"code"` of the plugin's own: see [`PluginCode`]).
pub fn parse_result(name: &str, bytes: &[u8]) -> Result<Value, PluginError> {
    let bad = |message: String| PluginError::BadOutput {
        name: name.to_string(),
        message,
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let preview: String = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        bad(format!("not JSON ({e}); it starts with {preview:?}"))
    })?;
    let Value::Object(mut map) = value else {
        return Err(bad(format!(
            "expected {{\"output\": ...}} or {{\"error\": ...}}, got {}",
            shorten(&value)
        )));
    };
    if map.len() == 1 {
        if let Some(output) = map.remove("output") {
            return Ok(output);
        }
        let (message, code) = match map.remove("error") {
            Some(Value::String(message)) => (Some(message), None),
            Some(Value::Object(mut error)) => match error.remove("message") {
                Some(Value::String(message)) => (Some(message), error.remove("code")),
                _ => (None, None),
            },
            _ => (None, None),
        };
        if let Some(message) = message {
            let code = match code {
                None => None,
                Some(Value::String(code)) => Some(
                    PluginCode::new(&code)
                        .map_err(|e| bad(format!("its error code {code:?} is not valid: {e}")))?,
                ),
                Some(other) => {
                    return Err(bad(format!(
                        "its error code must be a string, got {}",
                        shorten(&other)
                    )));
                }
            };
            return Err(PluginError::Failed {
                name: name.to_string(),
                message,
                code,
            });
        }
    }
    Err(bad(format!(
        "expected {{\"output\": ...}} or {{\"error\": \"message\"}}, got {}",
        shorten(&Value::Object(map))
    )))
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(result: &str) -> PluginError {
        parse_result("p", result.as_bytes()).expect_err("the plugin failed")
    }

    #[test]
    fn a_failure_carries_the_plugins_code_when_it_gives_a_valid_one() {
        let error = failure(r#"{"error": {"message": "too big", "code": "size_out_of_range"}}"#);
        assert_eq!(error.code().as_str(), "plugin:size_out_of_range");
        assert_eq!(error.to_string(), "plugin `p` failed: too big");
        let error = failure(r#"{"error": "too big"}"#);
        assert_eq!(error.code().as_str(), "plugin_failed");
    }

    #[test]
    fn an_invalid_code_is_bad_output_not_a_code() {
        for code in [r#""Not-Snake""#, r#""""#, "7"] {
            let error = failure(&format!(
                r#"{{"error": {{"message": "too big", "code": {code}}}}}"#
            ));
            assert!(
                matches!(error, PluginError::BadOutput { .. }),
                "{code}: {error}"
            );
            assert_eq!(error.code().as_str(), "plugin_bad_output");
        }
    }
}
