//! What kind of failure an error is. Both clients' errors ([`crate::oss::OssError`],
//! [`crate::rds::RdsError`]) say theirs, so callers choose a reaction (retry, refuse, exit code)
//! without reading message text. The `bak2rds` crate error wraps these errors and reports the
//! same categories; nothing here knows of it.

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
