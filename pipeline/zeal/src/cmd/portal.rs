//! `zeal portal init|link` and `zeal operator-token`: what a utility's customer portal does to
//! send a household into the Energenies app (README "Signing in"), for the demo, the tests and
//! a portal team checking its own implementation against ours.

use super::common::{existing_signing_key, init_signing_key};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_web::portal::{AUDIENCE, Claims, DEFAULT_MAX_LIFETIME, issue};

#[derive(Subcommand)]
pub enum PortalCommand {
    /// Create the portal's Ed25519 signing key (mode 0600, never overwritten) and its public
    /// key next to it (`<key-file>.pub`, hex) for `zeal serve --portal-key`.
    Init(InitArgs),
    /// Print a sign-in link for one household (a short-lived, single-use EdDSA JWT).
    Link(LinkArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// The portal's signing key (32 bytes).
    #[arg(long, env = "ZEAL_PORTAL_KEY")]
    key_file: PathBuf,
}

#[derive(Args)]
pub struct LinkArgs {
    /// The portal's signing key, made by `zeal portal init`.
    #[arg(long, env = "ZEAL_PORTAL_KEY")]
    key_file: PathBuf,
    /// The household (its meter id).
    #[arg(long)]
    household: String,
    /// The household's region.
    #[arg(long)]
    region: String,
    /// The app's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// How long the link works, in seconds (the app refuses more than its --max-link-age).
    #[arg(long, default_value_t = 300)]
    valid_seconds: i64,
}

/// The portal's signing key, which must exist.
pub fn load(path: &Path) -> anyhow::Result<SigningKey> {
    existing_signing_key(path, "zeal portal init")
}

/// A sign-in link to `url` for `household` of `region`, valid `seconds` from now.
pub fn link(
    key: &SigningKey,
    url: &str,
    household: &str,
    region: &str,
    seconds: i64,
) -> anyhow::Result<String> {
    if !zeal_web::join::valid_id(household) || !zeal_web::join::valid_id(region) {
        bail!(
            "--household and --region must be 1-64 letters, digits, '.', '_' or '-', got \
             {household:?} and {region:?}"
        );
    }
    if !(1..=DEFAULT_MAX_LIFETIME).contains(&seconds) {
        bail!("--valid-seconds must be 1 to {DEFAULT_MAX_LIFETIME}, got {seconds}");
    }
    let now = (zeal_connectors::now_ms() / 1000) as i64;
    let claims = Claims {
        iss: "zeal portal".into(),
        aud: AUDIENCE.into(),
        sub: household.into(),
        region: region.into(),
        iat: now,
        exp: now + seconds,
        jti: zeal_web::session::random_hex()[..32].to_string(),
    };
    Ok(format!(
        "{}/signin?token={}",
        url.trim_end_matches('/'),
        issue(key, &claims)
    ))
}

/// `zeal portal …`.
pub fn run(c: PortalCommand) -> anyhow::Result<()> {
    match c {
        PortalCommand::Init(a) => init_signing_key("portal", &a.key_file).map(drop),
        PortalCommand::Link(a) => {
            let key = load(&a.key_file)?;
            println!(
                "{}",
                link(&key, &a.url, &a.household, &a.region, a.valid_seconds)?
            );
            Ok(())
        }
    }
}

/// Reads the operator token from `path` (mode 0600, at least 32 characters), or creates a
/// random one there when `create` and it is absent.
pub fn operator_token(path: &Path, create: bool) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    if create && !path.exists() {
        super::common::write_private(path, &format!("{}\n", zeal_web::session::random_hex()))?;
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {mode:o}): chmod 600 it",
            path.display()
        );
    }
    let token = text.trim().to_string();
    if token.len() < 32 || token.chars().any(char::is_whitespace) {
        bail!(
            "{} must hold one token of at least 32 characters without spaces",
            path.display()
        );
    }
    Ok(token)
}
