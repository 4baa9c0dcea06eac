//! Pure key-ceremony logic for `sys/unseal`, `sys/generate-root` and `sys/rekey`: no I/O, no
//! clock, no runtime. The core keeps one [`ShareCollector`] per running operation, feeds it
//! the shares operators submit (decoded by [`decode_key_share`]), and acts when it is complete.

mod collector;
mod root_token;
mod share_encoding;

pub use collector::{CeremonyKind, Progress, ShareCollector};
pub use root_token::{root_token_decode, root_token_encode};
pub use share_encoding::{MAX_SHARE_LEN, MIN_SHARE_LEN, decode_key_share};
