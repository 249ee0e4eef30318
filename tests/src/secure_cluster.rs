//! Secure one-broker clusters built from independent parts:
//!
//! * [`TlsTansu`]: Tansu behind stunnel (`SSL`, optionally mutual TLS);
//! * [`SaslTansu`]: Tansu behind the SASL gateway (`SASL_PLAINTEXT`), or
//!   behind the gateway behind stunnel (`SASL_SSL`).
//!
//! Tansu's `--advertised-listener-url` is the outermost address,
//! `localhost:<port>` (the name the test certificates are issued for), so
//! every connection a client opens after bootstrapping goes through the
//! same security layers.
//!
//! For the fault matrix, the TLS front can go down and come back on the
//! same port (`stop_front` / `restart_front`), and with
//! [`TlsOptions::relay`] a raw TCP [`Relay`] sits on the advertised port in
//! front of stunnel, to cut connections in the middle of their TLS handshake
//! or drop them all. Data is put in (and checked) over
//! [`plaintext_bootstrap`](TlsTansu::plaintext_bootstrap): a [`CutProxy`]
//! to Tansu's plaintext port, which rewrites broker addresses to itself.
//! (Tansu's own port is no use as a bootstrap: its Metadata answers send
//! clients to the secure port.)

use crate::certs::{CertKey, Certs};
use crate::error::{HarnessError, Result};
use crate::ports::free_port;
use crate::proxy::CutProxy;
use crate::relay::Relay;
use crate::sasl_gateway::{GatewayOptions, SaslGateway};
use crate::stunnel::{Stunnel, StunnelOptions, TlsVersion};
use crate::tansu::{Tansu, TansuOptions};

/// Which certificate the TLS terminator presents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerCert {
    /// For `localhost` / `127.0.0.1`, signed by [`Certs::ca_cert`].
    #[default]
    Trusted,
    /// Like `Trusted`, but expired.
    Expired,
    /// Signed by the CA, for `wrong.example` only.
    WrongHost,
    /// For `localhost`, signed by [`Certs::unknown_ca_cert`].
    UnknownCa,
}

impl ServerCert {
    fn pick(self, certs: &Certs) -> &CertKey {
        match self {
            ServerCert::Trusted => &certs.server,
            ServerCert::Expired => &certs.expired,
            ServerCert::WrongHost => &certs.wrong_host,
            ServerCert::UnknownCa => &certs.unknown_ca_server,
        }
    }
}

/// How the TLS layer is set up.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsOptions {
    /// The certificate stunnel presents.
    pub server_cert: ServerCert,
    /// Mutual TLS: clients must present a certificate signed by
    /// [`Certs::ca_cert`] (e.g. [`Certs::client`]).
    pub require_client_cert: bool,
    /// Speak only this TLS version (default: 1.2 and 1.3).
    pub version: Option<TlsVersion>,
    /// Put a [`Relay`] on the advertised port in front of stunnel (which
    /// then listens on another port), for cutting connections.
    pub relay: bool,
}

fn stunnel_options(certs: &Certs, tls: &TlsOptions) -> StunnelOptions {
    let server = tls.server_cert.pick(certs);
    let mut o = StunnelOptions::new(&server.cert, &server.key);
    if tls.require_client_cert {
        o = o.require_client_cert(&certs.ca_cert);
    }
    o.version = tls.version;
    o
}

/// Tansu advertising `localhost:<outer>`, with `front` started on `outer`
/// in front of it; retried with new ports when `front` cannot bind.
fn with_front<F>(mut front: impl FnMut(u16, &Tansu) -> Result<F>) -> Result<(Tansu, F, u16)> {
    let mut last = None;
    for _ in 0..3 {
        let outer = free_port()?;
        let tansu = Tansu::start_with(&TansuOptions {
            advertised_listener_url: Some(format!("tcp://localhost:{outer}")),
        })?;
        match front(outer, &tansu) {
            Ok(f) => return Ok((tansu, f, outer)),
            Err(e @ HarnessError::Failed { .. }) => {
                log::warn!("front end failed to start on {outer}, retrying: {e}");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| HarnessError::InvalidInput("could not start the cluster".into())))
}

/// stunnel to `upstream`: on `outer`, or with `relay` on a free port behind
/// a [`Relay`] on `outer`.
fn tls_front(
    outer: u16,
    upstream: u16,
    options: &StunnelOptions,
    relay: bool,
) -> Result<(Stunnel, Option<Relay>)> {
    if !relay {
        return Ok((Stunnel::start_on(outer, upstream, options)?, None));
    }
    let stunnel = Stunnel::start(upstream, options)?;
    let relay = Relay::start_on(outer, &format!("127.0.0.1:{}", stunnel.port()))?;
    Ok((stunnel, Some(relay)))
}

/// Tansu behind stunnel (behind a [`Relay`] with [`TlsOptions::relay`]);
/// everything stops on drop.
pub struct TlsTansu {
    // Dropped in this order: the front first.
    relay: Option<Relay>,
    stunnel: Stunnel,
    proxy: CutProxy,
    tansu: Tansu,
    certs: Certs,
}

impl TlsTansu {
    /// Generates certificates, starts Tansu advertising the TLS port and
    /// stunnel on that port.
    pub fn start(options: &TlsOptions) -> Result<TlsTansu> {
        let certs = Certs::generate()?;
        let stunnel_opts = stunnel_options(&certs, options);
        let (tansu, (stunnel, relay), _) = with_front(|outer, tansu| {
            tls_front(outer, tansu.port(), &stunnel_opts, options.relay)
        })?;
        let proxy = CutProxy::start(&tansu.bootstrap())?;
        Ok(TlsTansu {
            relay,
            stunnel,
            proxy,
            tansu,
            certs,
        })
    }

    /// `localhost:<TLS port>`, for `bootstrap.servers` with `security.protocol=SSL`.
    pub fn bootstrap(&self) -> String {
        format!("localhost:{}", self.tls_port())
    }

    /// The TLS port clients connect to (the advertised one: the relay's
    /// with [`TlsOptions::relay`], else stunnel's).
    pub fn tls_port(&self) -> u16 {
        self.relay.as_ref().map_or(self.stunnel.port(), Relay::port)
    }

    /// The relay in front of stunnel, with [`TlsOptions::relay`].
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// The TLS front goes down: stunnel stops (see [`Stunnel::stop`]);
    /// Tansu and its data stay.
    pub fn stop_front(&self) {
        self.stunnel.stop();
    }

    /// The TLS front comes back on the same port (see [`Stunnel::restart`]).
    pub fn restart_front(&self) -> Result<()> {
        self.stunnel.restart()
    }

    /// A plaintext bootstrap address (through a [`CutProxy`]) for producing
    /// and checking data with the plain harness helpers.
    pub fn plaintext_bootstrap(&self) -> String {
        self.proxy.addr()
    }

    /// The certificates (trust [`Certs::ca_cert`]).
    pub fn certs(&self) -> &Certs {
        &self.certs
    }

    /// The broker. Its own port is plaintext, and its Metadata points at the
    /// TLS port: use [`TlsTansu::plaintext_bootstrap`] for plaintext clients.
    pub fn tansu(&self) -> &Tansu {
        &self.tansu
    }

    /// The TLS terminator (for its logs).
    pub fn stunnel(&self) -> &Stunnel {
        &self.stunnel
    }

    /// Creates a topic (see [`Tansu::create_topic`]).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.tansu.create_topic(topic, partitions)
    }
}

/// Tansu behind the SASL gateway, optionally behind stunnel; everything
/// stops on drop.
pub struct SaslTansu {
    // Dropped in this order: the outermost first.
    relay: Option<Relay>,
    stunnel: Option<Stunnel>,
    gateway: SaslGateway,
    proxy: CutProxy,
    tansu: Tansu,
    certs: Option<Certs>,
}

impl SaslTansu {
    /// `SASL_PLAINTEXT`: Tansu advertising the gateway's port.
    pub fn start(gateway: &GatewayOptions) -> Result<SaslTansu> {
        let (tansu, gw, _) =
            with_front(|outer, tansu| SaslGateway::start_on(outer, &tansu.bootstrap(), gateway))?;
        let proxy = CutProxy::start(&tansu.bootstrap())?;
        Ok(SaslTansu {
            relay: None,
            stunnel: None,
            gateway: gw,
            proxy,
            tansu,
            certs: None,
        })
    }

    /// `SASL_SSL`: stunnel (with `tls`) in front of the gateway, Tansu
    /// advertising stunnel's port (with [`TlsOptions::relay`], the port of a
    /// [`Relay`] in front of stunnel).
    pub fn start_ssl(gateway: &GatewayOptions, tls: &TlsOptions) -> Result<SaslTansu> {
        let certs = Certs::generate()?;
        let stunnel_opts = stunnel_options(&certs, tls);
        let (tansu, (stunnel, relay, gw), _) = with_front(|outer, tansu| {
            let gw = SaslGateway::start(&tansu.bootstrap(), gateway)?;
            let (st, relay) = tls_front(outer, gw.port(), &stunnel_opts, tls.relay)?;
            Ok((st, relay, gw))
        })?;
        let proxy = CutProxy::start(&tansu.bootstrap())?;
        Ok(SaslTansu {
            relay,
            stunnel: Some(stunnel),
            gateway: gw,
            proxy,
            tansu,
            certs: Some(certs),
        })
    }

    /// `localhost:<outermost port>` (the relay's or stunnel's for
    /// `SASL_SSL`, else the gateway's).
    pub fn bootstrap(&self) -> String {
        match (&self.relay, &self.stunnel) {
            (Some(r), _) => r.addr(),
            (None, Some(s)) => s.addr(),
            (None, None) => self.gateway.addr(),
        }
    }

    /// The relay in front of stunnel, for `SASL_SSL` with [`TlsOptions::relay`].
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// `SASL_SSL`: the TLS front goes down (see [`Stunnel::stop`]); the
    /// gateway and Tansu stay. An error for `SASL_PLAINTEXT`.
    pub fn stop_front(&self) -> Result<()> {
        self.tls_front()?.stop();
        Ok(())
    }

    /// `SASL_SSL`: the TLS front comes back on the same port.
    pub fn restart_front(&self) -> Result<()> {
        self.tls_front()?.restart()
    }

    fn tls_front(&self) -> Result<&Stunnel> {
        self.stunnel.as_ref().ok_or_else(|| {
            HarnessError::InvalidInput("SASL_PLAINTEXT has no TLS front to stop".into())
        })
    }

    /// A plaintext bootstrap address without authentication (through a
    /// [`CutProxy`]) for producing and checking data.
    pub fn plaintext_bootstrap(&self) -> String {
        self.proxy.addr()
    }

    /// The gateway (its event log).
    pub fn gateway(&self) -> &SaslGateway {
        &self.gateway
    }

    /// The TLS terminator, for `SASL_SSL`.
    pub fn stunnel(&self) -> Option<&Stunnel> {
        self.stunnel.as_ref()
    }

    /// The certificates, for `SASL_SSL`.
    pub fn certs(&self) -> Option<&Certs> {
        self.certs.as_ref()
    }

    /// The broker (see [`TlsTansu::tansu`] about its port).
    pub fn tansu(&self) -> &Tansu {
        &self.tansu
    }

    /// Creates a topic (see [`Tansu::create_topic`]).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.tansu.create_topic(topic, partitions)
    }
}
