//! [`Verify`]: connect, TLS and log in once on SMTP and on IMAP, concurrently and sending
//! nothing, with the certificate, the advertised capabilities and the `\Junk` folder checked.
//! Built from the same connection steps as the round trip (`net`, `smtp`, `imap`).

use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::Extension;
use tokio::time::{Instant, timeout};

use super::net::{self, TlsTcp};
use super::{imap, smtp};
use crate::config::{Account, Security};
use crate::diagnose::{CertProblem, Code, Diagnosis};
use crate::report::SCHEMA;
use crate::report::verify::{
    CertificateInfo, EXPIRY_WARNING_DAYS, Feature, ProtocolReport, Status, Step, StepError,
    StepReport, VerifyReport,
};

/// Checks that an account's credentials, TLS and capabilities work, without sending mail.
///
/// One AUTH per protocol per run, never retried: providers lock accounts after repeated
/// failures.
///
/// ```no_run
/// use mailtrip::server::{ServerConfig, TestServer};
/// use mailtrip::{Account, Verify};
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestServer::start(ServerConfig::default().with_user("a@test.local", "pw")).await?;
/// let report = Verify::new(Account::embedded(&server, "a@test.local", "pw")).run().await;
/// assert_eq!(report.exit_code(), 0, "{report:#?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Verify {
    account: Account,
    timeout: Duration,
}

impl Verify {
    /// A check of `account`'s SMTP and IMAP endpoints.
    pub fn new(account: Account) -> Verify {
        Verify {
            account,
            timeout: Duration::from_secs(15),
        }
    }

    /// The budget for the whole run, both protocols at once (default 15 s, at least 100 ms);
    /// a step still waiting when it runs out fails with a timeout.
    pub fn timeout(mut self, timeout: Duration) -> Verify {
        self.timeout = timeout;
        self
    }

    /// Runs both checks concurrently. Never fails: failures are in the report.
    pub async fn run(self) -> VerifyReport {
        let started = Instant::now();
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let step = self.timeout.max(Duration::from_millis(100));
        // The timeout is a budget for the whole run, not for each connect or command.
        let deadline = started + step;
        let account = &self.account;
        let (smtp, (imap, junk)) = tokio::join!(
            verify_smtp(account, step, deadline),
            verify_imap(account, step, deadline)
        );
        let mut report = VerifyReport {
            schema: SCHEMA,
            status: Status::Failed,
            user: account.user.clone(),
            auth: account.credential.method().into(),
            oauth2: account.credential.token_source().and_then(|s| s.info()),
            provider: account.provider.clone(),
            embedded: false,
            started_at,
            total_ms: 0.0,
            smtp,
            imap,
            junk_folder: junk.clone().flatten(),
            junk_checked: junk.is_some(),
            warnings: Vec::new(),
            tls_verified: !account.tls.insecure_skip_verify,
        };
        report.warnings = warnings(&report, account);
        report.status = report.derive_status();
        report.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        report
    }
}

/// Everything a finished run warns about, in report order.
fn warnings(r: &VerifyReport, account: &Account) -> Vec<String> {
    let mut w = Vec::new();
    if account.tls.insecure_skip_verify {
        w.push(crate::report::INSECURE_WARNING.to_string());
    }
    for (name, p) in r.protocols() {
        let label = name.to_ascii_uppercase();
        if p.endpoint.starts_with(&format!("{name}://")) {
            w.push(format!(
                "the {label} connection is not encrypted ({}); credentials travel in plaintext",
                p.endpoint
            ));
        }
        if let Some(c) = &p.certificate
            && c.days_left < EXPIRY_WARNING_DAYS
            && c.days_left >= 0
        {
            w.push(format!(
                "the {label} server's certificate expires in {} day{} ({})",
                c.days_left,
                if c.days_left == 1 { "" } else { "s" },
                c.not_after
            ));
        }
    }
    if r.imap.ok {
        let missing = |name: &str| r.imap.feature(name) == Some(false);
        if missing("IDLE") {
            w.push(
                "the IMAP server does not offer IDLE: `mailtrip check` falls back to polling, \
                 so arrival times are coarser"
                    .into(),
            );
        }
        if missing("UIDPLUS") && missing("MOVE") {
            w.push(
                "the IMAP server offers neither UIDPLUS nor MOVE: `mailtrip check` cannot delete \
                 its probe without touching other mail, so it leaves it"
                    .into(),
            );
        } else if missing("UIDPLUS") {
            w.push(
                "the IMAP server does not offer UIDPLUS: `mailtrip check` can only clean up by \
                 moving its probe to Trash"
                    .into(),
            );
        }
        if missing("SPECIAL-USE") {
            w.push(
                "the IMAP server does not offer SPECIAL-USE: the spam folder cannot be identified"
                    .into(),
            );
        }
        if r.junk_checked && r.junk_folder.is_none() {
            w.push(
                "no folder has the \\Junk SPECIAL-USE attribute: `mailtrip check` cannot tell \
                 spam placement from non-delivery"
                    .into(),
            );
        }
    }
    w
}

/// Collects one protocol's timed steps.
struct Steps {
    r: ProtocolReport,
    /// The step under way and when it started (for a run that reaches the deadline in it).
    current: Option<(Step, Instant)>,
    /// Every step passed; only goodbyes (QUIT, LIST for `\Junk`, LOGOUT) remain.
    done: bool,
}

/// A step failed and was recorded; stop this protocol.
struct Stop;

impl Steps {
    fn new(endpoint: String) -> Steps {
        Steps {
            r: ProtocolReport::new(endpoint),
            current: None,
            done: false,
        }
    }

    /// Starts a step; returns its start time.
    fn begin(&mut self, step: Step) -> Instant {
        let t = Instant::now();
        self.current = Some((step, t));
        t
    }

    /// The whole command's budget ran out: the step under way failed with a timeout (unless
    /// every step had passed already).
    fn out_of_time(&mut self, ep: &crate::config::Endpoint, budget: Duration) {
        if self.done {
            self.r.ok = true;
            return;
        }
        let Some((step, t)) = self.current else {
            return;
        };
        let d = crate::diagnose::transport(
            Code::Timeout,
            net::protocol(ep),
            &ep.authority(),
            &format!(
                "no answer within {:.1} s, the --timeout for the whole check",
                budget.as_secs_f64()
            ),
        );
        self.fail(step, t, d);
    }

    fn ok(&mut self, step: Step, t: Instant, detail: String) {
        tracing::debug!(endpoint = %self.r.endpoint, %step, %detail, "step ok");
        self.r.steps.push(StepReport {
            name: step,
            ok: true,
            ms: t.elapsed().as_secs_f64() * 1000.0,
            detail,
        });
    }

    fn fail(&mut self, step: Step, t: Instant, diagnosis: Diagnosis) -> Stop {
        let detail = match &diagnosis.server_text {
            Some(text) => format!("{} ({})", diagnosis.summary, text.replace('\n', " ")),
            None => diagnosis.summary.clone(),
        };
        tracing::debug!(endpoint = %self.r.endpoint, %step, code = %diagnosis.code, "step failed");
        self.r.steps.push(StepReport {
            name: step,
            ok: false,
            ms: t.elapsed().as_secs_f64() * 1000.0,
            detail,
        });
        self.r.error = Some(StepError { step, diagnosis });
        Stop
    }

    fn feature(&mut self, name: &str, present: bool, detail: Option<String>) {
        self.r.features.push(Feature {
            name: name.to_string(),
            present,
            detail,
        });
    }

    /// After a certificate failure, looks at the certificate anyway (a second handshake that
    /// does not verify and sends nothing else) so the report can say what it names and when
    /// it expires.
    async fn inspect_rejected_certificate(
        &mut self,
        account: &Account,
        step: Duration,
        deadline: Instant,
    ) {
        let Some(e) = &self.r.error else { return };
        if e.diagnosis.code != Code::TlsCertificateInvalid {
            return;
        }
        let problem =
            CertProblem::from_tls_error(&e.diagnosis.summary).unwrap_or(CertProblem::Other);
        let mut insecure = account.clone();
        insecure.tls.insecure_skip_verify = true;
        let smtp = self.r.endpoint == account.smtp.to_string();
        let deadline = deadline.min(Instant::now() + step * 2);
        let der = if smtp {
            tokio::time::timeout_at(deadline, smtp_certificate(&insecure, step)).await
        } else {
            tokio::time::timeout_at(deadline, imap_certificate(&insecure, step)).await
        };
        if let Ok(Some(der)) = der {
            self.r.certificate = certificate_info(&der, false, Some(problem));
        }
    }
}

fn tls_note(account: &Account) -> &'static str {
    if account.tls.insecure_skip_verify {
        "certificate NOT verified"
    } else {
        "certificate verified"
    }
}

/// The DER of the peer certificate on an implicit-TLS stream.
fn peer_der(tls: &TlsTcp) -> Option<Vec<u8>> {
    tls.ssl().peer_certificate()?.to_der().ok()
}

/// What a step may still wait: the rest of the budget (each step's own timeout then names
/// what was pending), at least 100 ms.
fn limit(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}

/// Past the deadline, the steps' own timeouts have fired; this only catches what has none.
const BACKSTOP: Duration = Duration::from_millis(250);

async fn verify_smtp(account: &Account, step: Duration, deadline: Instant) -> ProtocolReport {
    let mut s = Steps::new(account.smtp.to_string());
    let steps = smtp_steps(&mut s, account, deadline);
    match tokio::time::timeout_at(deadline + BACKSTOP, steps).await {
        Ok(Ok(())) => s.r.ok = true,
        Ok(Err(Stop)) => {
            s.inspect_rejected_certificate(account, step, deadline)
                .await
        }
        Err(_) => s.out_of_time(&account.smtp, step),
    }
    s.r
}

async fn smtp_steps(s: &mut Steps, account: &Account, deadline: Instant) -> Result<(), Stop> {
    let ep = &account.smtp;
    let left = || limit(deadline);
    let t = s.begin(Step::Connect);
    net::check_plaintext(account, ep).map_err(|d| s.fail(Step::Connect, t, d))?;
    let tcp = net::tcp_connect(ep, left())
        .await
        .map_err(|d| s.fail(Step::Connect, t, d))?;
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| ep.authority());
    let verified = !account.tls.insecure_skip_verify;
    let mut der = None;
    let (mut conn, mut plain) = if ep.security == Security::Tls {
        s.ok(Step::Connect, t, format!("connected to {peer}"));
        let t = s.begin(Step::Tls);
        let tls = net::implicit_tls(&account.tls, ep, tcp, left(), "smtp+starttls")
            .await
            .map_err(|d| s.fail(Step::Tls, t, d))?;
        der = peer_der(&tls);
        let conn = smtp::greet_tls(tls, account, left())
            .await
            .map_err(|d| s.fail(Step::Tls, t, d))?;
        s.ok(
            Step::Tls,
            t,
            format!(
                "implicit TLS, {}; EHLO from {}",
                tls_note(account),
                conn.server_info().name()
            ),
        );
        (conn, None)
    } else {
        let (conn, plain) = smtp::greet_plain(tcp, account, left())
            .await
            .map_err(|d| s.fail(Step::Connect, t, d))?;
        s.ok(
            Step::Connect,
            t,
            format!(
                "connected to {peer}; EHLO from {}",
                conn.server_info().name()
            ),
        );
        (conn, Some(plain))
    };
    let starttls_offered = conn.server_info().supports_feature(Extension::StartTls);
    if ep.security == Security::StartTls
        && let Some(p) = plain.take()
    {
        let t = s.begin(Step::Tls);
        der = smtp::starttls(&mut conn, p, account, left())
            .await
            .map_err(|d| s.fail(Step::Tls, t, d))?;
        s.ok(Step::Tls, t, format!("STARTTLS, {}", tls_note(account)));
    }
    if let Some(der) = der {
        s.r.certificate = certificate_info(&der, verified, None);
    }

    // What the server offers now (after TLS): one more EHLO, whose lines lettre keeps to itself.
    let ehlo = timeout(left(), conn.command(Ehlo::new(smtp::client_id()))).await;
    if let Ok(Ok(resp)) = ehlo {
        s.r.capabilities = resp.message().skip(1).map(str::to_string).collect();
    }
    smtp_features(s, &conn, ep.security, starttls_offered);

    let t = s.begin(Step::Auth);
    let detail = smtp::authenticate(&mut conn, plain, account, left())
        .await
        .map_err(|d| s.fail(Step::Auth, t, d))?;
    s.ok(Step::Auth, t, detail);
    s.done = true;
    let _ = timeout(Duration::from_secs(2), conn.quit()).await;
    Ok(())
}

/// AUTH mechanisms, SIZE and STARTTLS, from the raw EHLO keywords (or lettre's parse of them).
fn smtp_features(
    s: &mut Steps,
    conn: &AsyncSmtpConnection,
    security: Security,
    starttls_offered: bool,
) {
    let keyword = |name: &str| {
        s.r.capabilities.iter().find_map(|line| {
            let mut words = line.split_whitespace();
            let first = words.next()?;
            first
                .eq_ignore_ascii_case(name)
                .then(|| words.collect::<Vec<_>>().join(" "))
        })
    };
    let auth = keyword("AUTH").filter(|m| !m.is_empty()).or_else(|| {
        let info = conn.server_info().to_string();
        info.contains("AUTH").then_some(info)
    });
    let size = keyword("SIZE");
    let size_detail = size.as_ref().map(|n| match n.parse::<u64>() {
        Ok(0) => "no limit announced".to_string(),
        Ok(b) => format!("{b} bytes"),
        Err(_) => n.clone(),
    });
    s.feature(
        "AUTH",
        auth.is_some(),
        auth.clone().or(Some("no mechanisms offered".into())),
    );
    s.feature("SIZE", size.is_some(), size_detail);
    match security {
        Security::StartTls => s.feature("STARTTLS", starttls_offered, None),
        Security::Tls => s.feature("STARTTLS", false, Some("not needed: implicit TLS".into())),
        Security::Plain => s.feature(
            "STARTTLS",
            starttls_offered,
            starttls_offered.then(|| "offered but not used (plaintext URL)".into()),
        ),
    }
}

async fn verify_imap(
    account: &Account,
    step: Duration,
    deadline: Instant,
) -> (ProtocolReport, Option<Option<String>>) {
    let mut s = Steps::new(account.imap.to_string());
    let mut junk = None;
    let steps = imap_steps(&mut s, account, deadline);
    match tokio::time::timeout_at(deadline + BACKSTOP, steps).await {
        Ok(Ok(j)) => {
            s.r.ok = true;
            junk = Some(j);
        }
        Ok(Err(Stop)) => {
            s.inspect_rejected_certificate(account, step, deadline)
                .await
        }
        Err(_) => s.out_of_time(&account.imap, step),
    }
    (s.r, junk)
}

/// Returns the `\Junk` folder, if any.
async fn imap_steps(
    s: &mut Steps,
    account: &Account,
    deadline: Instant,
) -> Result<Option<String>, Stop> {
    let ep = &account.imap;
    let left = || limit(deadline);
    let t = s.begin(Step::Connect);
    net::check_plaintext(account, ep).map_err(|d| s.fail(Step::Connect, t, d))?;
    let tcp = net::tcp_connect(ep, left())
        .await
        .map_err(|d| s.fail(Step::Connect, t, d))?;
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| ep.authority());
    let verified = !account.tls.insecure_skip_verify;
    let client = if ep.security == Security::Tls {
        s.ok(Step::Connect, t, format!("connected to {peer}"));
        let t = s.begin(Step::Tls);
        let tls = net::implicit_tls(&account.tls, ep, tcp, left(), "imap+starttls")
            .await
            .map_err(|d| s.fail(Step::Tls, t, d))?;
        let der = peer_der(&tls);
        let mut client = imap::client(imap::Stream::Tls(Box::new(tls)));
        let banner = imap::greet(&mut client, account, left())
            .await
            .map_err(|d| s.fail(Step::Tls, t, d))?;
        if let Some(der) = der {
            s.r.certificate = certificate_info(&der, verified, None);
        }
        s.ok(
            Step::Tls,
            t,
            format!("implicit TLS, {}; {}", tls_note(account), banner.trim()),
        );
        client
    } else {
        let mut client = imap::client(imap::Stream::Plain(tcp));
        let banner = imap::greet(&mut client, account, left())
            .await
            .map_err(|d| s.fail(Step::Connect, t, d))?;
        s.ok(
            Step::Connect,
            t,
            format!("connected to {peer}; {}", banner.trim()),
        );
        if ep.security == Security::StartTls {
            let t = s.begin(Step::Tls);
            let tls = imap::starttls(client, account, left())
                .await
                .map_err(|d| s.fail(Step::Tls, t, d))?;
            if let Some(der) = peer_der(&tls) {
                s.r.certificate = certificate_info(&der, verified, None);
            }
            s.ok(Step::Tls, t, format!("STARTTLS, {}", tls_note(account)));
            imap::client(imap::Stream::Tls(Box::new(tls)))
        } else {
            client
        }
    };

    let t = s.begin(Step::Auth);
    let mut session = imap::login(client, account, left())
        .await
        .map_err(|d| s.fail(Step::Auth, t, d))?;
    let (_, all) = imap::capabilities(&mut session, account, left())
        .await
        .map_err(|d| s.fail(Step::Auth, t, d))?;
    s.ok(
        Step::Auth,
        t,
        format!("{} as {}", imap::login_verb(account), account.user),
    );
    let has = |name: &str| all.iter().any(|c| c.eq_ignore_ascii_case(name));
    for (name, why) in [
        ("IDLE", "instant arrival notice"),
        ("UIDPLUS", "deleting exactly the probe (UID EXPUNGE)"),
        ("MOVE", "cleaning up where EXPUNGE archives"),
        ("SPECIAL-USE", "finding the spam folder"),
    ] {
        let present = has(name);
        s.feature(
            name,
            present,
            (!present).then(|| format!("needed for {why}")),
        );
    }
    s.r.capabilities = all;
    s.done = true;
    let junk = match imap::folders(&mut session, left()).await {
        Ok(f) => f.junk,
        Err(e) => {
            tracing::debug!(error = %e, "LIST failed");
            None
        }
    };
    imap::logout(Some(session)).await;
    Ok(junk)
}

/// The certificate an SMTP endpoint presents, fetched without verifying it (and without AUTH).
async fn smtp_certificate(insecure: &Account, step: Duration) -> Option<Vec<u8>> {
    let ep = &insecure.smtp;
    let tcp = net::tcp_connect(ep, step).await.ok()?;
    match ep.security {
        Security::Tls => {
            let tls = net::implicit_tls(&insecure.tls, ep, tcp, step, "smtp+starttls")
                .await
                .ok()?;
            peer_der(&tls)
        }
        Security::StartTls => {
            let (mut conn, plain) = smtp::greet_plain(tcp, insecure, step).await.ok()?;
            let der = smtp::starttls(&mut conn, plain, insecure, step)
                .await
                .ok()?;
            let _ = timeout(Duration::from_secs(2), conn.quit()).await;
            der
        }
        Security::Plain => None,
    }
}

/// The certificate an IMAP endpoint presents, fetched without verifying it (and without LOGIN).
async fn imap_certificate(insecure: &Account, step: Duration) -> Option<Vec<u8>> {
    let ep = &insecure.imap;
    let tcp = net::tcp_connect(ep, step).await.ok()?;
    match ep.security {
        Security::Tls => {
            let tls = net::implicit_tls(&insecure.tls, ep, tcp, step, "imap+starttls")
                .await
                .ok()?;
            peer_der(&tls)
        }
        Security::StartTls => {
            let mut client = imap::client(imap::Stream::Plain(tcp));
            imap::greet(&mut client, insecure, step).await.ok()?;
            let tls = imap::starttls(client, insecure, step).await.ok()?;
            peer_der(&tls)
        }
        Security::Plain => None,
    }
}

/// The certificate an account's SMTP (`smtp` true) or IMAP endpoint presents, read as verify
/// reads a rejected one: a handshake that does not verify and sends no credentials, so an
/// expired certificate is read too. `None` for a plaintext endpoint or when it cannot be
/// reached within `step`. The monitor's expiry gauge uses it.
#[cfg(feature = "monitor")]
pub(crate) async fn endpoint_certificate(
    account: &Account,
    smtp: bool,
    step: Duration,
) -> Option<CertificateInfo> {
    let mut insecure = account.clone();
    insecure.tls.insecure_skip_verify = true;
    let der = if smtp {
        timeout(step * 2, smtp_certificate(&insecure, step)).await
    } else {
        timeout(step * 2, imap_certificate(&insecure, step)).await
    };
    certificate_info(&der.ok().flatten()?, false, None)
}

/// Subject, issuer, validity and names of a DER certificate (OpenSSL, mailtrip's TLS library).
pub(crate) fn certificate_info(
    der: &[u8],
    verified: bool,
    problem: Option<CertProblem>,
) -> Option<CertificateInfo> {
    use openssl::asn1::{Asn1Time, Asn1TimeRef};
    use openssl::x509::{X509, X509NameRef};

    let cert = X509::from_der(der).ok()?;
    let name = |n: &X509NameRef| {
        n.entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_default();
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let now = Asn1Time::days_from_now(0).ok()?;
    let wall = chrono::Utc::now();
    // Absolute time of an ASN.1 time, via its distance from now (OpenSSL does the calendar).
    let when = |t: &Asn1TimeRef| -> Option<(chrono::DateTime<chrono::Utc>, i64)> {
        let d = now.diff(t).ok()?;
        let at = wall
            + chrono::Duration::days(i64::from(d.days))
            + chrono::Duration::seconds(i64::from(d.secs));
        Some((at, i64::from(d.days)))
    };
    let (not_before, _) = when(cert.not_before())?;
    let (not_after, days_left) = when(cert.not_after())?;
    let mut names = Vec::new();
    if let Some(sans) = cert.subject_alt_names() {
        for g in sans.iter() {
            if let Some(dns) = g.dnsname() {
                names.push(dns.to_string());
            } else if let Some(ip) = g.ipaddress() {
                let ip = match ip.len() {
                    4 => <[u8; 4]>::try_from(ip).ok().map(std::net::IpAddr::from),
                    16 => <[u8; 16]>::try_from(ip).ok().map(std::net::IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    names.push(ip.to_string());
                }
            }
        }
    }
    let rfc3339 =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some(CertificateInfo {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left,
        names,
        verified,
        problem,
    })
}
