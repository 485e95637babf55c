//! TLS material for the embedded server: a CA generated at start and a leaf certificate for
//! `localhost`, `127.0.0.1` and `::1` signed by it, so clients verify normally with `ca_pem()`.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_native_tls::TlsAcceptor;

/// Which kind of leaf certificate to serve; the broken kinds exist to test client diagnoses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertKind {
    /// Valid for localhost / 127.0.0.1 / ::1, signed by the generated CA.
    #[default]
    Valid,
    /// Signed by the CA but expired (not_after in the past).
    Expired,
    /// Signed by the CA but names only `wrong.example`, so name checks fail.
    WrongName,
    /// Valid names, expiring within a week (for "expires soon" warnings).
    ExpiringSoon,
}

/// The generated CA and the acceptor that serves the leaf certificate.
pub struct TlsMaterial {
    ca_pem: String,
    leaf_pem: String,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

/// Failure to generate or load TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("could not generate a certificate")]
    Generate(#[from] rcgen::Error),
    #[error("could not build the TLS acceptor")]
    Acceptor(#[from] native_tls::Error),
}

impl TlsMaterial {
    /// Generates a fresh CA and a leaf certificate of the given kind.
    pub fn generate(kind: CertKind) -> Result<Self, TlsSetupError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mailtrip embedded test CA");
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, "mailtrip");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = chrono::Utc::now();
        ca_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(chrono::Datelike::year(&now) + 10, 1, 1);
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = match kind {
            CertKind::WrongName => vec!["wrong.example".into()],
            _ => vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        };
        let mut leaf = CertificateParams::new(names)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "mailtrip embedded server");
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let year = chrono::Datelike::year(&now);
        match kind {
            CertKind::Expired => {
                leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
                leaf.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            CertKind::ExpiringSoon => {
                let soon = now + chrono::Duration::days(5);
                leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
                leaf.not_after = rcgen::date_time_ymd(
                    chrono::Datelike::year(&soon),
                    chrono::Datelike::month(&soon) as u8,
                    chrono::Datelike::day(&soon) as u8,
                );
            }
            CertKind::Valid | CertKind::WrongName => {
                leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
                leaf.not_after = rcgen::date_time_ymd(year + 5, 1, 1);
            }
        }
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

        let identity = native_tls::Identity::from_pkcs8(
            leaf_cert.pem().as_bytes(),
            leaf_key.serialize_pem().as_bytes(),
        )?;
        let acceptor = native_tls::TlsAcceptor::builder(identity)
            .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
            .build()?;
        Ok(TlsMaterial {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf_cert.pem(),
            acceptor: TlsAcceptor::from(acceptor),
        })
    }

    /// PEM of the generated CA: give it to clients as a trusted root.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// PEM of the leaf certificate the server presents.
    pub fn leaf_pem(&self) -> &str {
        &self.leaf_pem
    }

    /// The acceptor used by every TLS listener and STARTTLS upgrade.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
