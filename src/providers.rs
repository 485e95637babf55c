//! Placeholder: replaced by the provider presets from the `diagnose` branch.

#[derive(Debug, Clone, serde::Serialize)]
pub struct Preset {
    pub name: &'static str,
    pub smtp: &'static str,
    pub imap: &'static str,
    pub expunge_archives: bool,
}

pub static PRESETS: &[Preset] = &[];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}
