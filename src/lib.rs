//! `release` puts research data into a Trusted Research Environment on AWS from a reviewed
//! manifest.
//!
//! The pipeline, one module per arrow:
//! 1. [`manifest`] reads and checks `release.yaml`;
//! 2. [`inventory`] lists and fingerprints the local files it selects;
//! 3. [`providers`] observe what exists in S3 (and, later, the databases);
//! 4. the plan compares the two; apply carries the plan out and writes a receipt.
//!
//! [`render`] owns everything printed; [`cli`] wires the commands together.

pub mod apply;
pub mod cli;
pub mod databases;
pub mod inventory;
pub mod manifest;
pub mod observe;
pub mod plan;
pub mod providers;
pub mod render;
pub mod verify;
