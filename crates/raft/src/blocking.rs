//! Runs redb and file work off the async executor.

use crate::RaftError;

/// Runs `f` on tokio's blocking pool and flattens a join failure into [`RaftError::Io`].
pub(crate) async fn run_blocking<T, F>(f: F) -> Result<T, RaftError>
where
    F: FnOnce() -> Result<T, RaftError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(res) => res,
        Err(e) => Err(RaftError::Io(format!("blocking task failed: {e}"))),
    }
}
