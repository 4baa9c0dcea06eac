//! `tresor-bench`: a bounded load generator that speaks Vault's HTTP API.
//!
//! It drives a Vault-compatible server (Tresor, Vault, OpenBao) — or etcd's v3 JSON gateway,
//! for comparison runs — with one of a few fixed [`Scenario`]s over keep-alive connections,
//! and reports throughput, errors by kind and latency quantiles from a log-linear
//! [`Histogram`].
//!
//! The pieces, from pure to I/O:
//! - [`cli`] parses and validates arguments into a [`BenchConfig`] (bounded runs only, loopback
//!   targets unless told otherwise);
//! - [`workload`] builds each scenario's requests, [`payload`] the bodies and key names;
//! - [`histogram`], [`stats`] and [`report`] turn outcomes into numbers;
//! - [`http`] sends requests and [`runner`] orchestrates probe, key preparation, warm-up and
//!   the measured phase.

pub mod cli;
pub mod config;
pub mod error;
pub mod histogram;
pub mod http;
pub mod payload;
pub mod report;
pub mod runner;
pub mod stats;
pub mod target;
pub mod workload;

pub use cli::Cli;
pub use config::{BenchConfig, KvVersion, OutputFormat, Scenario, Token};
pub use error::BenchError;
pub use histogram::Histogram;
pub use report::Report;
pub use runner::run;
