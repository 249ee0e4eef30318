//! Tunables of the network client.

use std::time::Duration;

use super::TlsClientConfig;

/// Configuration of a [`NetworkClient`](super::NetworkClient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Time a request may wait for its response, counted from `send` (Kafka's `request.timeout.ms`).
    pub request_timeout: Duration,
    /// First reconnect backoff after a disconnect (`reconnect.backoff.ms`).
    pub reconnect_backoff: Duration,
    /// Upper bound of the exponential reconnect backoff, before jitter (`reconnect.backoff.max.ms`).
    pub reconnect_backoff_max: Duration,
    /// Time a connection attempt to one address may take (`socket.connection.setup.timeout.ms`).
    pub connection_setup_timeout: Duration,
    /// Largest response frame accepted, without the size prefix.
    pub max_response_size: usize,
    /// Requested SO_SNDBUF; `None` leaves the OS default. Not applied yet (see `NetworkClient::new`).
    pub socket_send_buffer: Option<usize>,
    /// Requested SO_RCVBUF; `None` leaves the OS default. Not applied yet (see `NetworkClient::new`).
    pub socket_receive_buffer: Option<usize>,
    /// TLS for every connection (`security.protocol` `SSL` or `SASL_SSL`); `None`: plain TCP.
    /// The connection setup timeout covers the TCP connect and the TLS handshake.
    pub tls: Option<TlsClientConfig>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            request_timeout: Duration::from_secs(30),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            connection_setup_timeout: Duration::from_secs(10),
            // 100 MiB of records plus room for the response headers around them.
            max_response_size: 100 * 1024 * 1024 + 1024 * 1024,
            socket_send_buffer: None,
            socket_receive_buffer: None,
            tls: None,
        }
    }
}
