//! Integration tests of `release`, run through the built binary against servers started
//! inside the test process (see `common`). They share one test binary, so the suite links
//! once rather than once per file.

mod common;

mod apply;
mod bak;
mod databases;
mod doctor;
mod identity;
mod plan;
mod s3_smoke;
mod schema;
mod validate_fixtures;
