//! Issue 16 item 2: faults set and cleared over the API take effect at once on the SMTP side.

use super::*;

#[tokio::test]
async fn issue16_api_sets_and_clears_faults_at_run_time() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    assert_eq!(get(a, "/api/v1/faults").await.json(), serde_json::json!({}));
    let r = put_faults(
        a,
        br#"{"greylist": true, "junk_rule": "[promo]", "delivery_delay": "10ms..50ms"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        serde_json::json!({"delivery_delay": "10ms..50ms", "greylist": true, "junk_rule": "[promo]"})
    );
    assert!(
        server.faults().greylist,
        "the server sees the fault at once"
    );
    let msg = "Subject: [promo] deals\r\n\r\nbuy\r\n";
    let first = smtp_send(server.smtp_addr(), "shop@x.test", &["c@x.test"], msg).await;
    assert_eq!(first[3], "451 4.7.1 Greylisted, please try again later");
    let second = smtp_send(server.smtp_addr(), "shop@x.test", &["c@x.test"], msg).await;
    assert_eq!(second[3], "250 2.1.5 Ok", "the retry passes");
    server
        .wait_for_messages("c@x.test", "Junk", 1, WAIT)
        .await
        .expect("the junk rule filed it");

    let r = request(a, "DELETE", "/api/v1/faults", &[], b"").await;
    assert_eq!((r.status, r.json()), (200, serde_json::json!({})));
    assert!(!server.faults().greylist);
    let third = smtp_send(
        server.smtp_addr(),
        "new@x.test",
        &["d@x.test"],
        "Subject: ok\r\n\r\nx\r\n",
    )
    .await;
    assert_eq!(third[3], "250 2.1.5 Ok");
}
