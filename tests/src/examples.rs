//! The examples of consumer-net (`consume`, `service`, ...) as executables for tests.
//!
//! Examples have no `CARGO_BIN_EXE_*`, so each is built once per test process with the
//! cargo that runs the tests, and found in cargo's JSON artifact messages.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::console::json_string_field;
use crate::error::{HarnessError, Result};

/// Builds the example `name` of consumer-net (once per test process) and returns the
/// path of its executable.
pub fn example_binary(name: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<String, std::result::Result<PathBuf, String>>>> =
        OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    built
        .entry(name.to_owned())
        .or_insert_with(|| build(name))
        .clone()
        .map_err(|e| HarnessError::Failed {
            what: format!("building the consumer-net example `{name}`"),
            status: "error".to_owned(),
            output: e,
        })
}

fn build(name: &str) -> std::result::Result<PathBuf, String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--manifest-path", manifest])
        .args(["-p", "consumer-net", "--example", name])
        .args(["--quiet", "--message-format=json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build failed ({})", out.status));
    }
    // The artifact message of the example names the executable.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let target = format!("\"kind\":[\"example\"],\"crate_types\":[\"bin\"],\"name\":\"{name}\"");
    stdout
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains(&target))
        .find_map(|l| json_string_field(l, "executable"))
        .map(PathBuf::from)
        .ok_or_else(|| format!("no executable for example `{name}` in cargo's output:\n{stdout}"))
}
