//! Completion callbacks: a run started over HTTP with `callback: {url}` has its end POSTed
//! to that URL, signed with its user's webhook secret, at least once.
//!
//! The engine's store queues a delivery in the transaction of the run's final state; this
//! part decides which URLs may be called and sends the deliveries.
//!
//! # Layout
//! - `policy`: the operator's rules against SSRF ([`CallbackPolicy`]: allowed hosts, https,
//!   no internal addresses), checked when a run is started and again at every attempt.
//! - `signature`: the HMAC-SHA256 signature and its headers.
//! - `payload`: the JSON body that reports a run's end.
//! - `sender`: the loop that claims due deliveries, attempts them and saves each attempt.

mod payload;
mod policy;
mod sender;
mod signature;

pub use policy::{AllowedHost, CallbackPolicy, Refused};
pub use sender::Sender;
