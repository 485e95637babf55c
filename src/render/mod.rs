//! Renderers: each output format turns a [`Report`] into bytes on a writer. The style
//! (colour, symbols) is decided once by the caller, never here.
//!
//! The binary's formats (feature `cli`), hidden from the library's API: a library user gets
//! the plain [`Report`] (Serialize) and picks its own format.

pub mod human;
pub mod json;
pub mod junit;
pub mod load;
pub mod load_html;
pub mod nagios;
pub mod nagios_range;
pub mod prometheus;
pub mod providers;
pub mod server;
pub mod text;
pub mod verify;
pub mod verify_human;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::report::Report;
use crate::report::verify::VerifyReport;

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

impl Style {
    /// `text` in the SGR colour `code` (`"1;31"`: bold red), or as it is without colour.
    pub(crate) fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A green ✓ or a red ✗.
    pub(crate) fn mark(self, ok: bool) -> String {
        if ok {
            self.paint("32", "✓")
        } else {
            self.paint("31", "✗")
        }
    }
}

/// One output format.
pub trait Render {
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
}

/// One output format for `verify`: a trait of its own, so [`Render`] for `check`'s Report
/// stays as it is. Here, below both `verify` (the machine formats and the dispatch) and
/// `verify_human`, so neither imports the other's trait.
pub trait RenderVerify {
    fn render(&self, report: &VerifyReport, out: &mut dyn Write) -> io::Result<()>;
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

#[cfg(test)]
pub(crate) mod samples;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomically_replaces_the_whole_file() {
        let dir =
            std::env::temp_dir().join(format!("mailtrip-render-{:016x}", rand::random::<u64>()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mailtrip.prom");
        write_atomically(&path, b"old\n").unwrap();
        write_atomically(&path, b"new contents\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents\n");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mailtrip.prom"], "temporary file left behind");

        let missing = dir.join("no-such-dir").join("x.prom");
        assert!(write_atomically(&missing, b"x").is_err());
        assert!(write_atomically(Path::new("/"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
