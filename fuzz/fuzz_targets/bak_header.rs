//! Feeds arbitrary bytes to the `.bak` header parser: it must return, never panic.
//!
//! The parser's file is compiled here on its own, rather than through the `release` crate, so
//! that a fuzz build does not instrument the AWS SDK and everything else `release` links;
//! `src/inventory/bak.rs` depends only on `std`, `thiserror` and `jiff` for that reason.

#![no_main]

#[allow(dead_code)]
#[path = "../../src/inventory/bak.rs"]
mod bak;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Formatting the outcome walks every field and message as well.
    match bak::parse_header(data) {
        Ok(header) => drop(format!("{header:?} {}", header.backup_kind)),
        Err(problem) => drop(problem.to_string()),
    }
});
