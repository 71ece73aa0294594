//! Entries of a model listing, as the gateway publishes them.

/// One public model name and who serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The name clients ask for.
    pub id: String,
    /// The provider that serves it, or `lmrelay` for a route.
    pub owned_by: String,
    /// When the entry appeared (Unix seconds).
    pub created_secs: u64,
}
