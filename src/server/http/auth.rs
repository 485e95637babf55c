//! Who may use the HTTP side: anyone on loopback (but only under a loopback host name, so a
//! web page cannot reach the API through DNS rebinding), or with `--allow-remote` only
//! clients with the credentials (HTTP Basic, or the secret as a Bearer token).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::HeaderMap;
use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, HOST, HeaderValue, WWW_AUTHENTICATE};
use secrecy::{ExposeSecret, SecretString};

use super::{Response, error};
use crate::server::store::constant_time_eq as same;

/// Credentials the HTTP side requires.
#[derive(Debug, Clone, Default)]
pub enum HttpAuth {
    /// None: for loopback, where only this machine's users can connect.
    #[default]
    None,
    /// HTTP Basic with this user and password; the password alone also works as
    /// `Authorization: Bearer <password>`.
    Basic {
        /// The user name.
        user: String,
        /// The password (also accepted as a bearer token).
        password: SecretString,
    },
}

impl HttpAuth {
    /// `None` when the request may pass, else the 401 to send.
    pub fn check(&self, headers: &HeaderMap) -> Option<Response> {
        let HttpAuth::Basic { user, password } = self else {
            return None;
        };
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let ok = match given.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => BASE64
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|pair| {
                    let (u, p) = pair.split_once(':')?;
                    Some(
                        same(u.as_bytes(), user.as_bytes())
                            & same(p.as_bytes(), password.expose_secret().as_bytes()),
                    )
                })
                .unwrap_or(false),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
                same(rest.trim().as_bytes(), password.expose_secret().as_bytes())
            }
            _ => false,
        };
        if ok {
            return None;
        }
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server requires credentials: HTTP Basic (see --http-auth) or a Bearer token",
        );
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mailtrip\", charset=\"UTF-8\""),
        );
        Some(r)
    }

    /// The scheme, for the JSON line: `none` or `basic`.
    pub fn scheme(&self) -> &'static str {
        match self {
            HttpAuth::None => "none",
            HttpAuth::Basic { .. } => "basic",
        }
    }
}

/// Without credentials, a request must name a loopback host (`localhost`, `*.localhost` or
/// an IP address): a DNS name pointing at 127.0.0.1 is how a web page would reach this API.
pub fn check_host(auth: &HttpAuth, headers: &HeaderMap) -> Option<Response> {
    if !matches!(auth, HttpAuth::None) {
        return None;
    }
    let host = headers.get(HOST)?.to_str().unwrap_or("");
    if host_is_local(host) {
        return None;
    }
    Some(error(
        StatusCode::FORBIDDEN,
        "forbidden_host",
        "without credentials only loopback host names are served: use http://127.0.0.1:PORT or http://localhost:PORT",
    ))
}

/// `localhost`, `*.localhost` or an IP literal, with or without a port.
fn host_is_local(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8025
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).expect("header"));
        h
    }

    #[test]
    fn basic_and_bearer() {
        let auth = HttpAuth::Basic {
            user: "dev".into(),
            password: SecretString::from("s3cret"),
        };
        let basic = |pair: &str| headers(&format!("Basic {}", BASE64.encode(pair)));
        assert!(auth.check(&basic("dev:s3cret")).is_none());
        assert!(auth.check(&headers("Bearer s3cret")).is_none());
        for bad in [
            basic("dev:nope"),
            basic("other:s3cret"),
            headers("Bearer s3"),
            HeaderMap::new(),
        ] {
            let r = auth.check(&bad).expect("refused");
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            assert!(r.headers().contains_key(WWW_AUTHENTICATE));
        }
        assert!(HttpAuth::None.check(&HeaderMap::new()).is_none());
    }

    #[test]
    fn loopback_names_only_without_credentials() {
        for ok in [
            "localhost:8025",
            "127.0.0.1:1",
            "[::1]:80",
            "app.localhost",
            "10.0.0.2:9",
        ] {
            assert!(host_is_local(ok), "{ok}");
        }
        for bad in ["evil.example:8025", "localhost.evil.example", "[nope]:1"] {
            assert!(!host_is_local(bad), "{bad}");
        }
    }
}
