//! Transport shared by the OSS and RDS clients. Knows no OSS or RDS semantics.

pub mod limit;
