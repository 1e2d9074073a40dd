//! Writer of synthetic backups (placeholder until the writer lands).
