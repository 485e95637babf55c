//! TLS material for the embedded server: a CA generated at start and a leaf certificate for
//! `localhost`, `127.0.0.1` and `::1` signed by it, so clients verify normally with `ca_pem()`.

use openssl::asn1::{Asn1Integer, Asn1Time, Asn1TimeRef};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Name, X509NameRef};

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

/// The generated CA and the acceptor that serves the leaf certificate (TLS 1.2 and 1.3).
pub struct TlsMaterial {
    ca_pem: String,
    acceptor: SslAcceptor,
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
    Generate(#[source] ErrorStack),
    #[error("could not build the TLS acceptor")]
    Acceptor(#[source] ErrorStack),
}

/// Midnight UTC of a calendar day, as an ASN.1 time.
fn day(year: i32, month: u32, d: u32) -> Result<Asn1Time, ErrorStack> {
    let at = chrono::NaiveDate::from_ymd_opt(year, month, d)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map_or(0, |t| t.and_utc().timestamp());
    Asn1Time::from_unix(at)
}

/// A fresh ECDSA P-256 key (what rcgen generated before; fast and small).
fn p256() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn name(cn: &str, org: Option<&str>) -> Result<X509Name, ErrorStack> {
    let mut n = X509Name::builder()?;
    n.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    if let Some(org) = org {
        n.append_entry_by_nid(Nid::ORGANIZATIONNAME, org)?;
    }
    Ok(n.build())
}

/// A certificate builder with a random serial, the given names, validity and key.
fn builder(
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<Private>,
    not_before: &Asn1TimeRef,
    not_after: &Asn1TimeRef,
) -> Result<X509Builder, ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    b.set_serial_number(Asn1Integer::from_bn(&serial)?.as_ref())?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer)?;
    b.set_pubkey(key)?;
    b.set_not_before(not_before)?;
    b.set_not_after(not_after)?;
    Ok(b)
}

impl TlsMaterial {
    /// Generates a fresh CA and a leaf certificate of the given kind.
    pub fn generate(kind: CertKind) -> Result<Self, TlsSetupError> {
        let (ca, leaf, leaf_key) = certificates(kind).map_err(TlsSetupError::Generate)?;
        let acceptor = (|| {
            // Mozilla's intermediate profile, version 5: TLS 1.2 and TLS 1.3.
            let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
            b.set_private_key(&leaf_key)?;
            b.set_certificate(&leaf)?;
            b.check_private_key()?;
            Ok(b.build())
        })()
        .map_err(TlsSetupError::Acceptor)?;
        let pem = |c: &X509| {
            c.to_pem()
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .map_err(TlsSetupError::Generate)
        };
        Ok(TlsMaterial {
            ca_pem: pem(&ca)?,
            acceptor,
        })
    }

    /// PEM of the generated CA: give it to clients as a trusted root.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The acceptor used by every TLS listener and STARTTLS upgrade.
    pub fn acceptor(&self) -> &SslAcceptor {
        &self.acceptor
    }
}

/// The CA (self-signed, valid 2020 until ten years from now) and a leaf of `kind` signed by it,
/// with the leaf's key.
fn certificates(kind: CertKind) -> Result<(X509, X509, PKey<Private>), ErrorStack> {
    use chrono::Datelike;
    let now = chrono::Utc::now();
    let ca_key = p256()?;
    let ca_name = name("mailtrip embedded test CA", Some("mailtrip"))?;
    let mut b = builder(
        &ca_name,
        &ca_name,
        &ca_key,
        &*day(2020, 1, 1)?,
        &*day(now.year() + 10, 1, 1)?,
    )?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .digital_signature()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(&ca_key, MessageDigest::sha256())?;
    let ca = b.build();

    let (not_before, not_after) = match kind {
        CertKind::Expired => (day(2020, 1, 1)?, day(2021, 1, 1)?),
        CertKind::ExpiringSoon => {
            let soon = now + chrono::Duration::days(5);
            (
                day(2020, 1, 1)?,
                day(soon.year(), soon.month(), soon.day())?,
            )
        }
        CertKind::Valid | CertKind::WrongName => (day(2020, 1, 1)?, day(now.year() + 5, 1, 1)?),
    };
    let leaf_key = p256()?;
    let leaf_name = name("mailtrip embedded server", None)?;
    let mut b = builder(
        &leaf_name,
        ca.subject_name(),
        &leaf_key,
        &not_before,
        &not_after,
    )?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()?,
    )?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut san = SubjectAlternativeName::new();
    match kind {
        CertKind::WrongName => {
            san.dns("wrong.example");
        }
        _ => {
            san.dns("localhost").ip("127.0.0.1").ip("::1");
        }
    }
    let san = san.build(&b.x509v3_context(Some(&ca), None))?;
    b.append_extension(san)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(&ca), None))?;
    b.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&ca), None))?;
    b.append_extension(aki)?;
    b.sign(&ca_key, MessageDigest::sha256())?;
    Ok((ca, b.build(), leaf_key))
}
