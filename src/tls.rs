//! Client TLS over OpenSSL, the one TLS stack of every client connection (SMTP, IMAP, and the
//! OAuth2 token endpoints): the system trust roots found once per process and consulted lazily
//! (a hashed directory such as `/etc/ssl/certs`, where verifying reads only the issuer's file,
//! else one shared parse of the bundle), one context per set of [`TlsOptions`], the handshake.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};

use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslMode, SslOptions, SslVerifyMode,
    SslVersion,
};
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::{X509, X509VerifyResult};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

/// The cipher list of `openssl::ssl::SslConnector` (TLS 1.2; TLS 1.3 suites are OpenSSL's).
const CIPHERS: &str = "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK";

/// Who a client trusts: the system roots plus these, verified unless told otherwise.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted root certificates (PEM), e.g. the embedded server's CA or `--ca-file`.
    pub extra_roots_pem: Vec<String>,
    /// Skip certificate verification. Reported loudly in every output; never the default.
    pub insecure_skip_verify: bool,
}

/// Where the system's trusted roots come from, decided once per process.
#[derive(Debug)]
pub enum SystemRoots {
    /// OpenSSL hashed directories (`<subject hash>.0` links): looked up per issuer, lazily.
    Dirs(Vec<PathBuf>),
    /// A bundle file, parsed once; every context shares the parsed certificates.
    Bundle(Vec<X509>),
    /// Nothing found: only `--ca-file` roots are trusted.
    None,
}

/// The system roots: the hashed directory (`SSL_CERT_DIR` or OpenSSL's default) when it holds
/// hash links, else the first bundle file found. A bundle named by `SSL_CERT_FILE` is honoured
/// (parsed once) unless it lives in that hashed directory, as Debian's
/// `/etc/ssl/certs/ca-certificates.crt` does: `update-ca-certificates` writes the bundle and
/// the hash links from the same certificates, so the lazy directory holds the same roots.
pub fn system_roots() -> &'static SystemRoots {
    static ROOTS: OnceLock<SystemRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let env_path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dirs: Vec<PathBuf> = match env_path("SSL_CERT_DIR") {
            Some(v) => std::env::split_paths(&v).collect(),
            None => vec![PathBuf::from(openssl_default(DefaultPath::Dir))],
        };
        let dirs: Vec<PathBuf> = dirs.into_iter().filter(|d| has_hash_links(d)).collect();
        if let Some(file) = env_path("SSL_CERT_FILE").map(PathBuf::from)
            && file.is_file()
            && !dirs.iter().any(|d| holds(d, &file))
        {
            return bundle(file);
        }
        if !dirs.is_empty() {
            tracing::debug!(?dirs, "system roots: hashed directory, read per issuer");
            return SystemRoots::Dirs(dirs);
        }
        let default_file = PathBuf::from(openssl_default(DefaultPath::File));
        let candidates = [
            default_file.as_path(),
            Path::new("/etc/ssl/certs/ca-certificates.crt"),
            Path::new("/etc/pki/tls/certs/ca-bundle.crt"),
            Path::new("/etc/ssl/ca-bundle.pem"),
            Path::new("/etc/ssl/cert.pem"),
        ];
        match candidates.iter().find(|p| p.is_file()) {
            Some(file) => bundle(file.to_path_buf()),
            None => SystemRoots::None,
        }
    })
}

/// Whether `file` sits directly in `dir` (both resolved through symlinks).
fn holds(dir: &Path, file: &Path) -> bool {
    let (Ok(dir), Ok(file)) = (dir.canonicalize(), file.canonicalize()) else {
        return false;
    };
    file.parent() == Some(dir.as_path())
}

fn bundle(file: PathBuf) -> SystemRoots {
    let certs = std::fs::read(&file)
        .ok()
        .and_then(|pem| X509::stack_from_pem(&pem).ok())
        .unwrap_or_default();
    tracing::debug!(file = %file.display(), roots = certs.len(), "system roots: one bundle parse");
    SystemRoots::Bundle(certs)
}

enum DefaultPath {
    Dir,
    File,
}

/// OpenSSL's compiled-in default certificate directory or file (`OPENSSLDIR/certs`,
/// `OPENSSLDIR/cert.pem`).
fn openssl_default(which: DefaultPath) -> String {
    openssl_sys::init();
    // SAFETY: both return pointers to static NUL-terminated strings inside libcrypto.
    let ptr = unsafe {
        match which {
            DefaultPath::Dir => openssl_sys::X509_get_default_cert_dir(),
            DefaultPath::File => openssl_sys::X509_get_default_cert_file(),
        }
    };
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated, static (see above).
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Whether `dir` holds OpenSSL subject-hash links (`1a2b3c4d.0`), which `c_rehash` /
/// `update-ca-certificates` create; a directory without them is useless to a lazy lookup.
fn has_hash_links(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.split_once('.').is_some_and(|(hash, n)| {
            hash.len() == 8
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// The client context for `tls`: TLS 1.2 or later, the system roots plus the extra ones, and
/// peer verification unless the options skip it. Every connection with the same options
/// shares one (cheap to build with a hashed directory, where nothing is read until a
/// handshake needs an issuer; a bundle is parsed once per process either way).
pub fn context(tls: &TlsOptions) -> Result<SslContext, String> {
    static CACHE: Memo<(Vec<String>, bool), SslContext> = Memo::new();
    CACHE.get_or_try(
        (tls.extra_roots_pem.clone(), tls.insecure_skip_verify),
        || context_with(system_roots(), tls),
    )
}

/// A process-wide memo of values that are expensive to build, keyed by what they were built
/// from. A handful of keys at most, so a Vec.
struct Memo<K, V>(OnceLock<Mutex<Vec<(K, V)>>>);

impl<K: PartialEq, V: Clone> Memo<K, V> {
    const fn new() -> Self {
        Memo(OnceLock::new())
    }

    /// The value for `key`, built by `make` the first time (a failed build is not kept).
    fn get_or_try<E>(&self, key: K, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let cache = self.0.get_or_init(Default::default);
        let lock = || cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, v)) = lock().iter().find(|(k, _)| *k == key) {
            return Ok(v.clone());
        }
        let v = make()?;
        lock().push((key, v.clone()));
        Ok(v)
    }
}

fn context_with(roots: &SystemRoots, tls: &TlsOptions) -> Result<SslContext, String> {
    let err = |e: openssl::error::ErrorStack| format!("cannot set up TLS: {e}");
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(err)?;
    b.set_options(SslOptions::ALL | SslOptions::NO_COMPRESSION);
    b.set_mode(SslMode::AUTO_RETRY | SslMode::ACCEPT_MOVING_WRITE_BUFFER);
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(err)?;
    b.set_cipher_list(CIPHERS).map_err(err)?;
    let mut store = X509StoreBuilder::new().map_err(err)?;
    match roots {
        SystemRoots::Dirs(dirs) => {
            let lookup = store.add_lookup(X509Lookup::hash_dir()).map_err(err)?;
            for dir in dirs {
                lookup
                    .add_dir(&dir.to_string_lossy(), SslFiletype::PEM)
                    .map_err(err)?;
            }
        }
        SystemRoots::Bundle(certs) => {
            for cert in certs {
                // A duplicate root is not an error worth failing over.
                let _ = store.add_cert(cert.clone());
            }
        }
        SystemRoots::None => {}
    }
    for pem in &tls.extra_roots_pem {
        let certs = X509::stack_from_pem(pem.as_bytes())
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| "extra root certificate is not valid PEM".to_string())?;
        for cert in certs {
            let _ = store.add_cert(cert);
        }
    }
    b.set_cert_store(store.build());
    b.set_verify(if tls.insecure_skip_verify {
        SslVerifyMode::NONE
    } else {
        SslVerifyMode::PEER
    });
    Ok(b.build())
}

/// Client handshake over `stream` for `host` (SNI for names; the certificate must name `host`,
/// a DNS name or an IP address, unless `insecure`). The error text is OpenSSL's, followed by
/// the verification result in parentheses when verification failed.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &SslContext,
    host: &str,
    insecure: bool,
    stream: S,
) -> Result<SslStream<S>, String> {
    let setup = |e: openssl::error::ErrorStack| format!("cannot set up TLS: {e}");
    let mut ssl = Ssl::new(ctx).map_err(setup)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = bare.parse::<IpAddr>().ok();
    if ip.is_none() {
        ssl.set_hostname(bare).map_err(setup)?;
    }
    if !insecure {
        let param = ssl.param_mut();
        param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match ip {
            Some(ip) => param.set_ip(ip).map_err(setup)?,
            None => param.set_host(bare).map_err(setup)?,
        }
    }
    let mut tls = SslStream::new(ssl, stream).map_err(setup)?;
    match Pin::new(&mut tls).connect().await {
        Ok(()) => Ok(tls),
        Err(e) => match tls.ssl().verify_result() {
            X509VerifyResult::OK => Err(e.to_string()),
            v => Err(format!("{e} ({v})")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_counts_as_hashed_only_with_subject_hash_links() {
        let dir = std::env::temp_dir().join(format!("mailtrip-hashdir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca-bundle.crt"), "").unwrap();
        std::fs::write(dir.join("README.0x"), "").unwrap();
        assert!(
            !has_hash_links(&dir),
            "a bundle alone is not a hashed directory"
        );
        std::fs::write(dir.join("9d04f354.0"), "").unwrap();
        assert!(has_hash_links(&dir));
        assert!(holds(&dir, &dir.join("ca-bundle.crt")));
        assert!(!holds(&dir, Path::new("/")));
        assert!(!has_hash_links(&dir.join("missing")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A context over a hashed directory trusts what the directory holds, found by the
    /// issuer's subject hash when a handshake needs it, and nothing else.
    #[tokio::test]
    async fn issue14_a_hashed_directory_is_consulted_for_the_issuer() {
        use crate::server::{ServerConfig, TestServer};
        let server = TestServer::start(ServerConfig::default().with_user("a@test.local", "pw"))
            .await
            .expect("server");
        let ca = X509::from_pem(server.ca_pem().as_bytes()).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "mailtrip-hashdir-ca-{}-{}",
            std::process::id(),
            server.imaps_addr().port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let no_extra = TlsOptions::default();
        let handshake = |ctx: SslContext| {
            let addr = server.imaps_addr();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                connect(&ctx, "localhost", false, tcp).await.map(|_| ())
            }
        };

        // Another CA's link only: the server's issuer is not there.
        let other = X509::from_pem(
            TestServer::start(ServerConfig::default())
                .await
                .expect("second server")
                .ca_pem()
                .as_bytes(),
        )
        .unwrap();
        let link = |cert: &X509| dir.join(format!("{:08x}.0", cert.subject_name_hash()));
        std::fs::write(link(&other), other.to_pem().unwrap()).unwrap();
        let roots = SystemRoots::Dirs(vec![dir.clone()]);
        let refused = handshake(context_with(&roots, &no_extra).unwrap()).await;
        let text = refused.expect_err("an unknown issuer is refused");
        assert!(
            text.contains("unable to get local issuer certificate"),
            "{text}"
        );

        // The issuer's link: verified, without the CA ever being added to the context.
        std::fs::write(link(&ca), ca.to_pem().unwrap()).unwrap();
        let ok = handshake(context_with(&roots, &no_extra).unwrap()).await;
        assert_eq!(ok, Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
