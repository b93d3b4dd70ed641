//! The only code that talks to AWS. Everything else works on plain data.

pub mod s3;
