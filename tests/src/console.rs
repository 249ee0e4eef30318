//! The console consumer (`consumer-net/examples/consume`) as a child process.
//!
//! Examples have no `CARGO_BIN_EXE_*`, so the binary is built once per test process with
//! the cargo that runs the tests ([`crate::example_binary`]).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// The bound on one run of the console consumer.
pub const CONSOLE_TIMEOUT: Duration = Duration::from_secs(90);

/// What one run printed.
#[derive(Debug, Clone)]
pub struct ConsoleRun {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its exit status, for messages.
    pub status: String,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

/// Builds the example once per test process and returns its path.
pub fn console_consumer_binary() -> Result<PathBuf> {
    crate::examples::example_binary("consume")
}

/// The string value of `"name":"…"` in one line of JSON (no escapes expected).
pub fn json_string_field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":\"");
    let start = line.find(&key)? + key.len();
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

/// The number value of `"name":N` in one line of JSON.
pub fn json_number_field(line: &str, name: &str) -> Option<i64> {
    let key = format!("\"{name}\":");
    let start = line.find(&key)? + key.len();
    let digits: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

/// Runs the console consumer with `args` and waits for it, at most [`CONSOLE_TIMEOUT`]
/// (then it is killed and the run is an error).
pub fn run_console_consumer(args: &[&str]) -> Result<ConsoleRun> {
    run_console_consumer_with_env(args, &[])
}

/// [`run_console_consumer`] with extra environment variables (e.g. `CONSUME_LOG=trace`).
pub fn run_console_consumer_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<ConsoleRun> {
    let mut child = Command::new(console_consumer_binary()?)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            program: "the console consumer".to_owned(),
            source,
        })?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + CONSOLE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr.join().unwrap_or_default();
                return Err(HarnessError::Timeout {
                    what: format!("the console consumer {args:?}"),
                    timeout: CONSOLE_TIMEOUT,
                    output: err,
                });
            }
            Err(source) => {
                return Err(HarnessError::Io {
                    context: "waiting for the console consumer".to_owned(),
                    source,
                })
            }
        }
    };
    Ok(ConsoleRun {
        success: status.success(),
        status: status.to_string(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
