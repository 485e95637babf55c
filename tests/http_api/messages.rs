//! Issue 16 item 2, messages and mailboxes over the API: search by each criterion, one
//! message with HTML and attachments, long-poll wait, delete one / matching / all, the mailbox
//! list, and the change counter.

use super::*;

#[tokio::test]
async fn issue16_api_finds_and_shows_a_message_with_html_and_attachments() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    send(
        &server,
        "someone+x@example.com",
        &signup_mail("someone+x@example.com", "Welcome aboard"),
    )
    .await;
    send(&server, "other@example.org", "From: news@list.test\r\nTo: other@example.org\r\nSubject: Weekly news\r\n\r\nplain text only\r\n").await;
    wait_inbox(&server, "other@example.org", 1).await;

    let all = get(a, "/api/v1/messages").await;
    assert_eq!(all.status, 200);
    assert!(
        all.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let all = all.json();
    assert_eq!(all["total"], 2);
    assert_eq!(all["messages"][0]["subject"], "Weekly news", "newest first");

    // Each criterion alone finds the signup mail and not the other one.
    for query in [
        "to=someone%40example.com",
        "to=someone%2Bx%40example.com",
        "to=example.com",
        "from=bot%40app.test",
        "from=signup",
        "subject=welcome",
        "header=X-Request-Id:req-42",
        "header=X-Request-Id",
        "text=confirm",
        "since=1m",
        "mailbox=someone%40example.com&folder=INBOX",
        "to=someone%40example.com&subject=aboard&text=abc123",
    ] {
        let r = get(a, &format!("/api/v1/messages?{query}")).await.json();
        let subjects: Vec<&str> = r["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["subject"].as_str())
            .collect();
        let want: &[&str] = if query == "since=1m" {
            &["Weekly news", "Welcome aboard"]
        } else {
            &["Welcome aboard"]
        };
        assert_eq!(subjects, want, "{query}");
    }
    let none = get(a, "/api/v1/messages?to=nobody%40example.com")
        .await
        .json();
    assert_eq!(none["total"], 0);
    let limited = get(a, "/api/v1/messages?limit=1").await.json();
    assert_eq!(
        (limited["total"].as_u64(), limited["count"].as_u64()),
        (Some(2), Some(1))
    );

    let summary = &get(a, "/api/v1/messages?subject=welcome").await.json()["messages"][0];
    assert_eq!(summary["mailbox"], "someone@example.com");
    assert_eq!(summary["delivered_to"], "someone+x@example.com");
    assert_eq!(summary["from"]["name"], "Signup Bot");
    assert_eq!(summary["has_html"], true);
    assert_eq!(summary["attachments"], 2);
    let id = summary["id"].as_str().expect("id").to_string();

    let detail = get(a, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(detail.status, 200);
    let d = detail.json();
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["message_id"], "signup-1@app.test");
    assert!(
        d["text"]
            .as_str()
            .expect("text")
            .contains("Confirm: https://app.test/confirm?token=abc123")
    );
    assert!(
        d["html"]
            .as_str()
            .expect("html")
            .contains("<h1 id=\"greeting\">Welcome aboard!</h1>")
    );
    assert_eq!(
        d["links"],
        serde_json::json!([
            "https://app.test/confirm?token=abc123&src=mail",
            "http://127.0.0.1:9/pixel.gif",
            "https://app.test/confirm?token=abc123"
        ])
    );
    assert!(
        d["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .any(|h| h["name"] == "X-Request-Id" && h["value"] == "req-42")
    );
    let atts = d["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0]["filename"], "invoice.pdf");
    assert_eq!(atts[0]["content_type"], "application/pdf");
    assert_eq!(atts[0]["inline"], false);
    assert_eq!(atts[1]["filename"], "logo.png");
    assert_eq!(atts[1]["inline"], true);
    assert_eq!(atts[1]["content_id"], "logo@app.test");

    // Attachment download: decoded bytes, its type, a download disposition, sandboxed.
    let pdf = get(a, atts[0]["url"].as_str().expect("url")).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.body, b"%PDF-1.4\n% mailtrip\n");
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert_eq!(
        pdf.header("content-disposition"),
        Some("attachment; filename=\"invoice.pdf\"")
    );
    assert!(
        pdf.header("content-security-policy")
            .is_some_and(|c| c.contains("sandbox"))
    );

    // Raw source: the stored bytes exactly.
    let raw = get(a, d["raw_url"].as_str().expect("raw_url")).await;
    let stored = server
        .messages("someone@example.com", "INBOX")
        .expect("stored");
    assert_eq!(raw.body, stored[0].raw.to_vec());

    // The HTML body is served under a policy that blocks remote content and scripts.
    let html = get(a, d["html_url"].as_str().expect("html_url")).await;
    assert_eq!(html.status, 200);
    assert!(String::from_utf8_lossy(&html.body).contains("Welcome aboard!"));
    let csp = html.header("content-security-policy").expect("CSP");
    for directive in ["default-src 'none'", "img-src data:", "sandbox"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("http"), "no remote source allowed: {csp}");

    // A text-only message has no HTML endpoint.
    let plain = &get(a, "/api/v1/messages?subject=weekly").await.json()["messages"][0];
    let plain_id = plain["id"].as_str().expect("id");
    let d = get(a, &format!("/api/v1/messages/{plain_id}")).await.json();
    assert_eq!(d["html"], Value::Null);
    assert_eq!(d["html_url"], Value::Null);
    let no_html = get(a, &format!("/api/v1/messages/{plain_id}/html")).await;
    assert_eq!(
        (no_html.status, no_html.json()["error"].as_str()),
        (404, Some("no_html"))
    );
}

#[tokio::test]
async fn issue16_api_wait_returns_when_mail_arrives_and_sees_earlier_mail_when_asked() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    send(
        &server,
        "early@example.com",
        "Subject: early\r\n\r\nbefore the wait\r\n",
    )
    .await;
    wait_inbox(&server, "early@example.com", 1).await;

    // Already there: a plain wait does not count it, and times out with JSON.
    let r = get(a, "/api/v1/messages?to=early%40example.com&wait=300ms").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "timeout");
    // Asked to, it does, at once.
    let r = get(
        a,
        "/api/v1/messages?to=early%40example.com&wait=10s&existing=true",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["messages"][0]["subject"], "early");
    let r = get(
        a,
        "/api/v1/messages?to=early%40example.com&wait=10s&since=1m",
    )
    .await;
    assert_eq!(r.json()["messages"][0]["subject"], "early");

    // A wait started before the mail is sent returns with it (`since` pins "before" to
    // this moment however late the request goes out).
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let since = since.replace('+', "%2B");
    let waiter = tokio::spawn(async move {
        get(
            a,
            &format!("/api/v1/messages?to=late%40example.com&subject=code&wait=20s&since={since}"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(
        &server,
        "other@example.com",
        "Subject: code 1\r\n\r\nnot for late\r\n",
    )
    .await;
    send(
        &server,
        "late+signup@example.com",
        "Subject: your code 482913\r\n\r\nhi\r\n",
    )
    .await;
    let r = waiter.await.expect("join");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let m = r.json();
    assert_eq!(m["count"], 1);
    assert_eq!(m["messages"][0]["subject"], "your code 482913");
    assert_eq!(m["messages"][0]["delivered_to"], "late+signup@example.com");
}

#[tokio::test]
async fn issue16_api_deletes_one_matching_and_all() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    for (to, subject) in [
        ("a@x.test", "one"),
        ("a@x.test", "two"),
        ("b@x.test", "three"),
    ] {
        send(&server, to, &format!("Subject: {subject}\r\n\r\nbody\r\n")).await;
    }
    wait_inbox(&server, "b@x.test", 1).await;
    wait_inbox(&server, "a@x.test", 2).await;
    let id = first_id(a, "/api/v1/messages?subject=two").await;
    let r = request(a, "DELETE", &format!("/api/v1/messages/{id}"), &[], b"").await;
    assert_eq!((r.status, r.json()["deleted"].as_u64()), (200, Some(1)));
    assert_eq!(get(a, &format!("/api/v1/messages/{id}")).await.status, 404);
    assert_eq!(server.messages("a@x.test", "INBOX").expect("msgs").len(), 1);

    let r = request(a, "DELETE", "/api/v1/messages?mailbox=b%40x.test", &[], b"").await;
    assert_eq!(r.json()["deleted"], 1);
    assert_eq!(get(a, "/api/v1/messages").await.json()["total"], 1);
    let r = request(a, "DELETE", "/api/v1/messages", &[], b"").await;
    assert_eq!(r.json()["deleted"], 1);
    assert_eq!(get(a, "/api/v1/messages").await.json()["total"], 0);
    // Mailboxes stay, empty.
    let boxes = get(a, "/api/v1/mailboxes").await.json();
    let a_box = boxes["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .find(|m| m["address"] == "a@x.test")
        .expect("a@x.test listed")
        .clone();
    assert_eq!(a_box["messages"], 0);
}

#[tokio::test]
async fn issue16_api_lists_mailboxes_declared_and_auto_created() {
    let (server, http) = start(ServerConfig::default()).await;
    send(&server, "new+1@example.com", "Subject: hi\r\n\r\nbody\r\n").await;
    wait_inbox(&server, "new@example.com", 1).await;
    let r = get(http.addr(), "/api/v1/mailboxes").await.json();
    let boxes = r["mailboxes"].as_array().expect("mailboxes");
    let find = |addr: &str| boxes.iter().find(|m| m["address"] == addr).cloned();
    let alice = find("alice@mailtrip.test").expect("declared alice");
    assert_eq!(alice["auto_created"], false);
    let new = find("new@example.com").expect("auto-created");
    assert_eq!(new["auto_created"], true);
    assert_eq!(new["messages"], 1);
    assert_eq!(new["unseen"], 1);
    let inbox = &new["folders"][0];
    assert_eq!(
        (inbox["name"].as_str(), inbox["messages"].as_u64()),
        (Some("INBOX"), Some(1))
    );
    assert!(
        new["folders"]
            .as_array()
            .expect("folders")
            .iter()
            .any(|f| f["role"] == "junk")
    );
}

#[tokio::test]
async fn issue16_api_changes_long_poll_wakes_on_delivery() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    let g = get(a, "/api/v1/changes").await.json()["generation"]
        .as_u64()
        .expect("generation");
    let same = get(a, &format!("/api/v1/changes?after={g}&wait=200ms"))
        .await
        .json();
    assert_eq!(same["generation"], g, "nothing changed");
    let waiter =
        tokio::spawn(async move { get(a, &format!("/api/v1/changes?after={g}&wait=20s")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&server, "e@x.test", "Subject: e\r\n\r\nx\r\n").await;
    let moved = waiter.await.expect("join").json()["generation"]
        .as_u64()
        .expect("generation");
    assert!(moved > g);
    let info = get(a, "/api/v1/info").await.json();
    assert_eq!(info["catch_all"], true);
    assert_eq!(info["smtp"], server.smtp_addr().to_string());
}
