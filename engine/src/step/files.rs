//! Which server files a step may touch. A run started by an operator (the CLI) may name any
//! path; a run started by a user (over HTTP) is untrusted input, so its steps may only reach
//! files under the folders the operator allowed (`techpack serve --allow-read DIR
//! --allow-write DIR`), and by default none at all.
//!
//! Every step kind that reads or writes a file named by its config goes through
//! [`FileAccess`] (`ctx.files`), so the rule lives here once instead of in each kind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{StepError, StepFailure};

/// The folders an operator opened to users' runs, resolved (symlinks followed) once at start.
#[derive(Debug, Clone, Default)]
pub struct FileRoots {
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
}

impl FileRoots {
    /// Resolves the folders; each must exist. A folder allowed for writing may also be read.
    pub fn new(read: &[PathBuf], write: &[PathBuf]) -> std::io::Result<FileRoots> {
        let resolve = |dirs: &[PathBuf]| -> std::io::Result<Vec<PathBuf>> {
            dirs.iter()
                .map(|d| {
                    std::fs::canonicalize(d)
                        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", d.display())))
                })
                .collect()
        };
        let write = resolve(write)?;
        let mut read = resolve(read)?;
        read.extend(write.iter().cloned());
        Ok(FileRoots { read, write })
    }
}

/// What a run's steps may do with server files; see the module docs.
#[derive(Debug, Clone)]
pub struct FileAccess {
    /// The user who started the run; `None` for an operator's run.
    user: Option<String>,
    roots: Arc<FileRoots>,
}

#[derive(Clone, Copy)]
enum Use {
    Read,
    Write,
}

impl FileAccess {
    /// Any path: for runs an operator started.
    pub fn operator() -> FileAccess {
        FileAccess {
            user: None,
            roots: Arc::default(),
        }
    }

    /// The access of a run owned by `user` (`None`: an operator's run).
    pub fn for_run(user: Option<String>, roots: Arc<FileRoots>) -> FileAccess {
        FileAccess { user, roots }
    }

    /// True when the run was started by an operator, who may name any server path.
    pub fn is_operator(&self) -> bool {
        self.user.is_none()
    }

    /// The path to open for reading the file that `field` (e.g. "`images[0].path`") names.
    ///
    /// # Errors
    /// In a user's run, a [`StepFailure::PathRefused`] error unless the file lies under a folder the
    /// operator allowed; the message never repeats the path or the folders.
    pub fn readable(&self, path: &Path, field: &str) -> Result<PathBuf, StepError> {
        self.check(path, field, Use::Read)
    }

    /// The path to write (a file or a folder to create) that `field` names; see
    /// [`FileAccess::readable`].
    pub fn writable(&self, path: &Path, field: &str) -> Result<PathBuf, StepError> {
        self.check(path, field, Use::Write)
    }

    fn check(&self, path: &Path, field: &str, use_: Use) -> Result<PathBuf, StepError> {
        let Some(user) = &self.user else {
            return Ok(path.to_path_buf());
        };
        let (roots, flag) = match use_ {
            Use::Read => (&self.roots.read, "--allow-read"),
            Use::Write => (&self.roots.write, "--allow-write"),
        };
        let refused = || {
            let reach = match use_ {
                Use::Read => "read",
                Use::Write => "write",
            };
            StepError::permanent(format!(
                "{field} names a file on the server; a run started by user `{user}` may only \
                 {reach} files under the folders the operator allowed with `{flag}`{}",
                if roots.is_empty() { " (none are)" } else { "" }
            ))
            .with_code(StepFailure::PathRefused)
        };
        if roots.is_empty() || !path.is_absolute() {
            // A relative path would resolve against the server's working directory.
            return Err(refused());
        }
        let resolved = resolve(path, use_).ok_or_else(refused)?;
        if roots.iter().any(|root| resolved.starts_with(root)) {
            Ok(resolved)
        } else {
            Err(refused())
        }
    }
}

/// The path with symlinks resolved. A file to read must exist; for a file or folder to
/// write, the deepest existing ancestor is resolved and the rest must be plain names (no
/// `..`), so the result cannot climb out of where it was checked.
fn resolve(path: &Path, use_: Use) -> Option<PathBuf> {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return Some(resolved);
    }
    if matches!(use_, Use::Read) {
        return None;
    }
    let mut missing = Vec::new();
    let mut ancestor = path;
    loop {
        match std::fs::canonicalize(ancestor) {
            Ok(resolved) => {
                let mut full = resolved;
                for name in missing.iter().rev() {
                    full.push(name);
                }
                return Some(full);
            }
            Err(_) => {
                // `file_name` is `None` for `..` and the root.
                let name = ancestor.file_name()?;
                missing.push(name.to_os_string());
                ancestor = ancestor.parent()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_access(read: &[PathBuf], write: &[PathBuf]) -> FileAccess {
        FileAccess::for_run(
            Some("ann".into()),
            Arc::new(FileRoots::new(read, write).unwrap()),
        )
    }

    #[test]
    fn an_operator_run_may_name_any_path() {
        let access = FileAccess::operator();
        assert!(access.is_operator());
        assert_eq!(
            access.readable(Path::new("/etc/passwd"), "`path`").unwrap(),
            PathBuf::from("/etc/passwd")
        );
        assert!(access.writable(Path::new("relative/out"), "`out`").is_ok());
    }

    #[test]
    fn a_user_run_without_roots_is_refused_without_echoing_the_path() {
        let access = user_access(&[], &[]);
        let error = access
            .readable(Path::new("/etc/passwd"), "`images[0].path`")
            .unwrap_err();
        assert_eq!(error.code, Some(StepFailure::PathRefused.into()));
        assert!(!error.retryable);
        assert!(!error.message.contains("/etc"), "{}", error.message);
        assert!(error.message.contains("`images[0].path`"));
        assert!(error.message.contains("--allow-read"));
        assert!(access.writable(Path::new("/tmp/x"), "`out`").is_err());
    }

    #[test]
    fn a_user_run_reaches_only_inside_the_allowed_folders() {
        let allowed = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(allowed.path().join("photo.png"), b"x").unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let access = user_access(&[allowed.path().into()], &[allowed.path().into()]);
        assert!(
            access
                .readable(&allowed.path().join("photo.png"), "`path`")
                .is_ok()
        );
        assert!(
            access
                .readable(&outside.path().join("secret"), "`path`")
                .is_err()
        );
        // `..` and symlinks are resolved before the check.
        let climbing = allowed.path().join("..").join(
            outside
                .path()
                .strip_prefix(allowed.path().parent().unwrap())
                .unwrap(),
        );
        assert!(access.readable(&climbing.join("secret"), "`path`").is_err());
        std::os::unix::fs::symlink(outside.path(), allowed.path().join("link")).unwrap();
        assert!(
            access
                .readable(&allowed.path().join("link/secret"), "`path`")
                .is_err()
        );
        assert!(
            access
                .writable(&allowed.path().join("link/new"), "`out`")
                .is_err()
        );
        // A folder to create inside an allowed one is fine; relative paths never are.
        assert!(
            access
                .writable(&allowed.path().join("new/deeper"), "`out`")
                .is_ok()
        );
        assert!(access.readable(Path::new("photo.png"), "`path`").is_err());
    }

    #[test]
    fn a_read_only_folder_is_not_writable() {
        let allowed = tempfile::tempdir().unwrap();
        let access = user_access(&[allowed.path().into()], &[]);
        assert!(
            access
                .writable(&allowed.path().join("out"), "`out`")
                .is_err()
        );
    }
}
