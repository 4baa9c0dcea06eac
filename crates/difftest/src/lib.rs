//! Differential test of Tresor against the real OpenBao server.
//!
//! A seeded [`generate`](generate::generate) function builds *cases* — policies, a token
//! holding them and one request, often with a mangled raw path — and the
//! [`runner`] plays each case against an OpenBao dev server and a Tresor dev server, turns
//! both answers into access [`Decision`](classify::Decision)s and compares them. Differences
//! not listed in [`allowed`] fail, printed with the seed and case index that replay them:
//! `DIFFTEST_SEED=<seed> DIFFTEST_CASE=<index> cargo test -p tresor-difftest`.

pub mod allowed;
pub mod case;
pub mod classify;
pub mod error;
pub mod generate;
pub mod http;
pub mod rng;
pub mod runner;
pub mod server;

pub use error::DiffError;
