//! The crate's one error type.

/// Why a catalogue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The search library failed: an I/O error in the index directory, an index written with a
    /// different schema, a corrupt segment.
    #[error("catalogue index: {0}")]
    Index(#[from] tantivy::TantivyError),

    /// The index directory could not be opened.
    #[error("catalogue index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),

    /// A listing the index cannot hold (an empty service id).
    #[error("invalid listing: {0}")]
    InvalidListing(String),

    /// A page that starts beyond the deepest page a search may ask for.
    #[error("page out of range: offset {offset} is beyond the maximum of {max}; narrow the search instead")]
    PageOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The largest offset a search accepts.
        max: u64,
    },

    /// A thread panicked while holding the index writer, which may have left it half-updated.
    #[error("catalogue index writer is unusable: a previous update panicked")]
    WriterPoisoned,
}
