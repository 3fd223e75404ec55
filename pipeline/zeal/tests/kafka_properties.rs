//! librdkafka properties from the command line (`-X key=value`, as kcat takes them) and from a
//! file (`--kafka-config`), against the real broker: they reach every client and apply last.

mod common;

use common::{ok, run_in, workdir};

/// A port nothing listens on: a command that used `--bootstrap` alone could not create topics.
const NOWHERE: &str = "127.0.0.1:9";

#[test]
fn properties_reach_the_clients_and_apply_last() {
    let kafka = zeal_tests::kafka();
    let dir = workdir("kafka-properties");
    let create = |prefix: &str, extra: &[&str]| {
        let args = [
            &[
                "topics",
                "create",
                "--bootstrap",
                NOWHERE,
                "--topic-prefix",
                prefix,
            ][..],
            extra,
        ]
        .concat();
        run_in(&dir, &args)
    };

    // -X overrides --bootstrap: the topics are created on the real broker.
    let real = format!("bootstrap.servers={}", kafka.bootstrap);
    let prefix = format!("{}.", zeal_tests::unique("props-x"));
    let out = ok(create(&prefix, &["-X", &real]));
    assert!(out.contains(&format!("created  {prefix}")), "{out}");

    // The same from a properties file (comments and blank lines skipped).
    std::fs::write(
        dir.join("client.properties"),
        format!("# the utility's cluster\n\n{real}\nsocket.keepalive.enable = true\n"),
    )
    .unwrap();
    let prefix = format!("{}.", zeal_tests::unique("props-file"));
    let out = ok(create(&prefix, &["--kafka-config", "client.properties"]));
    assert!(out.contains(&format!("created  {prefix}")), "{out}");

    // -X comes after the file: here it points back at nowhere, and nothing is created.
    let prefix = format!("{}.", zeal_tests::unique("props-order"));
    let out = create(
        &prefix,
        &[
            "--kafka-config",
            "client.properties",
            "-X",
            &format!("bootstrap.servers={NOWHERE}"),
            "-X",
            "socket.timeout.ms=2000",
            "-X",
            "socket.connection.setup.timeout.ms=2000",
        ],
    );
    assert!(!out.status.success(), "{out:?}");

    // A property librdkafka does not know is named in the error; a bad line in a file is
    // named by its line, without the secret on it.
    let out = create(&prefix, &["-X", "no.such.property=1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no.such.property"),
        "{err}"
    );
    std::fs::write(
        dir.join("bad.properties"),
        format!("{real}\nsasl.password hunter2\n"),
    )
    .unwrap();
    let out = create(&prefix, &["--kafka-config", "bad.properties"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("bad.properties:2:"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let out = create(&prefix, &["-X", "novalue"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("key=value"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
