//! Child-process helpers: bounded output capture and commands with timeouts.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// `sh -c` script: run "$@" in the background, kill it once stdin reaches
/// EOF, and exit with its status. A server started as
/// `sh -c WATCHDOG <name> <program> <args...>` with a piped stdin dies
/// when that pipe closes: on drop, and also when the test process dies
/// without running destructors.
/// (Asynchronous lists get /dev/null as stdin, hence the saved fd 3.)
pub(crate) const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
( cat <&3 >/dev/null; kill "$pid" 2>/dev/null ) &
exec 3<&-
wait "$pid"
"#;

/// How much of a long-running child's output is retained (the tail).
const OUTPUT_TAIL: usize = 64 * 1024;

/// A thread-safe buffer that keeps the last [`OUTPUT_TAIL`] bytes written
/// by a drain thread. Draining matters: a child whose stderr pipe fills up
/// blocks forever.
#[derive(Clone, Default)]
pub(crate) struct OutputTail(Arc<Mutex<Vec<u8>>>);

impl OutputTail {
    /// Spawns a thread that copies `reader` into this buffer until EOF.
    pub(crate) fn drain<R: Read + Send + 'static>(&self, mut reader: R, name: &str) {
        let buf = self.0.clone();
        let spawned = thread::Builder::new()
            .name(format!("drain-{name}"))
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match reader.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
                            b.extend_from_slice(&chunk[..n]);
                            if b.len() > 2 * OUTPUT_TAIL {
                                let cut = b.len() - OUTPUT_TAIL;
                                b.drain(..cut);
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("could not spawn output drain thread for {name}: {e}");
        }
    }

    /// The retained output as (lossy) UTF-8, at most [`OUTPUT_TAIL`] bytes.
    pub(crate) fn text(&self) -> String {
        let b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let start = b.len().saturating_sub(OUTPUT_TAIL);
        String::from_utf8_lossy(&b[start..]).into_owned()
    }
}

/// The captured result of [`run`].
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Output {
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A printable rendering of a command line, for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.len() > 80 {
            s.push_str(" <long argument>");
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` to completion, feeding it `stdin`, killing it after `timeout`.
///
/// A non-zero exit is NOT an error here; callers decide (see [`run_ok`]).
pub(crate) fn run(cmd: &mut Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Result<Output> {
    let what = describe(cmd);
    let program = cmd.get_program().to_string_lossy().into_owned();
    log::debug!("running: {what}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| HarnessError::spawn(&program, e))?;

    let writer = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => Some(thread::spawn(move || {
            // A child that exits early closes the pipe; that is reported
            // through its exit status, not here.
            let _ = pipe.write_all(&data);
        })),
        _ => None,
    };
    let stdout = read_all_in_thread(child.stdout.take());
    let stderr = read_all_in_thread(child.stderr.take());

    let status = match wait_timeout(&mut child, timeout)? {
        Some(status) => status,
        None => {
            kill(&mut child);
            let err = stderr.join().unwrap_or_default();
            return Err(HarnessError::Timeout {
                what,
                timeout,
                output: String::from_utf8_lossy(&err).into_owned(),
            });
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Like [`run`], but a non-zero exit status is an error carrying stderr.
pub(crate) fn run_ok(
    cmd: &mut Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Output> {
    let what = describe(cmd);
    let out = run(cmd, stdin, timeout)?;
    if !out.status.success() {
        return Err(HarnessError::Failed {
            what,
            status: out.status.to_string(),
            output: out.stderr_text(),
        });
    }
    Ok(out)
}

fn read_all_in_thread<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Polls `child` until it exits or `timeout` passes; `None` on timeout.
pub(crate) fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) if Instant::now() >= deadline => return Ok(None),
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(HarnessError::io("waiting for a child process", e)),
        }
    }
}

/// Kills and reaps `child`, ignoring errors (it may already be gone).
pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A server process run under [`WATCHDOG`]: killed when dropped (or when the
/// test process dies), its stdout and stderr drained into a tail.
pub(crate) struct Watched {
    child: Child,
    output: OutputTail,
    what: String,
}

impl Watched {
    /// Starts `cmd` (program and arguments; its stdio is replaced) under
    /// the watchdog and waits up to `timeout` until 127.0.0.1:`port`
    /// accepts connections.
    ///
    /// A process that exits before that is [`HarnessError::Failed`] (with
    /// its output), so callers can retry on another port.
    pub(crate) fn start(
        what: &str,
        cmd: &Command,
        port: u16,
        timeout: Duration,
    ) -> Result<Watched> {
        let program = cmd.get_program().to_os_string();
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(WATCHDOG)
            .arg(format!("{what}-watchdog"))
            .arg(&program)
            .args(cmd.get_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = cmd.get_current_dir() {
            sh.current_dir(dir);
        }
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        log::debug!("starting {what}: {}", describe(cmd));
        let mut child = sh.spawn().map_err(|e| HarnessError::spawn("sh", e))?;
        let output = OutputTail::default();
        if let Some(o) = child.stdout.take() {
            output.drain(o, &format!("{what}-stdout"));
        }
        if let Some(e) = child.stderr.take() {
            output.drain(e, &format!("{what}-stderr"));
        }
        let mut server = Watched {
            child,
            output,
            what: what.to_string(),
        };
        let mut exited = None;
        let up = crate::ports::wait_for_port(
            port,
            timeout,
            what,
            || match server.child.try_wait() {
                Ok(Some(s)) => {
                    exited = Some(s);
                    false
                }
                _ => true,
            },
            || server.output.text(),
        )?;
        if up {
            log::info!("{what} listening on 127.0.0.1:{port}");
            return Ok(server);
        }
        // Let the drain threads catch the last words.
        thread::sleep(Duration::from_millis(50));
        Err(HarnessError::Failed {
            what: format!("{what} on port {port} ({})", describe(cmd)),
            status: exited.map_or("exited".into(), |s| s.to_string()),
            output: server.output.text(),
        })
    }

    /// Its stdout and stderr so far (tail).
    pub(crate) fn output(&self) -> String {
        self.output.text()
    }

    /// True while the process (its watchdog) runs.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // Closing stdin makes the watchdog kill the server and exit.
        drop(self.child.stdin.take());
        if !matches!(
            wait_timeout(&mut self.child, Duration::from_secs(5)),
            Ok(Some(_))
        ) {
            log::warn!(
                "{} watchdog did not exit after stdin closed; killing it",
                self.what
            );
            kill(&mut self.child);
        }
    }
}
