//! Compiled modules on disk, so a restart does not compile again.
//!
//! An artifact is named `<module sha256>-<engine key>.cwasm`, where the engine key hashes
//! wasmtime's version and every setting that affects code generation
//! (`Engine::precompile_compatibility_hash`). Loading an artifact runs machine code
//! from disk, so only artifacts this cache wrote are loaded:
//! - each file starts with a magic line and the sha256 of the rest, checked before use
//!   (a torn or corrupted write is recompiled, never loaded);
//! - the folder is created `0700` and the cache is turned off (modules compile in memory)
//!   when the folder is writable by group or others;
//! - a file that is a symlink, writable by group or others, or owned by another user than
//!   the folder's owner is ignored and replaced.
//!
//! Anyone who can write files as the engine's user can still plant an artifact; that user
//! can run code as the engine anyway.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

const MAGIC: &[u8] = b"techpack-cwasm v1\n";

/// Bumped when this file's format or key changes.
const FORMAT: &str = "1";

/// Where a module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now (and written to the cache if it is on).
    Compiled,
    /// Read back from an artifact this cache wrote earlier.
    Cache,
}

pub struct CompileCache {
    /// `None` when the cache is off (no folder given, or the folder is unsafe).
    dir: Option<PathBuf>,
    engine_key: String,
}

impl CompileCache {
    /// Opens (creating) the cache folder; problems turn the cache off with a warning,
    /// they never stop plugins from loading.
    pub fn open(dir: Option<&Path>, engine: &Engine) -> CompileCache {
        let mut hasher = Sha256Hasher(Sha256::new());
        hasher.write(FORMAT.as_bytes());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        let dir = dir.and_then(|dir| match prepare_dir(dir) {
            Ok(()) => Some(dir.to_path_buf()),
            Err(reason) => {
                tracing::warn!(dir = %dir.display(), "WASM compile cache is off: {reason}");
                None
            }
        });
        CompileCache { dir, engine_key }
    }

    /// The folder artifacts are kept in, if the cache is on.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The module for `bytes` (binary or text WebAssembly): from the cache if this cache
    /// wrote it, else compiled and stored.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Module, Origin)> {
        let Some(dir) = &self.dir else {
            return Ok((Module::new(engine, bytes)?, Origin::Compiled));
        };
        let module_sha = hex::encode(Sha256::digest(bytes));
        let path = dir.join(format!("{module_sha}-{}.cwasm", self.engine_key));
        if let Some(module) = self.read(engine, &path) {
            return Ok((module, Origin::Cache));
        }
        let module = Module::new(engine, bytes)?;
        match module.serialize() {
            Ok(artifact) => {
                if let Err(e) = write_artifact(dir, &path, &artifact) {
                    tracing::warn!(path = %path.display(), "cannot write compiled WASM module: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot serialize compiled WASM module: {e}"),
        }
        Ok((module, Origin::Compiled))
    }

    /// A cached module, or `None` (with the reason logged) when there is none to trust.
    fn read(&self, engine: &Engine, path: &Path) -> Option<Module> {
        let metadata = std::fs::symlink_metadata(path).ok()?;
        let dir = self.dir.as_deref()?;
        if let Err(reason) = trusted_file(dir, &metadata) {
            tracing::warn!(path = %path.display(), "ignoring compiled WASM module: {reason}");
            return None;
        }
        let content = std::fs::read(path).ok()?;
        let body = content
            .strip_prefix(MAGIC)
            .and_then(|rest| (rest.len() >= 32).then(|| rest.split_at(32)))
            .filter(|(digest, body)| Sha256::digest(body).as_slice() == *digest)
            .map(|(_, body)| body);
        let Some(body) = body else {
            tracing::warn!(path = %path.display(), "ignoring corrupt compiled WASM module");
            return None;
        };
        // SAFETY: `Module::deserialize` runs the artifact's machine code, so it must be
        // bytes that `Module::serialize` produced. `body` is exactly what `write_artifact`
        // stored: its sha256 matches the digest written with it, in a file this cache
        // created in a folder only this user can write to (checked by `trusted_file` and
        // `prepare_dir`). wasmtime itself rejects artifacts from another version or
        // configuration with an error, which recompiles.
        #[allow(unsafe_code)]
        let module = unsafe { Module::deserialize(engine, body) };
        match module {
            Ok(module) => Some(module),
            Err(e) => {
                tracing::warn!(path = %path.display(), "recompiling WASM module: {e}");
                None
            }
        }
    }
}

/// Feeds `Hash` output into sha256, so the key is stable across processes and Rust versions
/// (`DefaultHasher` is neither).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only the sha256 digest is read")
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn write_artifact(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let unique = format!(
        ".{}.{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact"),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let temporary = dir.join(unique);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(MAGIC)?;
        file.write_all(&Sha256::digest(artifact))?;
        file.write_all(artifact)?;
        file.sync_data()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(unix)]
fn prepare_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
    }
    let metadata = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !metadata.is_dir() {
        return Err("it is not a folder".to_string());
    }
    if metadata.permissions().mode() & 0o022 != 0 {
        return Err("it is writable by group or others; make it 0700".to_string());
    }
    Ok(())
}

#[cfg(not(unix))]
fn prepare_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create it: {e}"))
}

#[cfg(unix)]
fn trusted_file(dir: &Path, file: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !file.is_file() {
        return Err("not a regular file".to_string());
    }
    if file.permissions().mode() & 0o022 != 0 {
        return Err("writable by group or others".to_string());
    }
    let owner = std::fs::metadata(dir).map_err(|e| e.to_string())?.uid();
    if file.uid() != owner {
        return Err(format!(
            "owned by uid {}, the cache folder by uid {owner}",
            file.uid()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn trusted_file(_dir: &Path, file: &std::fs::Metadata) -> Result<(), String> {
    if file.is_file() {
        Ok(())
    } else {
        Err("not a regular file".to_string())
    }
}
