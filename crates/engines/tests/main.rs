//! The integration tests of this crate, one test binary: each file beside this one is a
//! module here (a binary per file cost a CI run its disk). Run one file's tests with
//! `cargo test -p <crate> --test integration <file>::`.

mod common;
mod kv_v1;
mod kv_v2_data;
mod kv_v2_metadata;
mod kv_v2_versions;
mod transit;
mod transit_sign;
