//! A client process (an example binary) watched while it runs: its stdout read line by
//! line as it comes, SIGINT sent to it, its exit timed.
//!
//! Stdout goes through a small bounded queue, so a child that prints faster than the
//! test reads blocks on its stdout (as behind a slow terminal or pipe): a test can stop
//! it part-way through its input. [`LiveChild::wait_exit`] keeps reading while it waits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::process::{self, OutputTail};

/// How many stdout lines wait for the test before the child blocks on its stdout.
const QUEUED_LINES: usize = 64;

/// A running child process; killed when dropped.
pub struct LiveChild {
    child: Child,
    what: String,
    lines: Receiver<String>,
    /// Whether the child's stdout is closed and every line taken.
    eof: bool,
    seen: Vec<String>,
    stderr: OutputTail,
}

impl LiveChild {
    /// Starts `program` with `args`; `what` names it in messages.
    pub fn spawn(program: &Path, args: &[String], what: &str) -> Result<LiveChild> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError::spawn(&program.display().to_string(), e))?;
        let stderr = OutputTail::default();
        if let Some(err) = child.stderr.take() {
            stderr.drain(err, what);
        }
        let (tx, lines) = mpsc::sync_channel(QUEUED_LINES);
        if let Some(out) = child.stdout.take() {
            thread::Builder::new()
                .name(format!("{what}-stdout"))
                .spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(l) = line else { break };
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| HarnessError::io("spawning a stdout reader thread", e))?;
        }
        Ok(LiveChild {
            child,
            what: what.to_owned(),
            lines,
            eof: false,
            seen: Vec::new(),
            stderr,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stdout lines read so far.
    pub fn stdout(&self) -> &[String] {
        &self.seen
    }

    /// Its stderr so far (the tail).
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Reads stdout until at least `n` lines came; an error if the child's stdout
    /// closes first or `timeout` passes.
    pub fn wait_for_lines(&mut self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.seen.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.eof {
                let what = format!(
                    "{} to print {n} lines (printed {}{})",
                    self.what,
                    self.seen.len(),
                    if self.eof { ", then closed stdout" } else { "" }
                );
                return Err(HarnessError::Timeout {
                    what,
                    timeout,
                    output: self.stderr(),
                });
            }
            self.read_for(left.min(Duration::from_millis(100)));
        }
        Ok(())
    }

    /// Sends SIGINT (what Ctrl-C sends), with `kill -INT`.
    pub fn interrupt(&self) -> Result<()> {
        let mut kill = Command::new("kill");
        kill.args(["-INT", &self.pid().to_string()]);
        process::run_ok(&mut kill, None, Duration::from_secs(5)).map(drop)
    }

    /// Waits at most `timeout` for the child to exit, reading its stdout meanwhile (and
    /// to its end); its exit status. After `timeout` the child is killed and the wait
    /// is an error carrying its stderr.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            self.read_for(Duration::from_millis(10));
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {}
                Ok(None) => {
                    process::kill(&mut self.child);
                    return Err(HarnessError::Timeout {
                        what: format!("{} to exit", self.what),
                        timeout,
                        output: self.stderr(),
                    });
                }
                Err(e) => return Err(HarnessError::io(format!("waiting for {}", self.what), e)),
            }
        };
        // The rest of its output (a grandchild holding the pipe would keep it open).
        let drained = Instant::now() + Duration::from_secs(5);
        while !self.eof && Instant::now() < drained {
            self.read_for(Duration::from_millis(100));
        }
        // Let the stderr drain catch the last words.
        thread::sleep(Duration::from_millis(20));
        Ok(status)
    }

    /// Takes the lines that come within `wait` (and every one already queued).
    fn read_for(&mut self, wait: Duration) {
        if self.eof {
            thread::sleep(wait);
            return;
        }
        match self.lines.recv_timeout(wait) {
            Ok(l) => self.seen.push(l),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                return;
            }
        }
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }
}

impl Drop for LiveChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            process::kill(&mut self.child);
        }
    }
}
