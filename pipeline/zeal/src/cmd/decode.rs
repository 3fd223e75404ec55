//! `zeal decode`: print a wire message as JSON, from a file, stdin or a hex string.

use anyhow::Context;
use clap::Args;
use std::io::Read;
use std::path::PathBuf;

#[derive(Args)]
pub struct DecodeArgs {
    /// File with the raw message bytes; stdin when absent.
    file: Option<PathBuf>,
    /// Read the input as hex text instead of raw bytes.
    #[arg(long)]
    hex: bool,
}

pub fn run(args: DecodeArgs) -> anyhow::Result<()> {
    let mut raw = Vec::new();
    match &args.file {
        Some(path) => {
            raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut raw)
                .context("reading stdin")?;
        }
    }
    let bytes = if args.hex {
        parse_hex(std::str::from_utf8(&raw).context("hex input is not text")?)?
    } else {
        raw
    };
    let json = zeal_schemas::inspect::to_json(&bytes).context("not a Zebra-Zeal wire message")?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let clean: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    anyhow::ensure!(clean.len().is_multiple_of(2), "odd number of hex digits");
    (0..clean.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&clean[i..i + 2], 16)
                .with_context(|| format!("invalid hex at position {i}"))
        })
        .collect()
}
