//! Shared by the integration tests: plugin folders made from the WAT fixtures, a host,
//! and a quick call.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use techpack_wasm::{CallContext, LoadedPlugin, PluginError, PluginHost, PluginHostConfig};

/// `plugins/` at the repository root.
pub fn repo_plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

/// Makes `root/<name>/` from `tests/fixtures/<fixture>.wat` with a manifest; `extra` is
/// appended to the manifest (e.g. `limits: { timeout: 300ms }`). The plugin's name is the
/// fixture's with `-` for `_`.
pub fn fixture_plugin(root: &Path, fixture: &str, extra: &str) -> PathBuf {
    fixture_plugin_named(root, fixture, &fixture.replace('_', "-"), extra)
}

/// [`fixture_plugin`] under another name, for one fixture with two sets of limits.
pub fn fixture_plugin_named(root: &Path, fixture: &str, name: &str, extra: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{fixture}.wat"));
    std::fs::copy(&source, dir.join("module.wat")).unwrap();
    let manifest = format!(
        "name: {name}\nversion: 0.1.0\ndescription: test fixture {fixture}\nmodule: module.wat\n{extra}\n"
    );
    std::fs::write(dir.join("plugin.yaml"), manifest).unwrap();
    dir
}

/// A host with a small pool and a cache in `cache`.
pub fn host(cache: &Path) -> PluginHost {
    PluginHost::with_config(
        Some(cache),
        PluginHostConfig {
            max_concurrent_calls: 4,
            ..PluginHostConfig::default()
        },
    )
    .unwrap()
}

pub fn context() -> CallContext {
    CallContext {
        run_id: "run-1".to_string(),
        step_id: "step".to_string(),
        attempt: 1,
        idempotency_key: "run-1/step".to_string(),
        owner: None,
        log: None,
    }
}

pub async fn call(
    host: &PluginHost,
    plugin: &LoadedPlugin,
    with: Value,
) -> Result<Value, PluginError> {
    host.call(plugin, &with, &json!({}), &context()).await
}

/// Loads `fixture` into a fresh folder under `root` and calls it with `{}`.
pub async fn load_and_call(
    host: &PluginHost,
    root: &Path,
    fixture: &str,
    extra: &str,
) -> Result<Value, PluginError> {
    let plugin = host.load(&fixture_plugin(root, fixture, extra))?;
    call(host, &plugin, json!({})).await
}

/// The host still works: a well-behaved plugin answers.
pub async fn assert_host_usable(host: &PluginHost, root: &Path) {
    let dir = root.join("echo");
    let dir = if dir.exists() {
        dir
    } else {
        fixture_plugin(root, "echo", "")
    };
    let echo = host.load(&dir).unwrap();
    let output = call(host, &echo, json!({"still": "here"})).await.unwrap();
    assert_eq!(output["with"], json!({"still": "here"}));
}
