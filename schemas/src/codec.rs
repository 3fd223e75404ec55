//! Avro single-object encoding of wire messages.
//!
//! Layout: `C3 01`, the 8-byte CRC-64-AVRO fingerprint of the writer's schema, then the Avro
//! binary datum. Decoding looks the fingerprint up in the [`catalog`](crate::catalog), reads the
//! datum with that writer schema and, for older versions, resolves it to the current schema. Every
//! failure is a typed [`DecodeError`]; no input makes the decoder panic.

use crate::catalog::{MessageKind, catalog};
use crate::consent::{ConsentEvent, ErasureEvent};
use crate::grid::{BillingRegister, FeederReading, GridAlert};
use crate::messages::*;
use crate::v2::{BeaconRound, Certificate, Cutoff, RoundRecord, SeatPart};
use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Single-object encoding marker.
pub const MAGIC: [u8; 2] = [0xC3, 0x01];
/// Length of the single-object header (magic + fingerprint).
pub const HEADER_LEN: usize = 10;

/// A message type with an Avro schema in the catalog.
pub trait WireMessage: Serialize + DeserializeOwned + Clone {
    /// Which schema describes it.
    const KIND: MessageKind;
}

/// A message that carries an Ed25519 signature over its own canonical bytes.
pub trait Signed: WireMessage + PartialEq {
    /// The signature field.
    fn signature(&self) -> &[u8];
    /// Mutable access to the signature field.
    fn signature_mut(&mut self) -> &mut Vec<u8>;
}

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {kind}: {source}")]
pub struct EncodeError {
    /// The message kind.
    pub kind: MessageKind,
    /// The Avro error.
    #[source]
    pub source: Box<apache_avro::Error>,
}

/// Why bytes could not be decoded into a message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a single-object header.
    #[error("message too short: {len} bytes, a single-object header alone is 10")]
    TooShort { len: usize },
    /// Not Avro single-object encoding.
    #[error("not an Avro single-object message: starts with {found:02x?}, expected c3 01")]
    BadMagic { found: [u8; 2] },
    /// The writer's schema is not one this build knows.
    #[error("unknown schema fingerprint {fingerprint}: written by a newer or foreign producer")]
    UnknownFingerprint { fingerprint: String },
    /// A valid message of another kind.
    #[error("expected a {expected} message, got {found}")]
    WrongKind {
        expected: MessageKind,
        found: MessageKind,
    },
    /// The datum does not match the writer schema (truncated, corrupt).
    #[error("malformed {kind} datum: {detail}")]
    Malformed { kind: MessageKind, detail: String },
    /// Bytes left over after the datum.
    #[error("{count} trailing bytes after the {kind} datum")]
    TrailingBytes { kind: MessageKind, count: usize },
}

impl DecodeError {
    /// A short stable code for metrics and dead letters.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooShort { .. } => "too_short",
            DecodeError::BadMagic { .. } => "bad_magic",
            DecodeError::UnknownFingerprint { .. } => "unknown_schema",
            DecodeError::WrongKind { .. } => "wrong_kind",
            DecodeError::Malformed { .. } => "malformed",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
        }
    }

    /// The error for an Avro failure reading a `kind` datum.
    fn malformed(kind: MessageKind) -> impl Fn(apache_avro::Error) -> DecodeError + Copy {
        move |e| DecodeError::Malformed {
            kind,
            detail: e.to_string(),
        }
    }
}

/// A writer of binary (not human-readable) datums under `schema`.
fn datum_writer(schema: &Schema) -> Result<GenericDatumWriter<'_>, apache_avro::Error> {
    GenericDatumWriter::builder(schema)
        .human_readable(false)
        .build()
}

/// The Avro binary datum of a message under its current schema, without a header.
pub fn encode_datum<T: WireMessage>(msg: &T) -> Result<Vec<u8>, EncodeError> {
    let failed = |e| EncodeError {
        kind: T::KIND,
        source: Box::new(e),
    };
    datum_writer(&catalog().current(T::KIND).schema)
        .map_err(failed)?
        .write_ser_to_vec(msg)
        .map_err(failed)
}

/// Encodes a message as an Avro single object under its current schema.
pub fn encode<T: WireMessage>(msg: &T) -> Result<Vec<u8>, EncodeError> {
    let datum = encode_datum(msg)?;
    let mut out = Vec::with_capacity(HEADER_LEN + datum.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&catalog().current(T::KIND).fingerprint);
    out.extend_from_slice(&datum);
    Ok(out)
}

/// The bytes a signature covers: the message's datum with an empty signature field, under the
/// *oldest* released schema that holds the message losslessly. The signer adds domain
/// separation by message kind (see the protocol crate's signing module).
///
/// Choosing the oldest lossless version keeps signatures valid across schema releases: a v1
/// message read by a v2 build decodes with the new fields at their defaults, and its signing
/// bytes are again its v1 datum, so audits that replay old topics still verify. A message that
/// uses a newer field is signed under the first version that has it, so that field is covered.
pub fn signing_bytes<T: Signed>(msg: &T) -> Result<Vec<u8>, EncodeError> {
    let mut unsigned = msg.clone();
    unsigned.signature_mut().clear();
    let released = T::KIND.released_avsc();
    if released.len() > 1 {
        for &(version, _) in &released[..released.len() - 1] {
            if let Some(bytes) = encode_lossless_as(&unsigned, version) {
                return Ok(bytes);
            }
        }
    }
    encode_datum(&unsigned)
}

/// The datum of `msg` under released `version` (fields that version lacks left out), if that
/// datum reads back as exactly `msg`.
fn encode_lossless_as<T: WireMessage + PartialEq>(msg: &T, version: u32) -> Option<Vec<u8>> {
    let schema = &catalog().version(T::KIND, version)?.schema;
    let Schema::Record(record) = schema else {
        return None;
    };
    let Value::Record(fields) = apache_avro::to_value(msg).ok()? else {
        return None;
    };
    let kept: Vec<(String, Value)> = record
        .fields
        .iter()
        .map(|f| fields.iter().find(|(n, _)| *n == f.name).cloned())
        .collect::<Option<_>>()?;
    let bytes = datum_writer(schema)
        .ok()?
        .write_value_to_vec(Value::Record(kept))
        .ok()?;
    (decode_as::<T>(version, &bytes).ok()? == *msg).then_some(bytes)
}

/// Reads the header: which kind and version wrote these bytes.
pub fn peek_kind(bytes: &[u8]) -> Result<(MessageKind, u32), DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::TooShort { len: bytes.len() });
    }
    if bytes[..2] != MAGIC {
        return Err(DecodeError::BadMagic {
            found: [bytes[0], bytes[1]],
        });
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..HEADER_LEN]);
    catalog()
        .lookup(&fp)
        .ok_or_else(|| DecodeError::UnknownFingerprint {
            fingerprint: fp.iter().map(|b| format!("{b:02x}")).collect(),
        })
}

/// The schema of `version` of `kind`, for a (kind, version) that [`peek_kind`] returned.
pub(crate) fn writer_schema(kind: MessageKind, version: u32) -> &'static Schema {
    &catalog()
        .version(kind, version)
        .expect("catalog lookup returned a known version")
        .schema
}

/// Reads one `kind` datum written with `schema` off the front of `body`.
pub(crate) fn read_datum(
    kind: MessageKind,
    schema: &Schema,
    body: &mut &[u8],
) -> Result<Value, DecodeError> {
    let malformed = DecodeError::malformed(kind);
    GenericDatumReader::builder(schema)
        .human_readable(false)
        .build()
        .map_err(malformed)?
        .read_value(body)
        .map_err(malformed)
}

/// Refuses bytes left over after a `kind` datum.
pub(crate) fn no_trailing_bytes(kind: MessageKind, rest: &[u8]) -> Result<(), DecodeError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes {
            kind,
            count: rest.len(),
        })
    }
}

fn decode_as<T: WireMessage>(version: u32, body: &[u8]) -> Result<T, DecodeError> {
    let kind = T::KIND;
    let malformed = DecodeError::malformed(kind);
    let writer = writer_schema(kind, version);
    let current = &catalog().current(kind).schema;
    let mut cursor = body;
    let written = read_datum(kind, writer, &mut cursor)?;
    let value = if std::ptr::eq(writer, current) || writer == current {
        written
    } else {
        let resolved = written
            .clone()
            .resolve_schemata(current, vec![current])
            .map_err(malformed)?;
        unions_by_name(&written, resolved, writer, current)
            .map_err(|detail| DecodeError::Malformed { kind, detail })?
    };
    no_trailing_bytes(kind, cursor)?;
    if let Some(field) = non_finite(&value) {
        return Err(DecodeError::Malformed {
            kind,
            detail: format!("{field} is not a finite number"),
        });
    }
    apache_avro::from_value::<T>(&value).map_err(malformed)
}

/// The path of the first NaN or infinite float in a datum, if any.
///
/// No wire field means anything by NaN or ±inf, and NaN is not equal to itself, so a message
/// carrying one would not even compare equal to its own re-encoding: such a datum is malformed.
fn non_finite(value: &Value) -> Option<String> {
    match value {
        Value::Float(x) if !x.is_finite() => Some(x.to_string()),
        Value::Double(x) if !x.is_finite() => Some(x.to_string()),
        Value::Record(fields) => fields
            .iter()
            .find_map(|(name, v)| non_finite(v).map(|inner| format!("{name}: {inner}"))),
        Value::Union(_, v) => non_finite(v),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| non_finite(v).map(|inner| format!("[{i}]: {inner}"))),
        Value::Map(entries) => entries
            .iter()
            .find_map(|(key, v)| non_finite(v).map(|inner| format!("[{key:?}]: {inner}"))),
        _ => None,
    }
}

/// Puts every union branch of a resolved value back on the reader's branch of the *same name*.
///
/// The Avro specification resolves a union by the writer's branch: the first reader branch that
/// matches it, records matching by name. apache-avro 0.22 instead takes the first reader branch
/// the value *can be resolved into*, so branches of the same shape swap: round_record v1's
/// `Objection` read under v2 came out as a `Commit`, `FinalSet` as `RevealClosed`, `Abandoned` as
/// `Withdraw`. This walks the writer's value beside the resolved one and re-resolves each named
/// branch into the reader's branch of that name (a writer branch the reader lacks is an error).
fn unions_by_name(
    written: &Value,
    resolved: Value,
    writer: &Schema,
    reader: &Schema,
) -> Result<Value, String> {
    Ok(match (written, resolved, writer, reader) {
        (Value::Union(i, w), Value::Union(j, r), Schema::Union(wu), Schema::Union(ru)) => {
            let wb = wu
                .variants()
                .get(*i as usize)
                .ok_or("union index outside the writer's union")?;
            let (k, rb) = match wb.name() {
                Some(name) => ru
                    .variants()
                    .iter()
                    .enumerate()
                    .find(|(_, b)| b.name().is_some_and(|n| n.name() == name.name()))
                    .ok_or_else(|| format!("the reader has no union branch {}", name.name()))?,
                None => (j as usize, &ru.variants()[j as usize]),
            };
            let r = if k == j as usize {
                *r
            } else {
                (**w)
                    .clone()
                    .resolve_schemata(rb, vec![reader])
                    .map_err(|e| e.to_string())?
            };
            Value::Union(k as u32, Box::new(unions_by_name(w, r, wb, rb)?))
        }
        (Value::Record(wf), Value::Record(rf), Schema::Record(ws), Schema::Record(rs)) => {
            Value::Record(
                rf.into_iter()
                    .map(|(name, r)| {
                        let w = wf.iter().find(|(n, _)| *n == name);
                        match (w, ws.lookup.get(&name), rs.lookup.get(&name)) {
                            (Some((_, w)), Some(&wi), Some(&ri)) => {
                                let r = unions_by_name(
                                    w,
                                    r,
                                    &ws.fields[wi].schema,
                                    &rs.fields[ri].schema,
                                )?;
                                Ok((name, r))
                            }
                            _ => Ok((name, r)), // a field the writer lacks: its default
                        }
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        (Value::Array(wa), Value::Array(ra), Schema::Array(ws), Schema::Array(rs)) => Value::Array(
            wa.iter()
                .zip(ra)
                .map(|(w, r)| unions_by_name(w, r, &ws.items, &rs.items))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Map(wm), Value::Map(rm), Schema::Map(ws), Schema::Map(rs)) => Value::Map(
            rm.into_iter()
                .map(|(key, r)| {
                    let r = match wm.get(&key) {
                        Some(w) => unions_by_name(w, r, &ws.types, &rs.types)?,
                        None => r,
                    };
                    Ok((key, r))
                })
                .collect::<Result<_, String>>()?,
        ),
        (_, resolved, _, _) => resolved,
    })
}

/// Decodes a single-object message of a known kind.
pub fn decode<T: WireMessage>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (kind, version) = peek_kind(bytes)?;
    if kind != T::KIND {
        return Err(DecodeError::WrongKind {
            expected: T::KIND,
            found: kind,
        });
    }
    decode_as::<T>(version, &bytes[HEADER_LEN..])
}

/// Declares [`AnyMessage`] and the [`WireMessage`] impls from the kinds of the catalog.
macro_rules! wire {
    ($( $ty:ident => $stem:literal [ $( $v:literal ),+ ] ),+ $(,)?) => {
        /// Any wire message, as decoded from a topic that carries several kinds.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyMessage {
            $($ty($ty)),+
        }

        $(impl WireMessage for $ty { const KIND: MessageKind = MessageKind::$ty; })+

        /// Decodes a single-object message of whatever kind its header names.
        pub fn decode_any(bytes: &[u8]) -> Result<AnyMessage, DecodeError> {
            let (kind, version) = peek_kind(bytes)?;
            let body = &bytes[HEADER_LEN..];
            Ok(match kind {
                $(MessageKind::$ty => AnyMessage::$ty(decode_as::<$ty>(version, body)?),)+
            })
        }

        impl AnyMessage {
            /// The message kind.
            pub fn kind(&self) -> MessageKind {
                match self { $(AnyMessage::$ty(_) => MessageKind::$ty,)+ }
            }

            /// Encodes the wrapped message.
            pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
                match self { $(AnyMessage::$ty(m) => encode(m),)+ }
            }
        }
    };
}

crate::catalog::with_kinds!(wire);

/// Implements [`Signed`] for messages whose `signature` field signs their own bytes.
macro_rules! signed {
    ($($ty:ident),+) => {
        $(impl Signed for $ty {
            fn signature(&self) -> &[u8] { &self.signature }
            fn signature_mut(&mut self) -> &mut Vec<u8> { &mut self.signature }
        })+
    };
}

signed!(
    MeterEnrolment,
    RoundOpen,
    ShareBundle,
    Redistribution,
    Partial,
    RoundOutcome,
    RegionTotal,
    QuarantineEvent,
    HouseholdReading
);

#[cfg(test)]
mod tests {
    use super::unions_by_name;
    use apache_avro::Schema;
    use apache_avro::types::Value;

    /// A union of two records of the same shape, read by a release that appended a third branch:
    /// apache-avro's own resolution puts the second branch's value on the first branch;
    /// `unions_by_name` keeps it on its own.
    #[test]
    fn same_shaped_branches_resolve_by_name() {
        let branch = |name: &str| {
            format!(
                r#"{{"type":"record","name":"{name}","fields":[{{"name":"x","type":"bytes"}}]}}"#
            )
        };
        let union = |names: &[&str]| {
            let branches: Vec<String> = names.iter().map(|n| branch(n)).collect();
            Schema::parse_str(&format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"e","type":[{}]}}]}}"#,
                branches.join(",")
            ))
            .unwrap()
        };
        let writer = union(&["A", "B"]);
        let reader = union(&["A", "B", "C"]);
        let written = Value::Record(vec![(
            "e".into(),
            Value::Union(
                1,
                Box::new(Value::Record(vec![("x".into(), Value::Bytes(vec![7]))])),
            ),
        )]);
        let branch_of = |v: &Value| match v {
            Value::Record(f) => match &f[0].1 {
                Value::Union(i, _) => *i,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let by_shape = written.clone().resolve(&reader).unwrap();
        assert_eq!(
            branch_of(&by_shape),
            0,
            "apache-avro 0.22 resolves by shape"
        );
        let by_name = unions_by_name(&written, by_shape, &writer, &reader).unwrap();
        assert_eq!(branch_of(&by_name), 1);
        // A branch the reader does not have is an error, never another branch.
        let narrower = union(&["A", "C"]);
        let by_shape = written.clone().resolve(&narrower).unwrap();
        assert!(unions_by_name(&written, by_shape, &writer, &narrower).is_err());
    }
}
