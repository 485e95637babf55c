//! Issue 18 item 8: `fixtures/output/{format}-{delivered,auth_failed}.txt`, which README and
//! docs/formats.md call exact examples, are real runs of the binary, kept so (times, ports,
//! ids and dates aside): `SNAPSHOTS=overwrite` writes new runs over them.

use super::redact::{self, Options};
use super::session::Session;
use super::{overwrite, root};

const FORMATS: [&str; 5] = ["human", "json", "junit", "nagios", "prometheus"];

/// Gmail's answer to an account password where an app password is needed.
const GMAIL_534: &str = "534-5.7.9 Application-specific password required. For more information, go to\\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor mailtrip-embedded - gsmtp";

#[test]
fn issue18_fixtures_output_is_real_output() {
    let mut session = Session::new("fixtures");
    // delivered: no account, the embedded server. auth_failed: a `mailtrip server` that
    // answers SMTP AUTH as Gmail does to an account password (the IMAP login works).
    session.start(
        "fixtures",
        &format!(
            "mailtrip server --profile gmail --user me@gmail.test:pw --submission-port 2587 \
             --imaps-port 2993 --ca-out /tmp/ca.pem --fault 'smtp_auth_reject=\"{GMAIL_534}\"'"
        ),
        false,
        false,
    );
    let account = "--smtp smtp+starttls://localhost:2587 --imap imaps://localhost:2993 \
                   --ca-file /tmp/ca.pem --user me@gmail.test";
    let mut problems = Vec::new();
    for (case, args, exit) in [("delivered", "", 0), ("auth_failed", account, 2)] {
        for format in FORMATS {
            let cmd = format!(
                "MAILTRIP_PASSWORD=pw mailtrip check {args} --format {format} -w 10s -c 30s"
            );
            let ran = session.run(case, &cmd);
            let path = root().join(format!("fixtures/output/{format}-{case}.txt"));
            if ran.code != Some(exit) {
                problems.push(format!(
                    "`{cmd}` exited {:?}, not {exit}:\n{}{}",
                    ran.code, ran.stdout, ran.stderr
                ));
                continue;
            }
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            let opts = Options {
                json: format == "json",
                ..Options::default()
            };
            if let Err(diff) = redact::compare(&path.display().to_string(), &old, &ran.stdout, opts)
            {
                if overwrite() {
                    std::fs::write(&path, &ran.stdout).expect("write the fixture");
                } else {
                    problems.push(format!(
                        "{} is not what `{cmd}` prints (SNAPSHOTS=overwrite rewrites it):\n{diff}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
