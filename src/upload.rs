//! The resumable, parallel multipart upload pipeline: plan the parts, resume from a checkpoint,
//! send the missing parts with CRC-64 checked on each, complete, and confirm the object.
//!
//! Builds no HTTP requests itself (it calls the OSS client) and never prints (it emits events).

mod body;
pub mod checkpoint;
pub mod controller;
pub mod engine;
pub mod error;
pub mod follow;
mod oss_remote;
pub mod pages;
pub mod plan;
pub mod progress;
mod read_ahead;
pub mod remote;

#[cfg(test)]
mod tests;
