//! [`Verify`]'s SMTP side: connect (implicit TLS or STARTTLS), EHLO and AUTH, timed step by
//! step, then the advertised features (AUTH mechanisms, SIZE, STARTTLS) read from EHLO.

use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::Extension;
use tokio::time::{Instant, timeout};

use super::{BACKSTOP, Steps, Stop, certificate_info, limit, peer_der, tls_note};
use crate::config::{Account, Security};
use crate::probe::net;
use crate::probe::smtp;
use crate::report::verify::{ProtocolReport, Step};

pub(super) async fn verify_smtp(
    account: &Account,
    step: Duration,
    deadline: Instant,
) -> ProtocolReport {
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
    let (tcp, peer, t) = s.connect(account, ep, deadline).await?;
    let verified = !account.tls.insecure_skip_verify;
    let mut der = None;
    // The greeting and EHLO end the TLS step with implicit TLS, else the connect step.
    let (mut conn, mut plain, (greeted, t, how)) = if ep.security == Security::Tls {
        s.ok(Step::Connect, t, format!("connected to {peer}"));
        let t = s.begin(Step::Tls);
        let tls = net::implicit_tls(&account.tls, ep, tcp, left(), "smtp+starttls")
            .await
            .map_err(|d| s.fail(Step::Tls, t, d))?;
        der = peer_der(&tls);
        let conn = smtp::greet_tls(tls, account, left())
            .await
            .map_err(|d| s.fail(Step::Tls, t, d))?;
        let how = format!("implicit TLS, {}", tls_note(account));
        (conn, None, (Step::Tls, t, how))
    } else {
        let (conn, plain) = smtp::greet_plain(tcp, account, left())
            .await
            .map_err(|d| s.fail(Step::Connect, t, d))?;
        let how = format!("connected to {peer}");
        (conn, Some(plain), (Step::Connect, t, how))
    };
    let ehlo_from = conn.server_info().name();
    s.ok(greeted, t, format!("{how}; EHLO from {ehlo_from}"));
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
