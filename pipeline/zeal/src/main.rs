//! `zeal`: the Zebra-Zeal command line. Argument parsing and wiring only; the work lives in the
//! library crates (`zeal-schemas`, `zeal-protocol`, `zeal-connectors`).

mod cmd;

use clap::{Parser, Subcommand};

/// Privacy-preserving smart-meter aggregation on Kafka and ClickHouse.
#[derive(Parser)]
#[command(name = "zeal", version, about, long_about = None)]
struct Cli {
    /// Log lines as human text or as one JSON object per line (for log shippers).
    #[arg(long, global = true, env = "ZEAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline in one process on embedded defaults (in-process broker, Parquet
    /// store): a simulated day of several regions, every private total checked.
    Demo(cmd::demo::DemoArgs),
    /// Run SQL over the embedded store written by `zeal demo`.
    Sql(cmd::sql::SqlArgs),
    /// Run a complete private aggregation round in one process and check it against the
    /// plaintext sum, with the cost of every stage.
    Round(cmd::round::RoundArgs),
    /// Benchmarks that print ratios against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Downstream jobs over the pipeline's topics.
    #[command(subcommand)]
    Jobs(cmd::jobs::JobsCommand),
    /// Train the disaggregation model on simulated households (writes safetensors + JSON).
    Train(cmd::disagg::TrainArgs),
    /// Score the disaggregation model and the Mean and CO baselines on unseen households.
    Eval(cmd::disagg::EvalArgs),
    /// Per-appliance energy of one household from a CSV of 15-minute readings.
    Disaggregate(cmd::disagg::DisaggregateArgs),
    /// The enrolment authority of protocol v2: `zeal authority init` makes its key.
    #[command(subcommand)]
    Authority(cmd::authority::AuthorityCommand),
    /// The utility's own measurements: `zeal grid init` makes its metering key, `zeal grid
    /// publish` signs feeder readings and billing registers and posts them.
    #[command(subcommand)]
    Grid(cmd::grid::GridCommand),
    /// Issue an authority-signed certificate of a meter (protocol v2 enrolment).
    Enrol(cmd::authority::EnrolArgs),
    /// Protocol v2's parties as separate processes: `keys`, `gateway`, `aggregate`, `audit`.
    #[command(flatten)]
    Party(cmd::v2::PartyCommand),
    /// The Energenies web app: sign-in from the utility's portal, a household's game and
    /// neighbours, leaderboards, operator.
    Serve(cmd::serve::ServeArgs),
    /// Share a gateway's households' readings as their consent on `zeal.consent.v1` allows
    /// (`--follow` the readings CSV; `--pairing-code METER` prints the code a grant needs).
    Share(cmd::share::ShareArgs),
    /// The consent app's decisions from the command line: `zeal consent init` makes its key,
    /// `grant` (with the code the household's gateway shows) and `withdraw` publish them.
    #[command(subcommand)]
    Consent(cmd::consent::ConsentCommand),
    /// Erase a household's data on the operator's command (withdraw, delete its rows, publish
    /// the signed record), as the app's "Erase my data" does.
    Erase(cmd::erase::EraseArgs),
    /// The utility portal's side of sign-in: `zeal portal init` makes its key, `zeal portal
    /// link` prints a household's sign-in link.
    #[command(subcommand)]
    Portal(cmd::portal::PortalCommand),
    /// Simulated households' 15-minute readings as the CSV `zeal gateway --readings` takes.
    Simulate(cmd::simulate::SimulateArgs),
    /// Write every service's dead letters to ClickHouse (totals are written by `zeal audit`).
    #[command(subcommand)]
    Sink(cmd::sink::SinkCommand),
    /// Run the Kafka-protocol broker `zeal demo` embeds (tansu, sqlite storage) in the
    /// foreground: a broker for a laptop deployment and for the test suite.
    Broker(cmd::broker::BrokerArgs),
    /// Create or update every ClickHouse table, copying large tables a schema change rebuilds
    /// (every service brings the tables up to date when it starts, small rebuilds included).
    Migrate(cmd::migrate::MigrateArgs),
    /// Create and check the pipeline's Kafka topics.
    #[command(subcommand)]
    Topics(cmd::topics::TopicsCommand),
    /// Print any Zebra-Zeal wire message (Avro single object) as JSON.
    Decode(cmd::decode::DecodeArgs),
    /// List the wire schemas this build reads, with versions and fingerprints.
    Schemas,
    /// Probe a service's HTTP endpoint (default: the metrics server's /healthz); exit 0 on 2xx.
    /// For container healthchecks: the image needs no curl.
    Healthcheck(cmd::healthcheck::HealthcheckArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo and the one-shot tools print their own summaries; services log at info.
    let quiet = matches!(
        cli.command,
        Command::Demo(_)
            | Command::Sql(_)
            | Command::Round(_)
            | Command::Simulate(_)
            | Command::Train(_)
            | Command::Eval(_)
            | Command::Disaggregate(_)
            | Command::Bench(_)
            | Command::Healthcheck(_)
            | Command::Portal(_)
            | Command::Erase(_)
            | Command::Consent(_)
            // tansu traces every codec call at info.
            | Command::Broker(_)
    );
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZEAL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if quiet {
            // librdkafka reports every slow broker request; the one-shot tools only care if it fails.
            "warn,librdkafka=error"
        } else {
            "info"
        })
    });
    // A log line that cannot be written (stderr on a full disk) is lost, never a panic: by
    // default the subscriber reports its own write errors with `eprintln!`, which panics then
    // (found by the nemesis soak: the broker died with exit 101 when its disk filled).
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    cmd::say::use_json(matches!(cli.log_format, LogFormat::Json));
    match cli.log_format {
        LogFormat::Json => logs.json().with_current_span(false).init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    // `zeal audit` tells "could not run" (2) from "found a discrepancy" (1).
    let audit = matches!(
        &cli.command,
        Command::Party(cmd::v2::PartyCommand::Audit(_))
    );
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Sql(a) => cmd::sql::run(a),
        Command::Round(a) => cmd::round::run(a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Sink(c) => cmd::sink::run(c),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Portal(c) => cmd::portal::run(c),
        Command::Share(a) => cmd::share::run(a),
        Command::Erase(a) => cmd::erase::run(a),
        Command::Consent(c) => cmd::consent::run(c),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Authority(c) => cmd::authority::run(c),
        Command::Enrol(a) => cmd::authority::enrol(a),
        Command::Party(c) => cmd::v2::run(c),
        Command::Jobs(c) => cmd::jobs::run(c),
        Command::Grid(c) => cmd::grid::run(c),
        Command::Train(a) => cmd::disagg::train_cmd(a),
        Command::Eval(a) => cmd::disagg::eval_cmd(a),
        Command::Disaggregate(a) => cmd::disagg::disaggregate_cmd(a),
        Command::Broker(a) => cmd::broker::run(a),
        Command::Topics(c) => cmd::topics::run(c),
        Command::Migrate(a) => cmd::migrate::run(a),
        Command::Decode(a) => cmd::decode::run(a),
        Command::Schemas => cmd::schemas::run(),
        Command::Healthcheck(a) => cmd::healthcheck::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain: what failed and why, in the user's words, in
            // the log format. Written without `eprintln!`, which panics (exit 101) when stderr
            // is on a full disk.
            cmd::say::line("ERROR", &format!("error: {e:#}"));
            if e.chain().any(zeal_connectors::kafka::unreachable_hint) {
                cmd::say::line(
                    "ERROR",
                    &format!("hint: {}", zeal_connectors::kafka::UNREACHABLE_HINT),
                );
            }
            if audit && !e.is::<cmd::v2::Discrepancy>() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Duplicate names, conflicting flags or bad defaults panic here, not in a user's hands.
        super::Cli::command().debug_assert();
        let names: Vec<String> = super::Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        for party in ["keys", "gateway", "aggregate", "audit"] {
            assert!(names.iter().any(|n| n == party), "{names:?}");
        }
        assert!(
            !names.iter().any(|n| n == "v2" || n == "keygen"),
            "{names:?}"
        );
    }
}
