//! The integration tests of this crate, one test binary: each file beside this one is a
//! module here (a binary per file cost a CI run its disk). Run one file's tests with
//! `cargo test -p <crate> --test integration <file>::`.

mod auto_seal;
mod ha_join;
mod pipeline;
mod seal_migration;
mod token_semantics;
mod wrapping;
