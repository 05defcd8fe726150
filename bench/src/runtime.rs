//! What every part of the bench shares: its error type and its runtime.

/// Any error of the bench; it ends the run with a message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The multi-thread runtime of the bench's parts that have one (the bench itself, the server
/// child): two worker threads.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
