//! Counting what was consumed, the progress line and the closing summary (on stderr).

use std::io::Write;
use std::time::{Duration, Instant};

use consumer_net::ConsumerMetrics;

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

    /// Ends the progress line (if any) and prints the summary, with the consumer's
    /// `metrics` (fetches, rebalances and commit failures).
    pub fn finish(&mut self, lag: Option<i64>, metrics: &ConsumerMetrics) {
        let now = Instant::now();
        if self.progress.is_some() {
            let line = format!("{}, lag {}", self.rates(now), lag_text(lag));
            self.draw(now, line);
            eprintln!();
        }
        eprintln!("{}", summary(&self.rates(now), lag, metrics));
        if let Some(e) = &metrics.commits.last_error {
            eprintln!("Last commit failure: {e}");
        }
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

/// `Consumed <rates>; lag left L over P partitions`, then the fetches with their mean
/// latency, and the rebalances and commit failures when there were any.
fn summary(rates: &str, lag: Option<i64>, metrics: &ConsumerMetrics) -> String {
    let partitions = metrics.partitions.len();
    let mut line = format!(
        "Consumed {rates}; lag left {} over {}",
        lag_text(lag),
        plural(partitions as u64, "partition")
    );
    let fetch = &metrics.fetch;
    if fetch.responses > 0 {
        line.push_str(&format!("; {}", plural(fetch.responses, "fetch")));
        if let Some(avg) = fetch.latency_avg {
            line.push_str(&format!(" (mean {:.1} ms)", avg.as_secs_f64() * 1e3));
        }
    }
    let rebalances = metrics.rebalances.assignments;
    if rebalances > 0 {
        line.push_str(&format!("; {}", plural(rebalances, "rebalance")));
    }
    let failures = metrics.commits.failed;
    if failures > 0 {
        line.push_str(&format!("; {}", plural(failures, "commit failure")));
    }
    line
}

/// `1 fetch`, `2 fetches`, `0 partitions`.
fn plural(n: u64, what: &str) -> String {
    match (n, what.ends_with("ch")) {
        (1, _) => format!("1 {what}"),
        (_, true) => format!("{n} {what}es"),
        (_, false) => format!("{n} {what}s"),
    }
}

fn lag_text(lag: Option<i64>) -> String {
    lag.map_or_else(|| "unknown".to_owned(), |l| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_fetches_and_only_the_rebalances_and_failures_there_were() {
        let rates = "3 records, 0.00 MB in 1.00 s (3 records/s, 0.00 MB/s)";
        let mut m = ConsumerMetrics::default();
        assert_eq!(
            summary(rates, None, &m),
            format!("Consumed {rates}; lag left unknown over 0 partitions")
        );
        m.fetch.responses = 4;
        m.fetch.latency_avg = Some(Duration::from_micros(12_340));
        m.rebalances.assignments = 1;
        m.commits.failed = 2;
        assert_eq!(
            summary(rates, Some(7), &m),
            format!(
                "Consumed {rates}; lag left 7 over 0 partitions; 4 fetches (mean 12.3 ms); \
                 1 rebalance; 2 commit failures"
            )
        );
        m.fetch.responses = 1;
        m.rebalances.assignments = 0;
        m.commits.failed = 0;
        assert_eq!(
            summary(rates, Some(0), &m),
            format!("Consumed {rates}; lag left 0 over 0 partitions; 1 fetch (mean 12.3 ms)")
        );
    }
}
