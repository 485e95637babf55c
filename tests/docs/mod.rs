//! Issue 18: README.md and docs/*.md run as written. Every shell block runs against the
//! embedded server or a `mailtrip server` the doc starts (or, when it needs the internet or
//! a real account, has each `mailtrip` command parsed by mailtrip's own argument parser), and
//! every sample output is compared with a real run, times, ports, ids and dates redacted.
//! How a doc marks its blocks (`<!-- doctest: ... -->`) is described in `docs/testing.md`.

mod fixtures;
mod markdown;
mod redact;
mod session;

use std::path::Path;

use markdown::{Block, Kind};
use redact::Options;
use session::{Ran, Session};

/// What a doc's run found, for the report and for the failure message.
#[derive(Debug, Default)]
struct Tally {
    ran: Vec<String>,
    compared: Vec<String>,
    flags: Vec<String>,
    files: Vec<String>,
    skipped: Vec<String>,
    other: Vec<String>,
    failures: Vec<String>,
    /// With `SNAPSHOTS=overwrite`: (fence line, real output) of samples to rewrite.
    rewrites: Vec<(usize, String)>,
}

/// `SNAPSHOTS=overwrite` (as snapbox and trycmd spell it) rewrites samples from real runs.
fn overwrite() -> bool {
    std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Shell languages: run by default.
fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell" | "console")
}

/// A block of commands and their output, `$ ` before each command.
fn is_console(block: &Block) -> bool {
    block.lang == "console" || (block.lang == "text" && block.text.starts_with("$ "))
}

fn options(block: &Block) -> Options {
    Options {
        json: block.lang == "json",
        numbers: block.directive.numbers,
        unordered: block.directive.unordered,
    }
}

/// Whitespace runs and `\`-newlines as one space, to find a command in prose.
fn squash(s: &str) -> String {
    s.replace("\\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses one `mailtrip ARGS` as the binary would.
fn parses(argv: &[String]) -> Result<(), String> {
    let all = std::iter::once("mailtrip".to_string()).chain(argv.iter().cloned());
    mailtrip::cli::Args::try_parse_env_from(all)
        .map(|_| ())
        .map_err(|e| format!("`mailtrip {}`: {}", argv.join(" "), e.render()))
}

/// The `["mailtrip", ...]` argument lists of a Python block.
fn python_argv(text: &str) -> Vec<Vec<String>> {
    let re = regex::Regex::new(r#"\[\s*"mailtrip"\s*,([^\]]*)\]"#).unwrap();
    re.captures_iter(text)
        .map(|c| {
            let list = format!("[{}]", c[1].trim().trim_end_matches(','));
            serde_json::from_str::<Vec<String>>(&list)
                .unwrap_or_else(|e| panic!("a Python argument list that is not JSON: {list}: {e}"))
        })
        .collect()
}

impl Tally {
    fn fail(&mut self, at: &str, what: impl std::fmt::Display) {
        self.failures.push(format!("{at}: {what}"));
    }

    /// Compares a sample with what ran, and with `check_exit` its exit code with the
    /// block's `exit N` (0 without). With `SNAPSHOTS=overwrite`, a sample without cuts that
    /// differs is not a failure: the real output to write instead comes back.
    fn expect(
        &mut self,
        block: &Block,
        sample: &str,
        ran: &Ran,
        check_exit: bool,
    ) -> Option<String> {
        let d = &block.directive;
        if let Some(code) = ran.code.filter(|_| check_exit)
            && code != d.exit
        {
            self.fail(
                &block.at,
                format!(
                    "exit {code}, expected {}\nstdout:\n{}\nstderr:\n{}",
                    d.exit, ran.stdout, ran.stderr
                ),
            );
            return None;
        }
        let actual = if d.stderr { &ran.stderr } else { &ran.stdout };
        let cut = sample.contains('…') || sample.lines().any(|l| l.trim() == "...");
        match redact::compare(&block.at, sample, actual, options(block)) {
            Ok(()) => self.compared.push(block.at.clone()),
            // Only a sample without cuts, shown as it comes out, is rewritten whole.
            Err(_) if overwrite() && !cut => {
                self.compared.push(block.at.clone());
                return Some(actual.clone());
            }
            Err(diff) => self.fail(
                &block.at,
                format!("the sample is not what runs:\n{diff}\nreal output:\n{actual}"),
            ),
        }
        None
    }

    fn exit_ok(&mut self, at: &str, want: i32, ran: &Ran) -> bool {
        if ran.code == Some(want) {
            return true;
        }
        self.fail(
            at,
            format!(
                "exit {:?}, expected {want}\nstdout:\n{}\nstderr:\n{}",
                ran.code, ran.stdout, ran.stderr
            ),
        );
        false
    }
}

/// Runs a `console` block: each `$ command` (a trailing `&`: in the background, until its
/// first line), and compares the lines under it, when there are any, with what it printed.
fn console(session: &mut Session, tally: &mut Tally, block: &Block) -> Option<Ran> {
    let mut steps: Vec<(String, String)> = Vec::new();
    let mut continued = false;
    for line in block.text.lines() {
        if let Some(cmd) = line.strip_prefix("$ ").filter(|_| !continued) {
            steps.push((cmd.to_string(), String::new()));
            continued = cmd.ends_with('\\');
        } else if continued {
            let (cmd, _) = steps.last_mut().expect("a command");
            cmd.push('\n');
            cmd.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some((_, out)) = steps.last_mut() {
            out.push_str(line);
            out.push('\n');
        } else {
            tally.fail(&block.at, "a console block must start with `$ `");
            return None;
        }
    }
    let mut last = None;
    let count = steps.len();
    let exit_comment = regex::Regex::new(r"#\s*exit\s+(\d+)\s*$").unwrap();
    let mut rewritten = String::new();
    let mut changed = false;
    for (i, (cmd, sample)) in steps.into_iter().enumerate() {
        let background = cmd.trim_end().strip_suffix('&').map(str::trim_end);
        let ran = match background {
            Some(cmd) => session.start(&block.at, cmd, false, block.directive.replaces),
            None => session.run(&block.at, &cmd),
        };
        // `$ cmd   # exit 2` says what it exits with; else the block's `exit N` for the
        // last command, 0 for the others.
        let want = match exit_comment.captures(cmd.lines().last().unwrap_or_default()) {
            Some(c) => c[1].parse().expect("exit code"),
            None if i + 1 == count => block.directive.exit,
            None => 0,
        };
        if background.is_none() && !tally.exit_ok(&block.at, want, &ran) {
            return None;
        }
        rewritten.push_str(&format!("$ {cmd}\n"));
        let mut shown = sample.clone();
        if !sample.trim().is_empty() {
            let step = Block {
                at: format!(
                    "{} `$ {}`",
                    block.at,
                    cmd.lines().next().unwrap_or_default()
                ),
                directive: markdown::Directive {
                    exit: want,
                    ..block.directive.clone()
                },
                ..block.clone()
            };
            if let Some(real) = tally.expect(&step, &sample, &ran, false) {
                shown = real;
                changed = true;
            }
        }
        rewritten.push_str(&shown);
        last = Some(ran);
    }
    if changed {
        tally.rewrites.push((block.line, rewritten));
    }
    tally.ran.push(block.at.clone());
    last
}

/// Runs, checks or skips every block of one doc, in order.
fn run_doc(name: &str) -> Tally {
    let text = std::fs::read_to_string(root().join(name)).expect("doc");
    let blocks = markdown::blocks(name, &text);
    let mut session = Session::new(name);
    let mut tally = Tally::default();
    let mut last: Option<Ran> = None;
    for block in &blocks {
        let at = block.at.as_str();
        match &block.directive.kind {
            Kind::Skip(why) => tally.skipped.push(format!("{at} ({why})")),
            Kind::Flags(why) => {
                let argvs = if block.lang == "python" {
                    python_argv(&block.text)
                } else {
                    session.argv_of(at, &block.text)
                };
                if argvs.is_empty() {
                    tally.fail(at, "`flags`, but no mailtrip command in it");
                }
                for argv in argvs {
                    if let Err(e) = parses(&argv) {
                        tally.fail(at, e);
                    }
                }
                tally.flags.push(format!("{at} ({why})"));
            }
            Kind::File(path) => {
                session.write(path, &block.text);
                tally.files.push(format!("{at} ({path})"));
            }
            Kind::Config(path) | Kind::Faults(path) => {
                let parsed = if let Kind::Config(_) = block.directive.kind {
                    mailtrip::config::file::parse(&block.text, Path::new(at))
                        .map(|_| "a mailtrip config")
                        .map_err(|e| e.to_string())
                } else {
                    mailtrip::server::FaultSpec::from_toml(&block.text)
                        .map(|_| "a faults file")
                        .map_err(|e| e.to_string())
                };
                match parsed {
                    Ok(what) => tally.files.push(format!("{at} ({what})")),
                    Err(e) => tally.fail(at, format!("does not parse: {e}")),
                }
                if let Some(path) = path {
                    session.write(path, &block.text);
                }
            }
            Kind::Output => match &last {
                Some(ran) => {
                    if let Some(real) = tally.expect(block, &block.text, ran, false) {
                        tally.rewrites.push((block.line, real));
                    }
                }
                None => tally.fail(at, "`output`, but no block ran before it"),
            },
            Kind::OutputOf(cmd) => {
                if !squash(&block.prose).contains(&squash(cmd)) {
                    tally.fail(at, format!("the prose above does not show `{cmd}`"));
                    continue;
                }
                let ran = session.run(at, cmd);
                if let Some(real) = tally.expect(block, &block.text, &ran, true) {
                    tally.rewrites.push((block.line, real));
                }
            }
            Kind::Background { stderr } => {
                last = Some(session.start(at, &block.text, *stderr, block.directive.replaces));
                tally.ran.push(at.to_string());
            }
            Kind::Run | Kind::Default if is_console(block) => {
                if let Some(ran) = console(&mut session, &mut tally, block) {
                    last = Some(ran);
                }
            }
            Kind::Run | Kind::Default if is_shell(&block.lang) => {
                let ran = session.run(at, &block.text);
                if tally.exit_ok(at, block.directive.exit, &ran) {
                    tally.ran.push(at.to_string());
                }
                last = Some(ran);
            }
            Kind::Run if block.lang == "python" => {
                let script = format!("python3 - <<'DOCTEST_PY'\n{}DOCTEST_PY", block.text);
                let ran = session.run(at, &script);
                if tally.exit_ok(at, block.directive.exit, &ran) {
                    tally.ran.push(at.to_string());
                }
                last = Some(ran);
            }
            Kind::Run => tally.fail(at, format!("cannot run a `{}` block", block.lang)),
            Kind::Default if matches!(block.lang.as_str(), "text" | "json" | "xml" | "") => {
                tally.fail(
                    at,
                    "a sample nothing checks: mark it `<!-- doctest: output -->` (or `output of \
                     CMD`), or `skip: WHY`",
                );
            }
            Kind::Default => tally.other.push(format!("{at} ({})", block.lang)),
        }
    }
    if !tally.rewrites.is_empty() {
        let mut text = text.clone();
        for (line, body) in tally.rewrites.iter().rev() {
            text = markdown::replace_block(&text, *line, body);
        }
        std::fs::write(root().join(name), text).expect("rewrite the doc");
        println!(
            "{name}: {} samples rewritten from real runs",
            tally.rewrites.len()
        );
    }
    if !tally.failures.is_empty() {
        tally.failures.push(format!(
            "background servers' stderr:\n{}",
            session.background_log()
        ));
    }
    println!(
        "{name}: {} blocks: {} ran ({} samples compared), {} flag-checked, {} files, {} skipped, {} in other languages",
        blocks.len(),
        tally.ran.len(),
        tally.compared.len(),
        tally.flags.len(),
        tally.files.len(),
        tally.skipped.len(),
        tally.other.len()
    );
    for (what, list) in [
        ("flag-checked", &tally.flags),
        ("skipped", &tally.skipped),
        ("other", &tally.other),
    ] {
        for item in list {
            println!("  {what}: {item}");
        }
    }
    tally
}

fn assert_runs(name: &str) {
    let tally = run_doc(name);
    assert!(
        tally.failures.is_empty(),
        "{name} does not run as written ({} problems):\n\n{}",
        tally.failures.len() - 1,
        tally.failures.join("\n\n")
    );
}

#[test]
fn issue18_readme_runs_as_written() {
    assert_runs("README.md");
}

#[test]
fn issue18_json_md_samples_are_real_output() {
    assert_runs("docs/json.md");
}

#[test]
fn issue18_formats_md_samples_are_real_output() {
    assert_runs("docs/formats.md");
}

#[test]
fn issue18_api_md_runs_as_written() {
    assert_runs("docs/api.md");
}

/// Issue 18 item 8: `monitor --help` gives the embedded demo's own defaults, and README's demo
/// sample (run by `issue18_readme_runs_as_written`) shows the timeout help promises.
#[test]
fn issue18_item8_monitor_demo_timeout_is_what_help_says() {
    let out = crate::util::mailtrip_command()
        .args(["monitor", "--help"])
        .output()
        .expect("mailtrip monitor --help");
    let help = squash(&String::from_utf8_lossy(&out.stdout));
    assert!(
        help.contains("else 60s; 10s for the embedded demo"),
        "{help}"
    );
    assert!(
        help.contains("else 120s; 30s for the embedded demo"),
        "{help}"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    assert!(
        readme.contains(r#"route="embedded",from="alice@mailtrip.localhost",to="bob@mailtrip.localhost",interval_seconds="2",timeout_seconds="30"}"#),
        "README's monitor demo sample"
    );
}
