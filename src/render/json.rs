//! `--format json`: the Report as one JSON object on one line.

use std::io::{self, Write};

use super::Render;
use crate::report::Report;

/// The JSON renderer.
pub struct Json;

impl Render for Json {
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let json = serde_json::to_string(report)?;
        writeln!(out, "{}", super::text::clean_json(&json))
    }
}
