//! The `mailtrip` binary: parse arguments, run the command, exit with its code. Everything
//! else lives in the library (`mailtrip::cli`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match mailtrip::cli::Args::try_parse_env() {
        Ok(a) => a,
        Err(e) => return mailtrip::cli::parse_failed(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailtrip: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(mailtrip::cli::run(args))
}
