//! The only code that talks to AWS. Everything else works on plain data.

pub mod aws;
pub mod rds;
pub mod s3;
pub mod sqlserver;
