//! How the companion trusts the cloud's TLS certificate: the system's roots,
//! plus the CA certificates of one PEM file when `--cloud-ca FILE` (or
//! `COMPANION_CLOUD_CA`, or `ca` under `[cloud]`) names one — a team whose
//! reverse proxy uses a private CA adds it without touching the system's
//! store. One rustls configuration (aws-lc-rs, the workspace's one TLS
//! stack) serves both the HTTP client and the WebSocket, so the two can
//! never disagree about a certificate.
//!
//! It also turns a certificate failure, wherever it sits in an error's
//! chain, into one sentence that names the problem and the option.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{CertificateError, ClientConfig};

/// Why the TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the cloud CA file {} (--cloud-ca): {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the cloud CA file {} (--cloud-ca) holds no certificate: give a PEM file with \
         -----BEGIN CERTIFICATE----- blocks",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error("the cloud CA file {} (--cloud-ca) is not valid PEM: {detail}", path.display())]
    Pem { path: PathBuf, detail: String },
    #[error("the cloud CA file {} (--cloud-ca) holds a certificate that cannot be a trust anchor: {detail}", path.display())]
    Anchor { path: PathBuf, detail: String },
    #[error("cannot set up TLS for the cloud: {0}")]
    Setup(String),
}

/// The rustls client configuration for the cloud: system roots plus the
/// certificates in `extra_ca` (a PEM file), verified by the platform
/// verifier with the aws-lc-rs provider. ALPN offers HTTP/1.1 only: the
/// WebSocket upgrade needs it, and the HTTP client speaks nothing else.
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let extra = match extra_ca {
        Some(path) => read_pem(path)?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone()).map_err(|e| {
            match (extra_ca, e) {
                (Some(path), e @ rustls::Error::InvalidCertificate(_)) => {
                    TlsSetupError::Anchor { path: path.to_owned(), detail: e.to_string() }
                }
                (_, e) => TlsSetupError::Setup(format!(
                    "{e} (install the system's CA certificates, e.g. Debian's ca-certificates, or pass --cloud-ca FILE)"
                )),
            }
        })?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in the PEM file at `path` (other PEM blocks, such as
/// a key someone put in the same file, are skipped).
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bytes = std::fs::read(path).map_err(|source| TlsSetupError::Read { path: path.to_owned(), source })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Pem { path: path.to_owned(), detail: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate { path: path.to_owned() });
    }
    Ok(certs)
}

/// The certificate problem behind `err`, as one sentence for people, when
/// its chain holds a rustls certificate error (reqwest and tungstenite
/// both wrap it in an `io::Error`, whose `source()` skips the wrapped
/// error, so those are opened by hand).
pub fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(problem) = e.downcast_ref::<rustls::Error>().and_then(describe) {
            return Some(problem);
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && let Some(problem) = certificate_problem(inner)
        {
            return Some(problem);
        }
        current = e.source();
    }
    None
}

/// What to do, appended to a certificate problem.
const PASS_THE_CA: &str = "pass --cloud-ca FILE (or set COMPANION_CLOUD_CA, or `ca = \"FILE\"` under [cloud] in the \
                           config file) with the PEM certificate of the CA that signed it";

fn describe(e: &rustls::Error) -> Option<String> {
    let rustls::Error::InvalidCertificate(cert) = e else { return None };
    let text = match cert {
        CertificateError::UnknownIssuer => {
            format!("the cloud's TLS certificate is not trusted (UnknownIssuer): {PASS_THE_CA}")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the cloud's TLS certificate does not name the host in the cloud URL (NotValidForName): \
             use the name the certificate was issued for in `companion login --cloud URL`"
                .to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the cloud's TLS certificate has expired (Expired): renew it on the server (or check this machine's clock)"
                .to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the cloud's TLS certificate is not valid yet (NotValidYet): check this machine's clock".to_owned()
        }
        CertificateError::Revoked => "the cloud's TLS certificate has been revoked (Revoked)".to_owned(),
        other => format!("the cloud's TLS certificate was refused ({other:?}): {PASS_THE_CA} if it is a private CA"),
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_inside_io_errors_are_found_and_named() {
        let rustls_error = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let problem = certificate_problem(&io).unwrap();
        assert!(problem.contains("not trusted (UnknownIssuer)") && problem.contains("--cloud-ca FILE"), "{problem}");
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(certificate_problem(&io), None);
        assert_eq!(certificate_problem(&std::io::Error::other("refused")), None);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(Some(&empty)).unwrap_err();
        assert!(matches!(e, TlsSetupError::NoCertificate { .. }), "{e}");
        assert!(e.to_string().contains("empty.pem"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = client_config(Some(&missing)).unwrap_err();
        assert!(matches!(e, TlsSetupError::Read { .. }) && e.to_string().contains("missing.pem"), "{e}");
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap();
        let e = client_config(Some(&broken)).unwrap_err();
        assert!(e.to_string().contains("broken.pem"), "{e}");
    }
}
