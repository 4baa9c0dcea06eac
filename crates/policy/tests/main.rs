//! The integration tests of this crate, one test binary: each file beside this one is a
//! module here (a binary per file cost a CI run its disk). Run one file's tests with
//! `cargo test -p <crate> --test integration <file>::`.

mod acl_merge_and_parse;
mod hostile_input;
mod prop_parse;
mod seed_admin_policy;
