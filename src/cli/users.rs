//! `techpack users create|grant|show`.

use clap::Subcommand;
use techpack_engine::credits::Ledger;

use super::DataDir;
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

pub fn users(command: UsersCommand, data_dir: &DataDir) -> anyhow::Result<Exit> {
    let engine = crate::wiring::open_engine(&data_dir.path(), Default::default())?;
    let users = crate::wiring::users(&engine);
    let ledger = Ledger::new(engine.store().as_ref());
    match command {
        UsersCommand::Create { name, credits } => {
            let (user, token) = users.create(&name)?;
            if credits > 0 {
                ledger.grant(&user.name, credits, &format!("create-user:{}", user.id))?;
            }
            // The token is shown once: the user must be on disk before it is.
            engine.store().flush()?;
            println!("{token}");
        }
        UsersCommand::Grant {
            name,
            amount,
            operation_id,
        } => {
            users.get(&name)?;
            let op = operation_id.unwrap_or_else(|| format!("grant:{}", uuid::Uuid::now_v7()));
            let balance = ledger.grant(&name, amount, &op)?;
            println!("{name}: {} available", balance.available);
        }
        UsersCommand::Show { name } => {
            users.get(&name)?;
            let balance = ledger.balance(&name)?;
            println!(
                "{name}: {} available, {} reserved, {} spent",
                balance.available, balance.pending, balance.posted
            );
            for entry in ledger.entries(&name)? {
                println!(
                    "  {}  {:8} {:>6}  {}",
                    entry.seq,
                    entry.kind.as_str(),
                    entry.amount,
                    entry.reservation_id.as_deref().unwrap_or(&entry.op_id)
                );
            }
        }
    }
    Ok(Exit::Success)
}
