//! HTTPS in front of the local stack, because in AWS every call is HTTPS: a cold
//! container's first invocation pays TLS handshakes (and aws-lc's first random bytes),
//! and every call pays encryption. A throwaway CA and a leaf for 127.0.0.1 (made with the
//! `openssl` CLI), and a TLS terminator that forwards the plain bytes to a local server.
//!
//! The functions find the CA the way they find any root: `SSL_CERT_FILE`, set to the
//! system bundle with the bench CA appended, so loading roots costs what it costs with
//! one bundle file (as on Amazon Linux 2023), not with this machine's per-certificate
//! directory.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Where the system's root bundle is on Debian, Ubuntu and Amazon Linux.
const SYSTEM_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// The CA, the leaf, and the bundle the functions trust.
pub struct Pki {
    dir: PathBuf,
    pub ca_pem: Vec<u8>,
    /// System roots plus the bench CA: the functions' `SSL_CERT_FILE`.
    pub bundle: PathBuf,
    /// An empty directory: the functions' `SSL_CERT_DIR`.
    pub empty_dir: PathBuf,
    config: Arc<rustls::ServerConfig>,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("openssl: {e} (the bench needs the openssl CLI for its test CA)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Pki {
    /// A fresh CA and a 127.0.0.1 leaf, both RSA 2048 like the certificates AWS and
    /// Heroku serve, valid for two days.
    pub fn create() -> Result<Pki, String> {
        let dir = std::env::temp_dir().join(format!("bench-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let empty_dir = dir.join("empty");
        std::fs::create_dir_all(&empty_dir).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=bench local CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        )?;
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        )?;
        let read = |f: &str| std::fs::read(dir.join(f)).map_err(|e| format!("{f}: {e}"));
        let ca_pem = read("ca.pem")?;
        let mut bundle_text = SYSTEM_BUNDLES
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        bundle_text.extend_from_slice(b"\n");
        bundle_text.extend_from_slice(&ca_pem);
        let bundle = dir.join("bundle.pem");
        std::fs::write(&bundle, bundle_text).map_err(|e| e.to_string())?;

        let chain: Vec<CertificateDer<'static>> = [read("leaf.pem")?, ca_pem.clone()]
            .iter()
            .map(|pem| CertificateDer::from_pem_slice(pem).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(&read("leaf.key")?).map_err(|e| e.to_string())?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
        // The servers behind speak HTTP/1.1 only; offering h2 would break them.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Pki {
            dir,
            ca_pem,
            bundle,
            empty_dir,
            config: Arc::new(config),
        })
    }

    /// Terminates TLS on a free loopback port and forwards each connection's bytes to
    /// `upstream` (plain HTTP). Stops when dropped.
    pub async fn front(&self, upstream: SocketAddr) -> std::io::Result<TlsFront> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(self.config.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // TCP_NODELAY both ways, as on every local server here: else
                    // Nagle and delayed ACK stall keep-alive requests by ~40 ms.
                    let _ = tcp.set_nodelay(true);
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = plain.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Ok(TlsFront { addr, task })
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running TLS terminator.
pub struct TlsFront {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}
