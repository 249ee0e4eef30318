//! The SASL-terminating gateway (`tests/security/sasl_gateway.py`): an
//! independent server side of SASL PLAIN, SCRAM-SHA-256/512 (PyPI
//! `scramp`) and OAUTHBEARER in front of a plaintext broker. See the
//! script's docstring for its behaviour and event log.

use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::json::Json;
use crate::ports::free_port;
use crate::process::Watched;
use crate::python::python_program;
use crate::tempdir::TempDir;

/// How long the gateway gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The gateway script.
pub fn sasl_gateway_script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/security/sasl_gateway.py"
    ))
}

/// The SASL mechanisms the gateway implements.
pub const ALL_MECHANISMS: [&str; 4] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// What the gateway accepts.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Enabled mechanisms, in the order SaslHandshake lists them.
    pub mechanisms: Vec<String>,
    /// `(user, password)` for PLAIN and both SCRAMs.
    pub users: Vec<(String, String)>,
    /// OAUTHBEARER: unsecured JWTs (`alg: none`) with one of these `sub`s.
    pub oauth_principals: Vec<String>,
    /// OAUTHBEARER: `(opaque token, principal)`.
    pub oauth_tokens: Vec<(String, String)>,
    /// The `session_lifetime_ms` granted (KIP-368); zero: no expiry.
    pub session_lifetime: Duration,
}

impl Default for GatewayOptions {
    /// All mechanisms, no users or principals, no session expiry.
    fn default() -> GatewayOptions {
        GatewayOptions {
            mechanisms: ALL_MECHANISMS.iter().map(|m| (*m).to_string()).collect(),
            users: Vec::new(),
            oauth_principals: Vec::new(),
            oauth_tokens: Vec::new(),
            session_lifetime: Duration::ZERO,
        }
    }
}

impl GatewayOptions {
    /// Only these mechanisms.
    pub fn mechanisms(mut self, mechanisms: &[&str]) -> GatewayOptions {
        self.mechanisms = mechanisms.iter().map(|m| (*m).to_string()).collect();
        self
    }

    /// Adds a user (PLAIN and SCRAM).
    pub fn user(mut self, name: &str, password: &str) -> GatewayOptions {
        self.users.push((name.into(), password.into()));
        self
    }

    /// Accepts unsecured JWTs whose `sub` is `principal`.
    pub fn oauth_principal(mut self, principal: &str) -> GatewayOptions {
        self.oauth_principals.push(principal.into());
        self
    }

    /// Accepts the opaque bearer `token` as `principal`.
    pub fn oauth_token(mut self, token: &str, principal: &str) -> GatewayOptions {
        self.oauth_tokens.push((token.into(), principal.into()));
        self
    }

    /// Grants sessions of `lifetime` (clients must re-authenticate).
    pub fn session_lifetime(mut self, lifetime: Duration) -> GatewayOptions {
        self.session_lifetime = lifetime;
        self
    }
}

/// One line of the gateway's event log.
#[derive(Clone, Debug)]
pub struct GatewayEvent {
    /// Unix seconds.
    pub ts: f64,
    /// `listening`, `connection`, `handshake`, `auth_success`,
    /// `auth_failure`, `illegal_request`, `expired_close`,
    /// `upstream_error`, `cut_auth` (see
    /// [`SaslGateway::cut_next_authentications`]) or `closed`.
    pub event: String,
    /// The connection it concerns (numbered from 1), if any.
    pub conn: Option<u64>,
    /// The SASL mechanism, if known.
    pub mechanism: Option<String>,
    /// The user / principal, if known.
    pub user: Option<String>,
    /// True for events of a re-authentication (KIP-368).
    pub reauth: bool,
    /// The whole line, parsed.
    pub json: Json,
}

impl GatewayEvent {
    /// Parses one event-log line.
    pub fn parse(line: &str) -> Result<GatewayEvent, String> {
        let json = Json::parse(line)?;
        let str_field = |n: &str| json.get(n).and_then(Json::as_str).map(str::to_string);
        Ok(GatewayEvent {
            ts: json.get("ts").and_then(Json::as_f64).unwrap_or(0.0),
            event: str_field("event").ok_or_else(|| format!("no event in {line:?}"))?,
            conn: json
                .get("conn")
                .and_then(Json::as_i64)
                .and_then(|c| u64::try_from(c).ok()),
            mechanism: str_field("mechanism"),
            user: str_field("user"),
            reauth: json.get("reauth").and_then(Json::as_bool).unwrap_or(false),
            json,
        })
    }

    /// True if this is `event` for `mechanism`.
    pub fn is(&self, event: &str, mechanism: &str) -> bool {
        self.event == event && self.mechanism.as_deref() == Some(mechanism)
    }

    /// A string field.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.json.get(name).and_then(Json::as_str)
    }

    /// An integer field.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.json.get(name).and_then(Json::as_i64)
    }
}

/// A running gateway on 127.0.0.1, killed on drop.
pub struct SaslGateway {
    server: Watched,
    port: u16,
    events: PathBuf,
    /// The gateway's `--control-file`.
    control: PathBuf,
    _dir: TempDir,
}

impl SaslGateway {
    /// Starts the gateway on a free port, forwarding authenticated
    /// connections to `upstream` (`host:port` of a plaintext broker).
    pub fn start(upstream: &str, options: &GatewayOptions) -> Result<SaslGateway> {
        let mut last = None;
        for _ in 0..3 {
            match SaslGateway::start_on(free_port()?, upstream, options) {
                Ok(g) => return Ok(g),
                Err(e @ HarnessError::Failed { .. }) => {
                    log::warn!("the SASL gateway failed to start, retrying on another port: {e}");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| HarnessError::InvalidInput("the gateway did not start".into())))
    }

    /// Starts the gateway on 127.0.0.1:`port`. A port taken by someone else
    /// is [`HarnessError::Failed`].
    pub fn start_on(port: u16, upstream: &str, options: &GatewayOptions) -> Result<SaslGateway> {
        if options
            .users
            .iter()
            .any(|(u, _)| u.is_empty() || u.contains(['\n', ':']))
        {
            return Err(HarnessError::InvalidInput(
                "gateway user names must be non-empty, without ':' or newlines".into(),
            ));
        }
        let dir = TempDir::new("harness-sasl-gateway")?;
        let events = dir.join("events.jsonl");
        // Credentials go through a file, not the command line (which is logged).
        let users: String = options
            .users
            .iter()
            .map(|(u, p)| format!("{u}:{p}\n"))
            .collect();
        let users_file = dir.write("users", &users)?;
        let control = dir.write("control", "0\n")?;
        let mut cmd = Command::new(python_program());
        cmd.arg(sasl_gateway_script())
            .arg("--listen")
            .arg(port.to_string())
            .arg("--upstream")
            .arg(upstream)
            .arg("--mechanisms")
            .arg(options.mechanisms.join(","))
            .arg("--users-file")
            .arg(&users_file)
            .arg("--session-lifetime-ms")
            .arg(options.session_lifetime.as_millis().to_string())
            .arg("--events")
            .arg(&events)
            .arg("--control-file")
            .arg(&control)
            .env("PYTHONUNBUFFERED", "1");
        for p in &options.oauth_principals {
            cmd.arg("--oauth-principal").arg(p);
        }
        for (t, p) in &options.oauth_tokens {
            cmd.arg(format!("--oauth-token={t}={p}"));
        }
        let server =
            Watched::start("sasl-gateway", &cmd, port, START_TIMEOUT).map_err(|e| match e {
                HarnessError::Failed { output, .. } if output.contains("MISSING scramp") => {
                    HarnessError::Missing {
                        what: format!(
                            "the python package scramp for `{}` ({})",
                            python_program(),
                            output.trim()
                        ),
                        install: "python3 -m pip install scramp==1.5.0".into(),
                    }
                }
                e => e,
            })?;
        Ok(SaslGateway {
            server,
            port,
            events,
            control,
            _dir: dir,
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `localhost:<port>`.
    pub fn addr(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// The events logged so far.
    pub fn events(&self) -> Result<Vec<GatewayEvent>> {
        let text = std::fs::read_to_string(&self.events)
            .map_err(|e| HarnessError::io(format!("reading {}", self.events.display()), e))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                GatewayEvent::parse(l).map_err(|detail| HarnessError::Protocol {
                    what: "the SASL gateway's event log".into(),
                    detail,
                })
            })
            .collect()
    }

    /// Waits up to `timeout` for an event matching `pred`.
    pub fn wait_for_event(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&GatewayEvent) -> bool,
    ) -> Result<GatewayEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events()?.into_iter().find(&pred) {
                return Ok(e);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("the SASL gateway to log {what}"),
                    timeout,
                    output: self.logs(),
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next `k` SaslAuthenticate requests (on any connection) are not
    /// answered: the gateway closes their connection instead and logs a
    /// `cut_auth` event for each. Replaces the cuts still pending (0 cancels
    /// them).
    pub fn cut_next_authentications(&self, k: u32) -> Result<()> {
        let tmp = self.control.with_extension("tmp");
        std::fs::write(&tmp, format!("{k}\n"))
            .map_err(|e| HarnessError::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &self.control)
            .map_err(|e| HarnessError::io(format!("renaming to {}", self.control.display()), e))
    }

    /// Authentication cuts asked for and not made yet.
    pub fn authentication_cuts_pending(&self) -> Result<u32> {
        let text = std::fs::read_to_string(&self.control)
            .map_err(|e| HarnessError::io(format!("reading {}", self.control.display()), e))?;
        text.trim().parse().map_err(|e| HarnessError::Protocol {
            what: "the SASL gateway's control file".into(),
            detail: format!("{text:?}: {e}"),
        })
    }

    /// Authentications cut so far (`cut_auth` events).
    pub fn authentications_cut(&self) -> Result<usize> {
        Ok(self
            .events()?
            .iter()
            .filter(|e| e.event == "cut_auth")
            .count())
    }

    /// The gateway's stderr (tail) and its event log.
    pub fn logs(&self) -> String {
        let events = std::fs::read_to_string(&self.events).unwrap_or_default();
        format!("{}\n--- events ---\n{events}", self.server.output())
    }
}
