//! Issue 16 item 2: every API error is JSON with its status code and a stable `error` code;
//! bad fault settings, foreign Host headers and oversized bodies are refused.

use super::*;

#[tokio::test]
async fn issue16_api_errors_are_json_with_their_status() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    send(&server, "x@example.com", "Subject: one\r\n\r\nbody\r\n").await;
    wait_inbox(&server, "x@example.com", 1).await;
    let id = first_id(a, "/api/v1/messages").await;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("GET", "/api/v1/messages/999-999".into(), 404, "not_found"),
        ("GET", "/api/v1/messages/not-an-id".into(), 404, "not_found"),
        ("DELETE", "/api/v1/messages/999-1".into(), 404, "not_found"),
        ("GET", "/api/v1/messages/999-1/raw".into(), 404, "not_found"),
        (
            "GET",
            format!("/api/v1/messages/{id}/attachments/0"),
            404,
            "not_found",
        ),
        (
            "GET",
            format!("/api/v1/messages/{id}/attachments/x"),
            404,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/messages?colour=blue".into(),
            400,
            "bad_query",
        ),
        (
            "GET",
            "/api/v1/messages?wait=forever".into(),
            400,
            "bad_query",
        ),
        (
            "GET",
            "/api/v1/messages?since=yesterday".into(),
            400,
            "bad_query",
        ),
        ("GET", "/api/v1/messages?limit=-1".into(), 400, "bad_query"),
        (
            "DELETE",
            "/api/v1/messages?wait=1s".into(),
            400,
            "bad_query",
        ),
        ("GET", "/api/v1/changes?after=x".into(), 400, "bad_query"),
        ("POST", "/api/v1/messages".into(), 405, "method_not_allowed"),
        ("PATCH", "/api/v1/faults".into(), 405, "method_not_allowed"),
        ("GET", "/api/v1/nothing".into(), 404, "not_found"),
        ("GET", "/api/v2/messages".into(), 404, "not_found"),
        ("GET", "/no/such/page".into(), 404, "not_found"),
    ];
    for (method, path, status, code) in cases {
        let r = request(a, method, &path, &[], b"").await;
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let body = r.json();
        assert_eq!(body["error"], code, "{method} {path}");
        assert_eq!(body["status"], status, "{method} {path}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        if status == 405 {
            assert!(r.header("allow").is_some(), "{method} {path}");
        }
    }
    let bad = [
        &b"not json"[..],
        br#"{"greylsit": true}"#,
        br#"{"drop_percent": 300}"#,
        br#"{"delivery_delay": "soon"}"#,
    ];
    for body in bad {
        let r = put_faults(a, body).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.json()["error"], "bad_faults");
    }
    // A page on another host name is refused (a DNS rebinding guard), with JSON.
    let r = request(
        a,
        "GET",
        "/api/v1/messages",
        &[("Host", "evil.example:80")],
        b"",
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (403, Some("forbidden_host"))
    );
    let r = request(a, "GET", "/api/v1/info", &[("Host", "localhost")], b"").await;
    assert_eq!(r.status, 200);
    let huge = vec![b'{'; 2 * 1024 * 1024];
    let r = request(a, "PUT", "/api/v1/faults", &[], &huge).await;
    assert_eq!(r.status, 413);
}
