//! The local OSS + RDS emulator behind `bak2rds serve`.

pub mod rds;
pub mod restore;
