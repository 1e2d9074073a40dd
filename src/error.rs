//! The crate error: one variant per subsystem, each wrapping that subsystem's own typed error.
//! It wraps the clients' errors ([`bak2rds_cloud::rds::RdsError`], [`bak2rds_cloud::oss::OssError`]),
//! which know nothing of it: the categories they report are the cloud crate's [`Category`].
//!
//! Callers decide what to do from [`Error::category`], never from message text. The CLI maps
//! [`Category::Refused`] to exit code 2 and everything else to exit code 1.

use std::path::PathBuf;

/// Result alias for library calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use bak2rds_cloud::Category;

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
    /// An RDS call, pre-flight fact gathering or task wait failed.
    #[error(transparent)]
    Rds(#[from] bak2rds_cloud::rds::error::RdsError),
    /// The OSS client failed; see [`bak2rds_cloud::oss::OssError`].
    #[error(transparent)]
    Oss(#[from] bak2rds_cloud::oss::OssError),
}

impl Error {
    /// The category callers match on.
    pub fn category(&self) -> Category {
        match self {
            Error::Io { .. } => Category::Io,
            Error::Config(_) => Category::Config,
            Error::Rds(e) => e.category(),
            Error::Oss(error) => error.category(),
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
