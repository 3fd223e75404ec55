//! `zeal authority init` and `zeal enrol` as an operator runs them: the key is private and never
//! overwritten, certificates verify against the authority's public key and only against it, and
//! bad input is refused with a reason.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
mod common;

use common::run;
use zeal_protocol::ed25519_dalek::{SigningKey, VerifyingKey};
use zeal_protocol::v2::enrolment::{Registry, Status, key_from_hex};
use zeal_protocol::v2::wire::certificate_from_wire;

fn public_of(key_file: &Path) -> VerifyingKey {
    key_from_hex(&std::fs::read_to_string(key_file.with_extension("pub")).unwrap()).unwrap()
}

#[test]
fn certificates_verify_against_their_authority_only() {
    let dir = std::env::temp_dir().join(format!("zeal-authority-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("authority.key");
    let key_s = key.to_str().unwrap();

    let out = run(&["authority", "init", "--key-file", key_s]);
    assert!(out.status.success(), "{out:?}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the authority key is private");
    let authority = public_of(&key);
    // A second init keeps the key.
    assert!(
        run(&["authority", "init", "--key-file", key_s])
            .status
            .success()
    );
    assert_eq!(public_of(&key), authority);

    let identity = SigningKey::from_bytes(&[5; 32]).verifying_key();
    let certs = dir.join("certs");
    let out_dir = certs.to_str().unwrap();
    let enrol = |key: &str, meter: &str, extra: &[&str]| {
        let args = [&["--out", out_dir][..], extra].concat();
        common::enrol(
            key,
            meter,
            "NL-UT-01",
            &identity,
            "2020-07-01T00:00Z",
            &args,
        )
    };
    let out = enrol(key_s, "m-0001", &[]);
    assert!(out.status.success(), "{out:?}");
    let path = certs.join("m-0001@1593561600000.cert");
    let bytes = std::fs::read(&path).unwrap();
    let wire = zeal_schemas::decode::<zeal_schemas::v2::Certificate>(&bytes).unwrap();
    let cert = certificate_from_wire(&wire).unwrap();
    assert_eq!(
        (cert.meter.as_str(), cert.region.as_str(), cert.valid_from),
        ("m-0001", "NL-UT-01", 1_593_561_600)
    );
    assert_eq!(cert.status, Status::Active);
    assert_eq!(cert.identity, *identity.as_bytes());
    let mut registry = Registry::new(authority);
    registry.admit(cert.clone()).unwrap();

    // Never replaced: the same (meter, valid_from) again is refused, the file unchanged.
    let out = enrol(key_s, "m-0001", &["--retire"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("never replaced"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // Another authority's certificate is refused by a registry that trusts the first.
    let rogue = dir.join("rogue.key");
    assert!(
        run(&["authority", "init", "--key-file", rogue.to_str().unwrap()])
            .status
            .success()
    );
    let out = enrol(rogue.to_str().unwrap(), "m-0002", &[]);
    assert!(out.status.success(), "{out:?}");
    let rogue_cert = certificate_from_wire(
        &zeal_schemas::decode(&std::fs::read(certs.join("m-0002@1593561600000.cert")).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(registry.admit(rogue_cert).is_err());
    assert_eq!(registry.len(), 1);

    // Bad input: a reason, no certificate.
    let out = run(&[
        "enrol",
        "--key-file",
        key_s,
        "--meter",
        "m-0003",
        "--region",
        "NL-UT-01",
        "--identity",
        "abc",
        "--valid-from",
        "2020-07-01T00:00Z",
        "--out",
        certs.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 hex digits"));
    assert!(!certs.join("m-0003@1593561600000.cert").exists());

    // A key readable by others is refused, not used.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = enrol(key_s, "m-0004", &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable by others"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
