//! `zeal schemas`: the wire schemas this build reads.

use zeal_schemas::catalog::{MessageKind, catalog};

pub fn run() -> anyhow::Result<()> {
    println!(
        "{:<18} {:<8} {:<18} file",
        "message", "versions", "fingerprint"
    );
    for &kind in MessageKind::ALL {
        let versions: Vec<String> = kind
            .released_avsc()
            .iter()
            .map(|(v, _)| format!("v{v}"))
            .collect();
        let fp: String = catalog()
            .current(kind)
            .fingerprint
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!(
            "{:<18} {:<8} {:<18} schemas/avro/{}.avsc",
            kind.name(),
            versions.join(","),
            fp,
            kind.stem()
        );
    }
    Ok(())
}
