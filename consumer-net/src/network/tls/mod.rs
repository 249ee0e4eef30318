//! TLS for broker connections (`security.protocol` `SSL` and `SASL_SSL`), with rustls.
//!
//! [`TlsClientConfig`] is built once from the `ssl.*` settings (trust, client
//! certificate, verification, versions); each connection then runs a session of its own
//! inside the thread-free [`NetworkClient`](super::NetworkClient): after the TCP connect,
//! the handshake is driven by the same mio events as everything else, and the connection
//! counts as connected (requests are written) only once it is done. Failures are
//! [`TlsError`]s inside [`NetError::Tls`](super::NetError::Tls).

mod config;
mod error;
mod session;

pub use config::TlsClientConfig;
pub use error::{TlsConfigError, TlsError};

pub(crate) use error::{classify, UNANSWERED_CLOSES};
pub(crate) use session::{server_name, TlsSession};
