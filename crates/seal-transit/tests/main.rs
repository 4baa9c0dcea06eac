//! The integration tests of this crate, one test binary: each file beside this one is a
//! module here (a binary per file cost a CI run its disk). Run one file's tests with
//! `cargo test -p <crate> --test integration <file>::`.

mod common;
mod tls_options;
mod transit_server;
