//! `techpack logs [--run RUN]`: the AI operation log (from the server over the control
//! socket while one holds the data directory).

use super::{DataDir, summary};
use crate::control::{Reply, Request};
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Only the calls of this run
    #[arg(long)]
    run: Option<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data_dir: DataDir,
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<Exit> {
    let request = Request::Logs {
        run: args.run.clone(),
    };
    let Reply::Logs(operations) = super::ask(&args.data_dir, request).await? else {
        anyhow::bail!("unexpected answer from the server");
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&operations)?);
        return Ok(Exit::Success);
    }
    if operations.is_empty() {
        println!("no AI operations recorded");
    }
    for op in operations {
        println!(
            "{}  {:18} {:7} {:22} {:6} {:>8}  tokens {:>6}/{:<6}  {}{}",
            op.id,
            op.operation,
            op.provider,
            op.model,
            op.status,
            summary::format_ms(op.latency_ms),
            op.usage.prompt_tokens,
            op.usage.completion_tokens,
            op.step_id.as_deref().unwrap_or("-"),
            op.error
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(Exit::Success)
}
