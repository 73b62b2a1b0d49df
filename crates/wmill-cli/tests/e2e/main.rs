//! End-to-end tests: the real `wmill` binary against the real `wmill-server`.
//! Needs `cargo build -p wmill-server` first (the harness says so if it is missing).

mod errors;
mod first_hour;
mod harness;
mod help;
mod hints;
mod hostile;
mod profiles;
mod readme;
mod scim;
mod stories;
mod terminal;
