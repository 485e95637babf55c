//! What both benchmark binaries share: the parts a `cargo bench --bench NAME [word…]` call
//! asked for, and the runtime the parts run on.

/// Whether a part named `name` runs: every part when no filter word was given (`cargo bench`
/// itself passes `--bench`), else those whose name contains one of the words.
pub fn wanted() -> impl Fn(&str) -> bool {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    move |name| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()))
}

/// A multi-thread runtime for the async parts.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
