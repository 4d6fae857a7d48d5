//! Group commit: many transitions waiting for durability share one fsync.
//!
//! Whoever needs durability sends a ticket; a dedicated thread takes every ticket waiting,
//! flushes once, and answers them all. Under load one fsync covers many steps; a lone step
//! pays one fsync.

use std::sync::mpsc;
use std::sync::{Arc, Weak};

use tokio::sync::oneshot;

use crate::EngineError;
use crate::store::{Durability, StateStore};

type Ticket = oneshot::Sender<Result<(), String>>;

pub(crate) struct Flusher {
    tickets: Option<std::sync::Mutex<mpsc::Sender<Ticket>>>,
}

impl Flusher {
    pub fn new(store: Arc<dyn StateStore>, durability: Durability) -> Flusher {
        if durability == Durability::Relaxed {
            return Flusher { tickets: None };
        }
        // A weak handle, so dropping the engine closes the store at once (releasing its lock)
        // instead of whenever this thread notices.
        let store: Weak<dyn StateStore> = Arc::downgrade(&store);
        let (tx, rx) = mpsc::channel::<Ticket>();
        std::thread::Builder::new()
            .name("techpack-flush".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let result = match store.upgrade() {
                        Some(store) => store.flush().map_err(|e| e.to_string()),
                        None => Err("the store is closed".to_string()),
                    };
                    for ticket in waiting {
                        let _ = ticket.send(result.clone());
                    }
                }
            })
            .expect("spawn flush thread");
        Flusher {
            tickets: Some(std::sync::Mutex::new(tx)),
        }
    }

    /// Returns once everything committed before the call is on disk (`sync`), or at once
    /// (`relaxed`).
    pub async fn durable(&self) -> Result<(), EngineError> {
        let Some(tickets) = &self.tickets else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        tickets
            .lock()
            .expect("flush channel lock")
            .send(tx)
            .map_err(|_| EngineError::Store("flush thread stopped".into()))?;
        rx.await
            .map_err(|_| EngineError::Store("flush thread stopped".into()))?
            .map_err(EngineError::Store)
    }
}
