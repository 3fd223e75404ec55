//! Every schema version this build can read.
//!
//! `schemas/avro/<stem>.avsc` is the current version of a message; every released version is
//! kept as `schemas/avro/history/<stem>/v<N>.avsc`. A reader identifies the writer's version by the
//! fingerprint in the single-object header and resolves it to the current schema. The test
//! `current_schema_is_released` fails when a current schema differs from its newest released
//! version, so every change to a wire format is a deliberate, compatibility-checked release.

use apache_avro::Schema;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Largest single allocation the Avro decoder may make for one field (hostile length prefixes).
pub const MAX_FIELD_BYTES: usize = 16 << 20;

/// Calls `$then!` with the one list of message kinds, each as `Kind => "stem" [released
/// versions]`; a kind is named like the Rust type of its message.
macro_rules! with_kinds {
    ($then:ident) => {
        $then! {
            MeterEnrolment => "meter_enrolment" [1],
            RoundOpen => "round_open" [1],
            ShareBundle => "share_bundle" [1],
            Redistribution => "redistribution" [1],
            Partial => "partial" [1],
            RoundOutcome => "round_outcome" [1],
            RegionTotal => "region_total" [1],
            QuarantineEvent => "quarantine_event" [1],
            HouseholdReading => "household_reading" [1, 2],
            DeadLetter => "dead_letter" [1],
            Certificate => "certificate" [1],
            Cutoff => "cutoff" [1],
            BeaconRound => "beacon_round" [1],
            RoundRecord => "round_record" [1, 2, 3],
            SeatPart => "seat_part" [1],
            FeederReading => "feeder_reading" [1],
            BillingRegister => "billing_register" [1],
            GridAlert => "grid_alert" [1],
            ConsentEvent => "consent_event" [1],
            ErasureEvent => "erasure_event" [1],
        }
    };
}
pub(crate) use with_kinds;

/// Declares [`MessageKind`] and what each kind's entry in [`with_kinds`] says of it.
macro_rules! kinds {
    ($( $kind:ident => $stem:literal [ $( $v:literal ),+ ] ),+ $(,)?) => {
        /// The kinds of message on the wire.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MessageKind {
            $($kind),+
        }

        impl MessageKind {
            /// Every message kind.
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$kind),+];

            /// The schema's short name, e.g. `ShareBundle`.
            pub fn name(self) -> &'static str {
                match self { $(MessageKind::$kind => stringify!($kind)),+ }
            }

            /// File stem of the `.avsc` (`schemas/avro/<stem>.avsc`).
            pub fn stem(self) -> &'static str {
                match self { $(MessageKind::$kind => $stem),+ }
            }

            /// Current `.avsc` text.
            pub fn current_avsc(self) -> &'static str {
                match self {
                    $(MessageKind::$kind => include_str!(concat!("../avro/", $stem, ".avsc"))),+
                }
            }

            /// Released versions as (version, `.avsc` text), oldest first.
            pub fn released_avsc(self) -> &'static [(u32, &'static str)] {
                match self {
                    $(MessageKind::$kind => &[$(
                        ($v, include_str!(concat!("../avro/history/", $stem, "/v", $v, ".avsc")))
                    ),+]),+
                }
            }
        }
    };
}

with_kinds!(kinds);

/// One released version of one message schema.
pub struct SchemaVersion {
    /// The message it describes.
    pub kind: MessageKind,
    /// 1 for the first release.
    pub version: u32,
    /// The `.avsc` text.
    pub avsc: &'static str,
    /// The parsed schema.
    pub schema: Schema,
    /// CRC-64-AVRO fingerprint of the Parsing Canonical Form, little-endian, as written in
    /// message headers.
    pub fingerprint: [u8; 8],
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Parsing Canonical Form of the Avro specification.
///
/// apache-avro 0.22 keeps a primitive that carried a logical type as `{"type":"long"}`, where the
/// specification (and fastavro, Java) reduce it to `"long"`; its fingerprints therefore disagree
/// with every other implementation. In canonical form an object whose only attribute is `type`
/// with a primitive name can only be such a wrapper, so unwrapping it is exact.
pub fn parsing_canonical_form(schema: &Schema) -> String {
    let mut form = schema.canonical_form();
    for primitive in [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ] {
        form = form.replace(
            &format!(r#"{{"type":"{primitive}"}}"#),
            &format!(r#""{primitive}""#),
        );
    }
    form
}

/// CRC-64-AVRO (Rabin) fingerprint, as specified for single-object encoding.
pub fn crc64_avro(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: LazyLock<[u64; 256]> = LazyLock::new(|| {
        let mut table = [0u64; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            }
            *slot = fp;
        }
        table
    });
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

/// All schemas of this build, parsed once.
pub struct Catalog {
    current: HashMap<MessageKind, SchemaVersion>,
    by_fingerprint: HashMap<[u8; 8], (MessageKind, u32)>,
    released: HashMap<(MessageKind, u32), SchemaVersion>,
}

fn parse(kind: MessageKind, version: u32, avsc: &'static str) -> SchemaVersion {
    // The .avsc files are compiled in and covered by tests; a parse failure is a build defect.
    let schema = Schema::parse_str(avsc)
        .unwrap_or_else(|e| panic!("schemas/avro/{}.avsc v{version}: {e}", kind.stem()));
    let fingerprint = crc64_avro(parsing_canonical_form(&schema).as_bytes()).to_le_bytes();
    SchemaVersion {
        kind,
        version,
        avsc,
        schema,
        fingerprint,
    }
}

impl Catalog {
    fn build() -> Catalog {
        apache_avro::util::max_allocation_bytes(MAX_FIELD_BYTES);
        let mut current = HashMap::new();
        let mut by_fingerprint = HashMap::new();
        let mut released = HashMap::new();
        for &kind in MessageKind::ALL {
            for &(version, avsc) in kind.released_avsc() {
                let v = parse(kind, version, avsc);
                by_fingerprint.insert(v.fingerprint, (kind, version));
                released.insert((kind, version), v);
            }
            // The current schema is the newest release (enforced by a test); if a developer
            // edited it without releasing, it still decodes its own output.
            let cur = parse(kind, 0, kind.current_avsc());
            by_fingerprint.entry(cur.fingerprint).or_insert((kind, 0));
            current.insert(kind, cur);
        }
        Catalog {
            current,
            by_fingerprint,
            released,
        }
    }

    /// The current schema of a message kind.
    pub fn current(&self, kind: MessageKind) -> &SchemaVersion {
        &self.current[&kind]
    }

    /// A released version (0 means the current, unreleased one).
    pub fn version(&self, kind: MessageKind, version: u32) -> Option<&SchemaVersion> {
        if version == 0 {
            Some(self.current(kind))
        } else {
            self.released.get(&(kind, version))
        }
    }

    /// Which message kind and version a header fingerprint names.
    pub fn lookup(&self, fingerprint: &[u8; 8]) -> Option<(MessageKind, u32)> {
        self.by_fingerprint.get(fingerprint).copied()
    }
}

/// The process-wide catalog.
pub fn catalog() -> &'static Catalog {
    static CATALOG: LazyLock<Catalog> = LazyLock::new(Catalog::build);
    &CATALOG
}
