//! For the benchmark children: a stop signal from the parent over stdin.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag set once stdin has a line that is `word` or ends (read on a thread of its own).
pub fn stop_on_stdin(word: &'static str) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() != word => continue,
                _ => break,
            }
        }
        flag.store(true, Ordering::SeqCst);
    });
    stop
}
