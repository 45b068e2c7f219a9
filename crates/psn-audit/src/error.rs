//! Errors, worded for the operator who has to act on them.

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log could not be written (disk full, I/O error) or its writer stopped. Nothing more is
    /// appended until the cause is fixed and the log reopened: exchanges must be refused meanwhile.
    #[error("audit log unavailable: {reason}; exchanges are refused until the log is writable again and the gateway restarted")]
    Unavailable {
        /// What failed, naming the file.
        reason: String,
    },
    /// The log was closed; appends after [`crate::AuditLog::close`] are refused.
    #[error("audit log is closed")]
    Closed,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The active segment is damaged in a way that is not a torn tail (a crash only ever tears the
    /// end): appending would hide it, so the log refuses to open. Run `psn audit verify`.
    #[error("{path}: {reason}; this is not a torn tail from a crash, so the log will not open: inspect it with `psn audit verify`")]
    Corrupt {
        /// The segment file.
        path: String,
        /// What is wrong and where.
        reason: String,
    },
    /// A record (or body) was refused before it reached the log.
    #[error("audit record refused: {0}")]
    InvalidRecord(String),
    /// The sealing identity is unusable.
    #[error("audit sealer: {0}")]
    Sealer(String),
    /// What was given to verify, show or export is not usable.
    #[error("{0}")]
    Input(String),
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}
