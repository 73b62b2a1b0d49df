//! End-to-end tests: the real `wmill` binary against the real `wmill-server`.
//! Needs `cargo build -p wmill-server` first (the harness says so if it is missing).

mod errors;
mod harness;
mod help;
mod hostile;
mod profiles;
mod stories;
mod terminal;
