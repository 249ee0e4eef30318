//! Counting what was consumed, the progress line and the closing summary (on stderr).

use std::io::Write;
use std::time::{Duration, Instant};

/// How often the progress line is redrawn.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Records and bytes consumed since the start.
#[derive(Debug)]
pub struct Stats {
    /// Records consumed.
    pub records: u64,
    /// Key and value bytes consumed.
    pub bytes: u64,
    start: Instant,
    progress: Option<Progress>,
}

/// The state of the `\r`-redrawn progress line.
#[derive(Debug)]
struct Progress {
    last_draw: Option<Instant>,
    width: usize,
}

impl Stats {
    /// Starts counting; `progress` turns the progress line on.
    pub fn new(progress: bool) -> Self {
        Self {
            records: 0,
            bytes: 0,
            start: Instant::now(),
            progress: progress.then_some(Progress {
                last_draw: None,
                width: 0,
            }),
        }
    }

    /// Counts one record of `bytes` key and value bytes.
    pub fn add(&mut self, bytes: usize) {
        self.records += 1;
        self.bytes += bytes as u64;
    }

    /// Redraws the progress line if it is on and due; `lag` is only computed then.
    pub fn tick(&mut self, lag: impl FnOnce() -> Option<i64>) {
        let now = Instant::now();
        let Some(p) = &self.progress else { return };
        if p.last_draw.is_some_and(|t| now < t + PROGRESS_INTERVAL) {
            return;
        }
        let line = format!("{}, lag {}", self.rates(now), lag_text(lag()));
        self.draw(now, line);
    }

    fn draw(&mut self, now: Instant, line: String) {
        let Some(p) = &mut self.progress else { return };
        // Pad over the previous line instead of an ANSI clear: the output may be a file.
        let pad = p.width.saturating_sub(line.len());
        eprint!("\r{line}{:pad$}", "");
        let _ = std::io::stderr().flush();
        p.width = line.len();
        p.last_draw = Some(now);
    }

    /// Ends the progress line (if any) and prints the summary.
    pub fn finish(&mut self, lag: Option<i64>, partitions: usize) {
        let now = Instant::now();
        if self.progress.is_some() {
            let line = format!("{}, lag {}", self.rates(now), lag_text(lag));
            self.draw(now, line);
            eprintln!();
        }
        eprintln!(
            "Consumed {}; lag left {} over {partitions} partition{}",
            self.rates(now),
            lag_text(lag),
            if partitions == 1 { "" } else { "s" }
        );
    }

    /// `N records, X MB in T s (R records/s, M MB/s)`.
    fn rates(&self, now: Instant) -> String {
        let secs = now.duration_since(self.start).as_secs_f64();
        let mb = self.bytes as f64 / 1e6;
        let (rps, mbps) = if secs > 0.0 {
            (self.records as f64 / secs, mb / secs)
        } else {
            (0.0, 0.0)
        };
        format!(
            "{} records, {mb:.2} MB in {secs:.2} s ({rps:.0} records/s, {mbps:.2} MB/s)",
            self.records
        )
    }
}

fn lag_text(lag: Option<i64>) -> String {
    lag.map_or_else(|| "unknown".to_owned(), |l| l.to_string())
}
