//! A `log` logger that keeps what the library logs at WARN and above, so a test can
//! check that a problem was reported loudly.
//!
//! A process has one logger: a test binary uses either [`capture_logs`] or
//! [`init_logging`](crate::init_logging), not both. The capturing logger also echoes to
//! stderr at the level named by `INTEG_LOG`, as `init_logging` does.

use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// One captured log line.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// The module that logged it.
    pub target: String,
    /// Its message.
    pub message: String,
}

struct Capture {
    lines: Mutex<Vec<LogLine>>,
    echo: LevelFilter,
}

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        if record.level() <= self.echo {
            eprintln!(
                "{:?} {} {}: {}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default(),
                record.level(),
                record.target(),
                record.args()
            );
        }
        if record.level() <= Level::Warn {
            let line = LogLine {
                level: record.level(),
                target: record.target().to_owned(),
                message: record.args().to_string(),
            };
            self.lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(line);
        }
    }

    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| Capture {
        lines: Mutex::new(Vec::new()),
        echo: std::env::var("INTEG_LOG")
            .ok()
            .and_then(|l| l.parse().ok())
            .unwrap_or(LevelFilter::Off),
    })
}

/// Installs the capturing logger (idempotent); panics if another logger is installed,
/// since nothing would be captured.
pub fn capture_logs() {
    let c = capture();
    if log::set_logger(c).is_ok() {
        log::set_max_level(c.echo.max(LevelFilter::Warn));
        return;
    }
    let ours = std::ptr::addr_eq(log::logger(), c as &dyn Log);
    assert!(
        ours,
        "another logger is installed in this test binary (init_logging?): \
         capture_logs cannot capture anything"
    );
}

/// The lines captured so far at WARN or above whose message contains `text`.
pub fn captured_warnings(text: &str) -> Vec<LogLine> {
    capture()
        .lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.message.contains(text))
        .cloned()
        .collect()
}
