//! `mailtrip providers`: lists the built-in provider presets (hosts, ports, TLS modes, how to
//! authenticate, app-password page, quirks) as a table or as JSON.

use std::process::ExitCode;

use clap::Args as ClapArgs;

use crate::render::providers::{self as out, ProvidersFormat};

#[derive(Debug, Clone, ClapArgs)]
pub struct ProvidersArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ProvidersFormat::Human)]
    pub format: ProvidersFormat,
    /// Colour: auto (terminal and no NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = super::ColorChoice::Auto)]
    pub color: super::ColorChoice,
}

pub fn run(a: ProvidersArgs) -> ExitCode {
    let style = super::OutputArgs {
        format: crate::render::Format::Human,
        color: a.color,
        quiet: true,
        output: None,
        verbose: 0,
    }
    .style();
    let bytes = match a.format {
        ProvidersFormat::Human => out::human(crate::providers::PRESETS, style),
        ProvidersFormat::Json => out::json(crate::providers::PRESETS),
    };
    match super::emit(None, bytes.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            super::print_error(&e);
            ExitCode::from(2)
        }
    }
}
