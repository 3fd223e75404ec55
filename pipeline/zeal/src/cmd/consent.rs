//! `zeal consent init|grant|withdraw`: the consent app's decisions from the command line, for a
//! decision that reached the utility another way than the web app (a household at the service
//! desk or on the phone, reading the pairing code off its gateway) and for deployments that set
//! their households up by script (deploy/setup-day.sh). The same signed `zeal.consent.v1` event
//! the app publishes: a grant still needs the code only the household's gateway shows.

use super::common::{KafkaArgs, existing_signing_key, init_signing_key};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use zeal_schemas::consent::{SCOPE_READINGS, SCOPE_READINGS_HISTORY};

#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Create the consent app's Ed25519 signing key (mode 0600, never overwritten) and its
    /// public key next to it (`.pub` for `.key`, for the gateways' `zeal share --consent-app`);
    /// `zeal serve --consent-key` takes the same file.
    Init(InitArgs),
    /// Publish a household's grant, with the pairing code its gateway shows.
    Grant(GrantArgs),
    /// Publish a household's withdrawal: its gateway stops sharing every reading after it.
    Withdraw(DecisionArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// The consent app's signing key (32 bytes).
    #[arg(long, env = "ZEAL_CONSENT_KEY")]
    key_file: PathBuf,
}

#[derive(Args)]
pub struct DecisionArgs {
    /// The consent app's signing key (`zeal consent init` or `zeal serve --consent-key` made it).
    #[arg(long, env = "ZEAL_CONSENT_KEY")]
    consent_key: PathBuf,
    /// The household (its meter id).
    #[arg(long)]
    household: String,
    /// Its region.
    #[arg(long)]
    region: String,
    #[command(flatten)]
    kafka: KafkaArgs,
}

#[derive(Args)]
pub struct GrantArgs {
    #[command(flatten)]
    decision: DecisionArgs,
    /// The pairing code the household read from its gateway (`zeal share --pairing-code`).
    #[arg(long)]
    code: String,
    /// The household also shares the readings its gateway already holds (scope
    /// `readings+history`: the gateway shows a different code for it); otherwise readings from
    /// when the gateway applies the grant.
    #[arg(long)]
    history: bool,
}

pub fn run(c: ConsentCommand) -> anyhow::Result<()> {
    match c {
        ConsentCommand::Init(a) => init_signing_key("consent", &a.key_file).map(|_| ()),
        ConsentCommand::Grant(a) => {
            anyhow::ensure!(
                zeal_protocol::consent::plausible_code(&a.code),
                "--code {:?} is not a pairing code (8 letters and digits, as XXXX-XXXX)",
                a.code
            );
            let code = zeal_protocol::consent::normalise_code(&a.code);
            let scope = if a.history {
                SCOPE_READINGS_HISTORY
            } else {
                SCOPE_READINGS
            };
            publish(&a.decision, scope, true, &code)
        }
        ConsentCommand::Withdraw(a) => publish(&a, SCOPE_READINGS, false, ""),
    }
}

fn publish(a: &DecisionArgs, scope: &str, granted: bool, code: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        zeal_web::join::valid_id(&a.household) && zeal_web::join::valid_id(&a.region),
        "--household and --region take 1-64 letters, digits, '.', '_' or '-'"
    );
    let key = existing_signing_key(&a.consent_key, "zeal consent init")?;
    super::runtime()?.block_on(async move {
        let sink = a.kafka.consent_sink("zeal-consent", key)?;
        sink.publish(&a.household, &a.region, scope, granted, code)
            .await?;
        let what = if granted { "grant" } else { "withdrawal" };
        println!(
            "{}: {what} of {scope:?} published on {}",
            a.household, sink.topic
        );
        anyhow::Ok(())
    })
}
