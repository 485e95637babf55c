//! Renderers: each output format turns a [`Report`](crate::report::Report) into bytes on a
//! writer. The style (colour, symbols) is decided once by the caller, never here.

pub mod human;
pub mod json;
pub mod junit;
pub mod nagios;
pub mod prometheus;
pub mod server;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

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
    /// Prometheus text exposition, for node_exporter's textfile collector.
    Prometheus,
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
        Format::Prometheus => Box::new(prometheus::Prometheus),
    }
}

/// Replaces `path` with `bytes` so that a reader (node_exporter's textfile collector, a CI
/// job) sees either the old file or the whole new one, never a partial write: the bytes go to
/// a temporary file in the same directory (hidden, not ending in `.prom`), are fsynced, and
/// the file is renamed over `path`. The directory is then synced, best effort.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let tmp = dir.join(tmp_name);

    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
