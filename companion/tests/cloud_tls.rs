//! The cloud link's TLS on both of its paths, against a real TLS listener
//! whose certificate comes from a CA made here: the HTTP client and the
//! WebSocket trust exactly the same certificates (system roots plus
//! `--cloud-ca`), and both name a certificate they refuse. The whole path
//! through nginx with the right CA is in `tests/tests/tls_proxy.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use companion::cloud_client::socket::{self, LinkConfig, LinkEvent};
use companion::cloud_client::{ApiError, CloudClient};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

const UNTRUSTED: &str = "the cloud's TLS certificate is not trusted (UnknownIssuer)";

/// A CA (its certificate written to `dir/NAME.pem`), and a certificate for
/// `localhost` it signed, with its key.
fn pki(dir: &Path, name: &str) -> (std::path::PathBuf, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, format!("{name} test CA"));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let ca_path = dir.join(format!("{name}.pem"));
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &*ca).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap();
    (ca_path, cert.der().clone(), key)
}

/// Accepts TLS connections on loopback with `cert` until dropped; a
/// handshake the client aborts is simply dropped.
async fn tls_listener(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> u16 {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_websocket_both_name_an_untrusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = pki(dir.path(), "team");
    let (wrong_ca, _, _) = pki(dir.path(), "other");
    let port = tls_listener(cert, key).await;
    let url = format!("https://localhost:{port}");

    for ca in [None, Some(wrong_ca.as_path())] {
        let client = CloudClient::with_ca(&url, "token", ca).unwrap();
        // HTTP: a certificate error, not "unreachable"; kept for a retry.
        let e = client.me().await.unwrap_err();
        assert!(matches!(e, ApiError::Certificate { .. }), "{e:?}");
        assert!(e.is_transient());
        assert!(e.advice().starts_with(UNTRUSTED) && e.advice().contains("--cloud-ca FILE"), "{}", e.advice());

        // WebSocket: the link says the same in its first Disconnected.
        let shutdown = CancellationToken::new();
        let config = LinkConfig { connect_timeout: Duration::from_secs(10), ..LinkConfig::default() };
        let (_handle, mut events) = socket::spawn(&client, config, shutdown.clone());
        let first = tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap().unwrap();
        match first {
            LinkEvent::Disconnected { reason, unauthorized: false, .. } => {
                assert!(reason.starts_with(UNTRUSTED), "{reason}");
            }
            other => panic!("the link did not refuse the certificate: {other:?}"),
        }
        shutdown.cancel();
    }
}
