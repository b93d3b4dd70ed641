//! Local files: which ones a manifest selects and what they contain.

pub mod digest;
pub mod select;
