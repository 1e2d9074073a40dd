//! The crate error: one variant per subsystem, each wrapping that subsystem's own typed error.
//!
//! Callers decide what to do from [`Error::category`], never from message text. The CLI maps
//! [`Category::Refused`] to exit code 2 and everything else to exit code 1.

use std::path::PathBuf;

/// Result alias for library calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an error is, for callers that must choose a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Category {
    /// The backup, the pre-flight or the service said no: the user must change something.
    Refused,
    /// Local file system or input trouble.
    Io,
    /// A bad setting or argument.
    Config,
    /// The network or a server failed in a way a later retry may fix.
    Transient,
    /// A server answered with a definite error.
    Service,
    /// A broken invariant inside bak2rds.
    Bug,
}

/// Any error the library returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a local file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("open", "map", "write checkpoint"...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A setting or argument is invalid; the message says which and what to do.
    #[error("{0}")]
    Config(String),
    /// The OSS client failed; see [`crate::oss::OssError`].
    #[error(transparent)]
    Oss(#[from] crate::oss::OssError),
}

impl Error {
    /// The category callers match on.
    pub fn category(&self) -> Category {
        match self {
            Error::Io { .. } => Category::Io,
            Error::Config(_) => Category::Config,
            Error::Oss(error) => oss_category(error),
        }
    }

    /// Builds an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// OSS errors by category: bad settings and credentials are `Config`, transient failures
/// `Transient`, definite answers `Service`, requests we refused to send `Bug`.
fn oss_category(error: &crate::oss::OssError) -> Category {
    use crate::oss::OssError;
    match error {
        OssError::Config(_) | OssError::Credentials(_) => Category::Config,
        OssError::InvalidRequest { .. } => Category::Bug,
        _ if error.is_retryable() => Category::Transient,
        _ => Category::Service,
    }
}
