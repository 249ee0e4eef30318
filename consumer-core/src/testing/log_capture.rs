//! A logger that keeps what the library logs, for tests of its WARN lines.
//!
//! A test binary has one logger: tests that read it take [`LogCapture::serial`] first, so
//! they run one at a time, each starting with an empty log.

use std::sync::{Mutex, MutexGuard, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The lines logged (at DEBUG and above) since the current test took the logger.
#[derive(Debug, Default)]
pub struct LogCapture {
    lines: Mutex<Vec<(Level, String)>>,
}

impl Log for LogCapture {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        self.lines()
            .push((record.level(), record.args().to_string()));
    }

    fn flush(&self) {}
}

impl LogCapture {
    /// The binary's capturing logger, installed on first use. Panics if the binary set
    /// another logger: this is a test tool.
    pub fn get() -> &'static LogCapture {
        static LOGGER: OnceLock<&'static LogCapture> = OnceLock::new();
        LOGGER.get_or_init(|| {
            let logger: &'static LogCapture = Box::leak(Box::default());
            log::set_logger(logger).expect("the only logger of this test binary");
            log::set_max_level(LevelFilter::Debug);
            logger
        })
    }

    /// Takes the logger for one test (held until the guard drops) and empties it.
    pub fn serial() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        Self::get().lines().clear();
        guard
    }

    /// The WARN lines containing every one of `needles`.
    pub fn warnings(&self, needles: &[&str]) -> Vec<String> {
        self.lines()
            .iter()
            .filter(|(level, line)| {
                *level == Level::Warn && needles.iter().all(|n| line.contains(n))
            })
            .map(|(_, line)| line.clone())
            .collect()
    }

    fn lines(&self) -> MutexGuard<'_, Vec<(Level, String)>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }
}
