//! Local files: which ones a manifest selects and what they contain.
//!
//! `select` expands the manifest's file sets into files with keys; `fingerprint` gives each
//! its size, times and digests, with `cache` sparing the reads of unchanged files.

pub mod bak;
pub mod cache;
pub mod digest;
pub mod fingerprint;
pub mod select;
