//! `techpack users create|grant|show`. While a server holds the data directory, they ask it
//! over the control socket (`control`).

use clap::Subcommand;

use super::DataDir;
use crate::control::{Reply, Request};
use crate::exit::Exit;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user with starting credits; prints the bearer token alone, once
    Create {
        name: String,
        #[arg(long, default_value_t = 0)]
        credits: u64,
    },
    /// Add credits to a user's balance
    Grant {
        name: String,
        amount: u64,
        /// Makes the grant idempotent: the same id again has no further effect
        #[arg(long)]
        operation_id: Option<String>,
    },
    /// A user's balance and ledger entries
    Show { name: String },
}

pub async fn users(command: UsersCommand, data_dir: &DataDir) -> anyhow::Result<Exit> {
    let request = match &command {
        UsersCommand::Create { name, credits } => Request::UsersCreate {
            name: name.clone(),
            credits: *credits,
        },
        UsersCommand::Grant {
            name,
            amount,
            operation_id,
        } => Request::UsersGrant {
            name: name.clone(),
            amount: *amount,
            operation_id: operation_id.clone(),
        },
        UsersCommand::Show { name } => Request::UsersShow { name: name.clone() },
    };
    let reply = super::ask(data_dir, request).await?;
    match (command, reply) {
        (UsersCommand::Create { .. }, Reply::Token(token)) => println!("{token}"),
        (UsersCommand::Grant { .. }, Reply::Balance { name, balance, .. }) => {
            println!("{name}: {} available", balance.available);
        }
        (
            UsersCommand::Show { .. },
            Reply::Balance {
                name,
                balance,
                entries,
            },
        ) => {
            println!(
                "{name}: {} available, {} reserved, {} spent",
                balance.available, balance.pending, balance.posted
            );
            for entry in entries {
                println!(
                    "  {}  {:8} {:>6}  {}",
                    entry.seq,
                    entry.kind.as_str(),
                    entry.amount,
                    entry.reservation_id.as_deref().unwrap_or(&entry.op_id)
                );
            }
        }
        (_, other) => anyhow::bail!("unexpected answer from the server: {other:?}"),
    }
    Ok(Exit::Success)
}
