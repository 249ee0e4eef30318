//! A minimal stderr logger for the library's `log` output, with milliseconds since start,
//! enabled by an environment variable naming a level (`error|warn|info|debug|trace`).
//! Shared by the `consume` and `bench_consume` examples.

use std::time::Instant;

use log::{LevelFilter, Log, Metadata, Record};

struct Stderr {
    start: Instant,
}

impl Log for Stderr {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let t = self.start.elapsed().as_secs_f64() * 1000.0;
        eprintln!(
            "{t:10.3} ms {:5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Installs the logger when the environment variable `var` names a level.
pub fn init_from_env(var: &str) {
    let Some(level) = std::env::var(var)
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
    else {
        return;
    };
    let logger = Box::leak(Box::new(Stderr {
        start: Instant::now(),
    }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
