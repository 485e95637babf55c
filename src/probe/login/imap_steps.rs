//! [`Verify`]'s IMAP side: connect (implicit TLS or STARTTLS) and log in, timed step by step,
//! then the capabilities the round trip needs (IDLE, UIDPLUS, MOVE, SPECIAL-USE) and `\Junk`.

use std::time::Duration;

use tokio::time::Instant;

use super::{BACKSTOP, Steps, Stop, certificate_info, limit, peer_der, tls_note};
use crate::config::{Account, Security};
use crate::probe::imap;
use crate::probe::net;
use crate::report::verify::{ProtocolReport, Step};

pub(super) async fn verify_imap(
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
    let (tcp, peer, t) = s.connect(account, ep, deadline).await?;
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
    // verify shows every capability in the server's order: always asked for.
    let (mut session, _) = imap::login(client, account, left())
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
