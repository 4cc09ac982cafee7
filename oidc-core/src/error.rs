//! The library's error type, returned by every fallible public call.

/// What went wrong in a call to the library (start-up, an admin operation, storage).
///
/// Protocol failures that a client must see (`invalid_grant`, `login_required`, …) are not this
/// type: the HTTP layer renders them as the specs say. This type is for the developer and operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; the message says which setting and why.
    #[error("configuration: {0}")]
    Config(String),
    /// The database refused or failed an operation.
    #[error("database: {0}")]
    Database(String),
    /// A cryptographic operation failed (key generation, signing, decryption of a stored key).
    #[error("cryptography: {0}")]
    Crypto(String),
    /// Input to an admin operation was rejected; the message says what to change.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The thing to create exists already (a username, a client id).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The actor does not hold the role this action needs, or has not met its precondition (a
    /// verified caller).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The database could not be reached (down, restarting, network cut); the request changed
    /// nothing and may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A background task failed to complete (a panic in a blocking task, a closed runtime).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match e {
            D::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Error::Unavailable(e.to_string()),
            _ => Error::Database(e.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        // No connection could be had in time: the database is down or unreachable.
        Error::Unavailable(e.to_string())
    }
}

impl Error {
    /// Whether the failure is the database being out of reach (worth a 503 and a retry), as
    /// opposed to a refused or broken operation.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

impl From<josekit::JoseError> for Error {
    fn from(e: josekit::JoseError) -> Self {
        Error::Crypto(e.to_string())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(e.to_string())
    }
}
