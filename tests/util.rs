//! Helpers shared by the integration tests: starting an embedded server with users.

use mailtrip::server::{ServerConfig, TestServer};

/// Password of the users `server()` creates.
pub const PASSWORD: &str = "correct horse battery staple";

/// An embedded server with alice@mailtrip.test and bob@mailtrip.test.
#[allow(dead_code)]
pub async fn server() -> TestServer {
    server_with(ServerConfig::default()).await
}

/// An embedded server started from `config`, plus alice and bob.
#[allow(dead_code)]
pub async fn server_with(config: ServerConfig) -> TestServer {
    let config = config
        .with_user("alice@mailtrip.test", PASSWORD)
        .with_user("bob@mailtrip.test", PASSWORD);
    TestServer::start(config)
        .await
        .expect("embedded server starts")
}
