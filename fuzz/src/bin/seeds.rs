//! Writes the seed corpora: `seeds OUT_DIR` creates `OUT_DIR/<target>/<name>` files.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let targets = [
        (
            "response_decoders",
            consumer_core_fuzz::seeds::response_decoders(),
        ),
        (
            "record_batches",
            consumer_core_fuzz::seeds::record_batches(),
        ),
        ("consumer_core", consumer_core_fuzz::consumer::seeds()),
        ("sasl_messages", consumer_core_fuzz::sasl::seeds()),
    ];
    for (target, seeds) in targets {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir)?;
        let bytes: usize = seeds.iter().map(|(_, s)| s.len()).sum();
        for (name, data) in &seeds {
            std::fs::write(dir.join(format!("seed-{name}")), data)?;
        }
        println!(
            "{target}: {} seeds, {bytes} bytes -> {}",
            seeds.len(),
            dir.display()
        );
    }
    Ok(())
}
