//! The console's files, embedded with `include_str!` and named by one content hash.
//!
//! Every file is served under `/assets/{version}/`, where `version` is a sha256 of all of
//! them: an ES module imports its siblings by relative path (`./dom.js`), so they all share the
//! one versioned folder, and any change to any file moves all of them to a new URL. That is
//! what lets them be cached as `immutable` while the HTML shell is never cached.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

macro_rules! embed {
    ($($path:literal => $type:literal,)+) => {
        /// Every file of `assets/` but the shell (a test checks none is missing).
        const FILES: &[Asset] = &[$(Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("assets/", $path)),
        },)+];
    };
}

embed! {
    "app.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "dag.js" => "text/javascript; charset=utf-8",
    "format.js" => "text/javascript; charset=utf-8",
    "pages/signin.js" => "text/javascript; charset=utf-8",
    "pages/runs.js" => "text/javascript; charset=utf-8",
    "pages/run.js" => "text/javascript; charset=utf-8",
    "pages/workflows.js" => "text/javascript; charset=utf-8",
    "pages/workflow.js" => "text/javascript; charset=utf-8",
    "pages/editor.js" => "text/javascript; charset=utf-8",
    "pages/products.js" => "text/javascript; charset=utf-8",
    "pages/product.js" => "text/javascript; charset=utf-8",
    "pages/credits.js" => "text/javascript; charset=utf-8",
    "pages/logs.js" => "text/javascript; charset=utf-8",
    "pages/users.js" => "text/javascript; charset=utf-8",
}

const SHELL: &str = include_str!("assets/index.html");

/// The files of this build and the version that names them.
pub struct Bundle {
    pub version: String,
    shell: String,
}

impl Bundle {
    pub fn file(&self, path: &str) -> Option<&'static Asset> {
        FILES.iter().find(|asset| asset.path == path)
    }
}

static BUNDLE: LazyLock<Bundle> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for asset in FILES {
        hash.update(asset.path.as_bytes());
        hash.update([0]);
        hash.update(asset.body.as_bytes());
        hash.update([0]);
    }
    let version = hex::encode(&hash.finalize()[..8]);
    let shell = SHELL.replace("%ASSETS%", &format!("/assets/{version}"));
    Bundle { version, shell }
});

pub fn bundle() -> &'static Bundle {
    &BUNDLE
}

/// The HTML every page path answers, naming this build's assets.
pub fn shell() -> &'static str {
    &BUNDLE.shell
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_assets_folder_is_embedded() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/console/assets");
        let mut found = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let relative = path
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    found.push(relative);
                }
            }
        }
        for file in &found {
            assert!(
                file == "index.html" || FILES.iter().any(|a| a.path == file),
                "{file} is in the assets folder but not embedded: add it to `embed!`"
            );
        }
    }

    #[test]
    fn the_shell_names_the_versioned_assets_and_holds_no_inline_script() {
        let shell = shell();
        let version = &bundle().version;
        assert!(shell.contains(&format!("/assets/{version}/app.js")));
        assert!(shell.contains(&format!("/assets/{version}/app.css")));
        // The CSP forbids inline scripts: every <script> has a src.
        for script in shell.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains("src="), "inline script in the shell: {tag}");
        }
    }
}
