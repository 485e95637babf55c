//! Issue 16 item 2, who reaches the HTTP side: Basic / Bearer credentials when it listens
//! beyond loopback, and other handlers (an OAuth2 server) mounted on a path prefix.

use super::*;

#[tokio::test]
async fn issue16_http_basic_auth_refuses_without_credentials() {
    let server = util::server().await;
    let auth = HttpAuth::Basic {
        user: "dev".into(),
        password: "s3cret".to_string().into(),
    };
    let http = http_side(&server, auth, Router::default()).await;
    let a = http.addr();
    for path in ["/api/v1/messages", "/", "/assets/app.js", "/api/v1/faults"] {
        let r = get(a, path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["error"], "unauthorized");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Basic"))
        );
    }
    // dev:s3cret
    assert_eq!(authorized(a, "Basic ZGV2OnMzY3JldA==").await.status, 200);
    assert_eq!(authorized(a, "Bearer s3cret").await.status, 200);
    assert_eq!(authorized(a, "Basic ZGV2Ondyb25n").await.status, 401);
}

#[tokio::test]
async fn issue16_other_handlers_mount_on_a_path_prefix() {
    let server = util::server().await;
    let extra = Router::default().mount(
        "/oauth2/",
        |req: mailtrip::server::http::Request| async move {
            let mut r = mailtrip::server::http::Response::new(
                format!("oauth saw {}", req.uri().path()).into(),
            );
            *r.status_mut() = hyper::StatusCode::OK;
            r
        },
    );
    let http = http_side(&server, HttpAuth::None, extra).await;
    let r = get(http.addr(), "/oauth2/token").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"oauth saw /oauth2/token"[..])
    );
    assert_eq!(get(http.addr(), "/api/v1/info").await.status, 200);
    http.shutdown().await;
}
