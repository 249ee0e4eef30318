//! A library group member in a process of its own, so that tests can kill
//! it with SIGKILL (no close, no LeaveGroup, no final commit).
//!
//! argv: name bootstrap topic[,topic..] commit(auto|N) poll_delay_ms [name=value ...]
//! (Java-named consumer properties). Events go to stdout as lines (see
//! `integration_tests::parse_event_line`); EOF on stdin closes the consumer.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::{
    init_logging, run_member, CommitPolicy, Logged, MemberControl, MemberSpec,
};

fn main() {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = match parse(&args) {
        Some(s) => s,
        None => {
            eprintln!(
                "usage: group_member name bootstrap topics commit(auto|N) poll_delay_ms [k=v ...]; got {args:?}"
            );
            std::process::exit(2);
        }
    };
    let control = Arc::new(MemberControl::default());
    let ctl = control.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        ctl.stop();
    });
    let sink = Arc::new(|event| {
        let line = Logged {
            at_us: integration_tests::now_us(),
            event,
        }
        .to_line();
        let mut out = std::io::stdout().lock();
        // A closed stdout means the test is gone: nothing left to report to.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    });
    if let Err(e) = run_member(&spec, sink, &control) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn parse(args: &[String]) -> Option<MemberSpec> {
    let [name, bootstrap, topics, commit, delay, props @ ..] = args else {
        return None;
    };
    let props = props
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(MemberSpec {
        name: name.clone(),
        bootstrap: bootstrap.clone(),
        topics: topics.split(',').map(str::to_string).collect(),
        props,
        commits: CommitPolicy::from_arg(commit)?,
        poll_delay: Duration::from_millis(delay.parse().ok()?),
    })
}
