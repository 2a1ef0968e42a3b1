//! TLS for `rediss://` (rustls with the ring provider): the client configuration, built once per
//! store from the DSN's `tls_*` options.
use crate::config::TlsConfig;
use crate::store::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

fn tls_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Connection(format!("TLS {what}: {e}"))
}

pub fn client_config(t: &TlsConfig) -> Result<Arc<ClientConfig>, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("set-up", e))?;
    let builder = if t.verify {
        let mut roots = RootCertStore::empty();
        match &t.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path).map_err(|e| tls_err(&format!("tls_ca {}", path.display()), e))?;
                for cert in certs {
                    let cert = cert.map_err(|e| tls_err(&format!("tls_ca {}", path.display()), e))?;
                    roots.add(cert).map_err(|e| tls_err(&format!("tls_ca {}", path.display()), e))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        if roots.is_empty() {
            return Err(tls_err("set-up", "no CA certificates to verify the server with (set tls_ca)"));
        }
        builder.with_root_certificates(roots)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    };
    let cfg = match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => {
            let chain: Result<Vec<_>, _> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| tls_err(&format!("tls_cert {}", cert.display()), e))?
                .collect();
            let chain = chain.map_err(|e| tls_err(&format!("tls_cert {}", cert.display()), e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(&format!("tls_key {}", key.display()), e))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| tls_err("client certificate", e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

pub fn server_name(t: &TlsConfig, host: &str) -> Result<ServerName<'static>, StoreError> {
    let name = t.server_name.clone().unwrap_or_else(|| host.to_string());
    ServerName::try_from(name).map_err(|e| tls_err("server name", e))
}

/// `tls_verify=0`: encrypt, but accept any certificate (testing only; README says so).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
