//! Test certificates, generated at test time with the `openssl` CLI.
//!
//! [`Certs::generate`] makes a fresh set in its own temporary directory
//! (removed on drop):
//!
//! * a CA (`ca_cert`), the one clients are told to trust;
//! * `server`: signed by the CA for `DNS:localhost` and `IP:127.0.0.1`
//!   (RSA 2048; its key also in PKCS#1 form, `server_key_pkcs1`);
//! * `expired`: signed by the CA for the same names, valid only in January 2020;
//! * `wrong_host`: signed by the CA for `DNS:wrong.example` only;
//! * a second CA nobody trusts (`unknown_ca_cert`) with its own server
//!   certificate for `localhost`/`127.0.0.1` (`unknown_ca_server`) and its
//!   own client certificate (`unknown_ca_client`);
//! * `client`: a client certificate (CN `test-client`) signed by the CA for
//!   mutual TLS (EC P-256; its key also in SEC1 form, `client_key_sec1`).
//!
//! Keys are unencrypted PEM, PKCS#8 (`-----BEGIN PRIVATE KEY-----`) unless
//! said otherwise. All certificates are X.509 v3 with the extensions
//! webpki insists on (CA:TRUE on the CAs, CA:FALSE on leaves, SANs, the
//! server/client extended key usages).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::error::Result;
use crate::process;
use crate::tempdir::TempDir;

/// How long one `openssl` invocation may take.
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(30);

/// A certificate and its private key (PEM files).
#[derive(Clone, Debug)]
pub struct CertKey {
    /// The certificate (PEM, leaf only).
    pub cert: PathBuf,
    /// Its private key (unencrypted PKCS#8 PEM).
    pub key: PathBuf,
}

/// A generated set of certificates (see the module docs); the files are
/// removed when this is dropped.
pub struct Certs {
    dir: TempDir,
    /// The trusted CA's certificate (PEM).
    pub ca_cert: PathBuf,
    /// The trusted CA's key.
    pub ca_key: PathBuf,
    /// Server certificate for `localhost` / `127.0.0.1`, signed by the CA.
    pub server: CertKey,
    /// `server.key` in PKCS#1 form (`-----BEGIN RSA PRIVATE KEY-----`).
    pub server_key_pkcs1: PathBuf,
    /// Server certificate for `localhost` / `127.0.0.1` signed by the CA,
    /// expired (valid 2020-01-01 to 2020-02-01).
    pub expired: CertKey,
    /// Server certificate signed by the CA for `DNS:wrong.example` only.
    pub wrong_host: CertKey,
    /// A CA no client is told to trust.
    pub unknown_ca_cert: PathBuf,
    /// Server certificate for `localhost` / `127.0.0.1` signed by the unknown CA.
    pub unknown_ca_server: CertKey,
    /// Client certificate (CN `test-client`) signed by the unknown CA.
    pub unknown_ca_client: CertKey,
    /// Client certificate (CN `test-client`) signed by the CA.
    pub client: CertKey,
    /// `client.key` in SEC1 form (`-----BEGIN EC PRIVATE KEY-----`).
    pub client_key_sec1: PathBuf,
}

/// Extensions for `openssl req` / `x509` / `ca` (`-extensions <section>`).
const OPENSSL_CNF: &str = r#"
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash

[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[v3_wrong_host]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

# `openssl ca`, used only for the expired certificate (openssl 3.0's
# `x509 -req` cannot set a start date in the past).
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = ca-index.txt
new_certs_dir = ca-new
serial = ca-serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[policy_any]
commonName = supplied
"#;

#[derive(Clone, Copy)]
enum KeyType {
    Rsa,
    Ec,
}

impl Certs {
    /// Generates a fresh set in a new temporary directory (a few hundred
    /// milliseconds: one RSA key, the rest EC P-256).
    ///
    /// Fails with [`crate::HarnessError::Missing`] naming the package when
    /// `openssl` is not installed.
    pub fn generate() -> Result<Certs> {
        let dir = TempDir::new("harness-certs")?;
        let g = Gen { dir: dir.path() };
        g.write("openssl.cnf", OPENSSL_CNF)?;

        let (ca_cert, ca_key) = g.ca("ca", "Harness Test CA")?;
        let (unknown_ca_cert, unknown_ca_key) = g.ca("unknown-ca", "Harness Unknown CA")?;
        let ca = (&ca_cert, &ca_key);
        let unknown = (&unknown_ca_cert, &unknown_ca_key);

        let server = g.leaf("server", "localhost", KeyType::Rsa, "v3_server", ca)?;
        let server_key_pkcs1 = g.dir.join("server-pkcs1.key");
        g.openssl(&[
            "rsa",
            "-in",
            &s(&server.key),
            "-traditional",
            "-out",
            &s(&server_key_pkcs1),
        ])?;
        let wrong_host = g.leaf(
            "wrong-host",
            "wrong.example",
            KeyType::Ec,
            "v3_wrong_host",
            ca,
        )?;
        let expired = g.expired(ca)?;
        let unknown_ca_server = g.leaf(
            "unknown-ca-server",
            "localhost",
            KeyType::Ec,
            "v3_server",
            unknown,
        )?;
        let unknown_ca_client = g.leaf(
            "unknown-ca-client",
            "test-client",
            KeyType::Ec,
            "v3_client",
            unknown,
        )?;
        let client = g.leaf("client", "test-client", KeyType::Ec, "v3_client", ca)?;
        let client_key_sec1 = g.dir.join("client-sec1.key");
        g.openssl(&["ec", "-in", &s(&client.key), "-out", &s(&client_key_sec1)])?;
        log::debug!("generated test certificates in {}", dir.path().display());
        Ok(Certs {
            dir,
            ca_cert,
            ca_key,
            server,
            server_key_pkcs1,
            expired,
            wrong_host,
            unknown_ca_cert,
            unknown_ca_server,
            unknown_ca_client,
            client,
            client_key_sec1,
        })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A distinct serial number per certificate within this process.
fn serial() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("0x{:08x}{:08x}", std::process::id(), n)
}

struct Gen<'a> {
    dir: &'a Path,
}

impl Gen<'_> {
    fn write(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, contents)
            .map_err(|e| crate::error::HarnessError::io(format!("writing {}", p.display()), e))?;
        Ok(p)
    }

    fn openssl(&self, args: &[&str]) -> Result<()> {
        let mut cmd = Command::new("openssl");
        cmd.args(args).current_dir(self.dir);
        process::run_ok(&mut cmd, None, OPENSSL_TIMEOUT)?;
        Ok(())
    }

    fn key(&self, name: &str, kind: KeyType) -> Result<PathBuf> {
        let key = self.dir.join(format!("{name}.key"));
        let opts: &[&str] = match kind {
            KeyType::Rsa => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyType::Ec => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        };
        let mut args = vec!["genpkey"];
        args.extend_from_slice(opts);
        let out = s(&key);
        args.extend_from_slice(&["-out", &out]);
        self.openssl(&args)?;
        Ok(key)
    }

    /// A self-signed CA: (cert, key).
    fn ca(&self, name: &str, cn: &str) -> Result<(PathBuf, PathBuf)> {
        let key = self.key(name, KeyType::Ec)?;
        let cert = self.dir.join(format!("{name}.pem"));
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-config",
            "openssl.cnf",
            "-extensions",
            "v3_ca",
            "-key",
            &s(&key),
            "-subj",
            &format!("/CN={cn}"),
            "-set_serial",
            &serial(),
            "-days",
            "30",
            "-sha256",
            "-out",
            &s(&cert),
        ])?;
        Ok((cert, key))
    }

    fn csr(&self, name: &str, cn: &str, kind: KeyType) -> Result<(PathBuf, PathBuf)> {
        let key = self.key(name, kind)?;
        let csr = self.dir.join(format!("{name}.csr"));
        self.openssl(&[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            &s(&key),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &s(&csr),
        ])?;
        Ok((csr, key))
    }

    /// A leaf certificate signed by `ca` (cert, key), valid for 30 days
    /// from an hour ago.
    fn leaf(
        &self,
        name: &str,
        cn: &str,
        kind: KeyType,
        extensions: &str,
        ca: (&PathBuf, &PathBuf),
    ) -> Result<CertKey> {
        let (csr, key) = self.csr(name, cn, kind)?;
        let cert = self.dir.join(format!("{name}.pem"));
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &s(ca.0),
            "-CAkey",
            &s(ca.1),
            "-set_serial",
            &serial(),
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            extensions,
            "-out",
            &s(&cert),
        ])?;
        Ok(CertKey { cert, key })
    }

    /// The expired server certificate, through `openssl ca` (which takes
    /// explicit start and end dates).
    fn expired(&self, ca: (&PathBuf, &PathBuf)) -> Result<CertKey> {
        let (csr, key) = self.csr("expired", "localhost", KeyType::Ec)?;
        self.write("ca-index.txt", "")?;
        self.write("ca-serial", "1000\n")?;
        std::fs::create_dir_all(self.dir.join("ca-new"))
            .map_err(|e| crate::error::HarnessError::io("creating ca-new", e))?;
        let cert = self.dir.join("expired.pem");
        self.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "openssl.cnf",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "v3_server",
            "-cert",
            &s(ca.0),
            "-keyfile",
            &s(ca.1),
            "-startdate",
            "200101000000Z",
            "-enddate",
            "200201000000Z",
            "-in",
            &s(&csr),
            "-out",
            &s(&cert),
        ])?;
        Ok(CertKey { cert, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: &Path) -> String {
        let mut cmd = Command::new("openssl");
        cmd.args(["x509", "-noout", "-text", "-in"]).arg(p);
        String::from_utf8_lossy(
            &process::run_ok(&mut cmd, None, OPENSSL_TIMEOUT)
                .unwrap()
                .stdout,
        )
        .into_owned()
    }

    fn verify(ca: &Path, cert: &Path, extra: &[&str]) -> bool {
        let mut cmd = Command::new("openssl");
        cmd.arg("verify")
            .args(extra)
            .arg("-CAfile")
            .arg(ca)
            .arg(cert);
        process::run(&mut cmd, None, OPENSSL_TIMEOUT)
            .unwrap()
            .status
            .success()
    }

    #[test]
    fn generated_certificates_have_the_promised_properties() {
        let c = Certs::generate().expect("generate certificates (needs openssl)");
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        for k in [
            &c.server.key,
            &c.client.key,
            &c.expired.key,
            &c.wrong_host.key,
            &c.unknown_ca_server.key,
        ] {
            assert!(read(k).starts_with("-----BEGIN PRIVATE KEY-----"), "{k:?}");
        }
        assert!(read(&c.server_key_pkcs1).starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(read(&c.client_key_sec1).starts_with("-----BEGIN EC PRIVATE KEY-----"));

        let server = text(&c.server.cert);
        assert!(
            server.contains("DNS:localhost, IP Address:127.0.0.1"),
            "{server}"
        );
        assert!(text(&c.wrong_host.cert).contains("DNS:wrong.example"));
        assert!(text(&c.expired.cert).contains("Not After : Feb  1 00:00:00 2020 GMT"));

        assert!(verify(&c.ca_cert, &c.server.cert, &[]));
        assert!(verify(&c.ca_cert, &c.wrong_host.cert, &[]));
        assert!(verify(
            &c.ca_cert,
            &c.client.cert,
            &["-purpose", "sslclient"]
        ));
        assert!(
            !verify(&c.ca_cert, &c.expired.cert, &[]),
            "expired must fail"
        );
        assert!(
            verify(&c.ca_cert, &c.expired.cert, &["-no_check_time"]),
            "expired is otherwise valid"
        );
        assert!(!verify(&c.ca_cert, &c.unknown_ca_server.cert, &[]));
        assert!(verify(&c.unknown_ca_cert, &c.unknown_ca_server.cert, &[]));
        assert!(verify(&c.unknown_ca_cert, &c.unknown_ca_client.cert, &[]));
        let dir = c.dir().to_path_buf();
        drop(c);
        assert!(!dir.exists(), "the directory is removed on drop");
    }
}
