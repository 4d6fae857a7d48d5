//! `techpack plugins list|check`: which WASM plugins are found, whether they load, and one
//! plugin checked end to end (compile, ABI, manifest, its example).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use techpack_wasm::manifest::bytes_text;
use techpack_wasm::{ABI_VERSION, CheckReport, Limits, PluginHost, plugin_dirs};

use super::DataDir;
use crate::exit::Exit;

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// Every plugin in plugins/, --plugins-dir folders and TECHPACK_PLUGINS_DIR, and whether
    /// it loads (exit 3 if any does not)
    List {
        /// Another folder of plugins (repeatable)
        #[arg(long = "plugins-dir", value_name = "DIR")]
        plugins_dirs: Vec<PathBuf>,
    },
    /// Load one plugin folder as the engine would and run its manifest's example
    Check { dir: PathBuf },
}

pub async fn plugins(command: PluginsCommand, data_dir: &DataDir) -> anyhow::Result<Exit> {
    let cache_dir = data_dir.path().join("wasm-cache");
    match command {
        PluginsCommand::List { plugins_dirs } => list(&plugins_dirs, &cache_dir),
        PluginsCommand::Check { dir } => check(&dir, &cache_dir).await,
    }
}

/// Lists the plugins under `plugins/`, `extra_dirs` and `TECHPACK_PLUGINS_DIR`.
pub fn list(extra_dirs: &[PathBuf], cache_dir: &Path) -> anyhow::Result<Exit> {
    let host = PluginHost::new(cache_dir).context("cannot start the WASM plugin host")?;
    let dirs = plugin_dirs(extra_dirs);
    let statuses = host.load_dirs(&dirs);
    if statuses.is_empty() {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        println!("no plugins in {}", searched.join(", "));
        return Ok(Exit::Success);
    }
    let width = statuses.iter().map(|s| s.name.len()).max().unwrap_or(0) + "wasm/".len();
    let mut broken = 0;
    for status in &statuses {
        let uses = format!("wasm/{}", status.name);
        match &status.result {
            Ok(plugin) => println!(
                "ok    {uses:width$}  {:10}  {}  {}",
                plugin.manifest.version,
                status.dir.display(),
                plugin.manifest.description
            ),
            Err(error) => {
                broken += 1;
                println!(
                    "FAIL  {uses:width$}  {:10}  {}  {error}",
                    "-",
                    status.dir.display()
                );
            }
        }
    }
    let n = statuses.len();
    println!(
        "{n} plugin{}, {broken} unavailable",
        if n == 1 { "" } else { "s" }
    );
    Ok(if broken == 0 {
        Exit::Success
    } else {
        Exit::Invalid
    })
}

/// Checks one plugin folder: exit 0 when it loads and its example (if any) gives
/// `example.expect`, 3 otherwise.
pub async fn check(dir: &Path, cache_dir: &Path) -> anyhow::Result<Exit> {
    let host = PluginHost::new(cache_dir).context("cannot start the WASM plugin host")?;
    match host.check_plugin(dir).await {
        Ok(report) => {
            print_report(dir, &report);
            Ok(Exit::Success)
        }
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!("{}: the plugin cannot be used", dir.display());
            Ok(Exit::Invalid)
        }
    }
}

fn print_report(dir: &Path, report: &CheckReport) {
    println!(
        "ok: wasm/{} {} ({})",
        report.name,
        report.version,
        dir.display()
    );
    println!("  {}", report.description);
    println!(
        "  module   {}, {}, sha256 {}",
        report.module_path.display(),
        bytes_text(report.module_bytes),
        report.module_sha256
    );
    println!(
        "  load     {:.1} ms ({})",
        report.load_time.as_secs_f64() * 1e3,
        if report.from_cache {
            "compiled code from the cache"
        } else {
            "compiled"
        }
    );
    println!(
        "  abi      version {ABI_VERSION}: memory, techpack_abi_version, techpack_alloc, techpack_run"
    );
    println!("  limits   {}", limits_text(&report.limits));
    match &report.example {
        None => println!("  example  none in the manifest"),
        Some(example) => {
            let verdict = if example.checked {
                "output equals `example.expect`"
            } else {
                "no `example.expect` to compare with"
            };
            println!(
                "  example  ran in {:.2} ms; {verdict}",
                example.duration.as_secs_f64() * 1e3
            );
            if !example.checked {
                println!("  output   {}", example.output);
            }
        }
    }
}

fn limits_text(limits: &Limits) -> String {
    let fuel = match limits.fuel {
        Some(fuel) => format!("fuel {fuel}"),
        None => "no fuel limit".to_string(),
    };
    format!(
        "timeout {:?}, memory {}, {fuel}, output {}, tables {} elements, {} log lines",
        limits.timeout,
        bytes_text(limits.memory_bytes),
        bytes_text(limits.output_bytes),
        limits.table_elements,
        limits.log_lines
    )
}
