//! Tests of the local servers themselves, each driven by the real client that `release` uses
//! against it. They share one test binary, so the suite links once rather than once per file.

mod aws_api;
mod recorder;
mod sts;
mod tds;
