//! `release schema`: the manifest's JSON Schema, generated from the types.

use super::Exit;
use crate::render;

pub(super) fn run() -> Exit {
    render::data(&crate::manifest::types::schema_json());
    Exit::Success
}
