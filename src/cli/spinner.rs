//! The spinner people see on stderr while a command runs (indicatif): the current step and
//! the elapsed time, redrawn in place. Created only when `OutputArgs::show_progress` says so
//! (human format, stderr a terminal, not `--quiet`); stdout is never touched.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A spinner on stderr, or nothing (cheap to call either way). Clones share the line; call
/// [`Spinner::clear`] before printing the report.
#[derive(Clone)]
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// A spinner showing `message` when `show`, else a no-op.
    pub fn new(show: bool, message: &str) -> Spinner {
        if !show {
            return Spinner(None);
        }
        let style = ProgressStyle::with_template("{spinner} {msg} ({secs})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} s", s.elapsed().as_secs_f64());
            });
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style);
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(bar))
    }

    /// Shows a new step.
    pub fn set(&self, message: impl Into<String>) {
        if let Some(b) = &self.0 {
            b.set_message(message.into());
        }
    }

    /// Removes the spinner's line (before the report is printed).
    pub fn clear(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }

    /// Prints a line above the spinner (or plainly on stderr without one).
    pub fn note(&self, line: &str) {
        match &self.0 {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}
