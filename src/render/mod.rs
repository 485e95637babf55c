//! Renderers: each output format turns a [`Report`](crate::report::Report) into bytes on a
//! writer. The style (colour, symbols) is decided once by the caller, never here.

pub mod human;
pub mod json;
pub mod junit;
pub mod nagios;
pub mod server;

use std::io::{self, Write};

use crate::report::Report;

/// Output formats for `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per phase, then the verdict.
    Human,
    /// The Report as one JSON object (`"schema": 1`).
    Json,
    /// JUnit XML: one testcase per phase plus `verdict`, for CI test reports.
    Junit,
    /// One Nagios/Icinga plugin line with performance data; exit 0/1/2/3.
    Nagios,
}

/// How human output looks; decided once from `is_terminal`, `NO_COLOR` and `--color`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

/// One output format.
pub trait Render {
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
}

/// The renderer for a format, with no Nagios thresholds.
pub fn renderer(format: Format, style: Style) -> Box<dyn Render> {
    renderer_with(format, style, nagios::Nagios::default())
}

/// The renderer for a format; `thresholds` apply to `Format::Nagios` only.
pub fn renderer_with(format: Format, style: Style, thresholds: nagios::Nagios) -> Box<dyn Render> {
    match format {
        Format::Human => Box::new(human::Human { style }),
        Format::Json => Box::new(json::Json),
        Format::Junit => Box::new(junit::Junit),
        Format::Nagios => Box::new(thresholds),
    }
}
