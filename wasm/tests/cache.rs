//! The on-disk compile cache: a restart loads compiled modules instead of compiling, and
//! only artifacts the cache wrote itself (intact, private) are ever loaded.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

fn artifacts(cache: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_second_host_loads_the_compiled_module_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin_dir = fixture_plugin(dir.path(), "echo", "");
    let first = host(&cache).load(&plugin_dir).unwrap();
    assert!(!first.from_cache);
    assert_eq!(artifacts(&cache).len(), 1);
    let artifact = artifacts(&cache).remove(0);
    let name = artifact.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&first.module_sha256),
        "{name} is keyed by the module's sha256"
    );

    // A new host stands for a restarted process.
    let host = host(&cache);
    let second = host.load(&plugin_dir).unwrap();
    assert!(second.from_cache);
    assert_eq!(
        call(&host, &second, json!({"x": 1})).await.unwrap()["with"],
        json!({"x": 1})
    );
}

#[tokio::test]
async fn a_corrupt_artifact_is_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin_dir = fixture_plugin(dir.path(), "echo", "");
    host(&cache).load(&plugin_dir).unwrap();
    let artifact = artifacts(&cache).remove(0);
    let mut bytes = std::fs::read(&artifact).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();

    let host = host(&cache);
    let plugin = host.load(&plugin_dir).unwrap();
    assert!(
        !plugin.from_cache,
        "a file whose digest does not match must not be deserialized"
    );
    call(&host, &plugin, json!({})).await.unwrap();
    // It was replaced by a good one.
    assert!(host.load(&plugin_dir).unwrap().from_cache);
}

#[cfg(unix)]
#[test]
fn artifacts_others_could_have_written_are_ignored() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin_dir = fixture_plugin(dir.path(), "echo", "");
    host(&cache).load(&plugin_dir).unwrap();
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let artifact = artifacts(&cache).remove(0);
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(!host(&cache).load(&plugin_dir).unwrap().from_cache);

    // A cache folder others can write to is not used at all.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let host = host(&shared);
    assert_eq!(host.cache_dir(), None);
    assert!(!host.load(&plugin_dir).unwrap().from_cache);
    assert!(artifacts(&shared).is_empty());
}
