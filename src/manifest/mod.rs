//! The manifest: what a release is, read from YAML, checked, and located.
//!
//! `load` is the entry point; `types` holds the format, `validate` and `rules` the checks,
//! `source` and `diagnostic` the locations shown to the user.

pub mod diagnostic;
pub mod load;
pub mod rules;
pub mod source;
pub mod template;
pub mod types;
pub mod validate;

pub use load::{LoadError, Loaded, load};
pub use types::Manifest;
