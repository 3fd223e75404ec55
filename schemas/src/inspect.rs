//! Human-readable rendering of wire messages (what `zeal decode` prints).
//!
//! Messages are decoded generically with their writer's schema and rendered as JSON in which
//! byte strings appear as hex and timestamps keep their numeric value, so any message on any
//! topic can be inspected without knowing its Rust type.

use crate::catalog::MessageKind;
use crate::codec::{
    DecodeError, HEADER_LEN, no_trailing_bytes, peek_kind, read_datum, writer_schema,
};
use apache_avro::Schema;
use apache_avro::types::Value;
use serde_json::{Map, Value as Json, json};

/// Decodes any single-object message into JSON: `{"kind", "schema_version", "message"}`.
pub fn to_json(bytes: &[u8]) -> Result<Json, DecodeError> {
    let (kind, version) = peek_kind(bytes)?;
    let schema = writer_schema(kind, version);
    let mut body = &bytes[HEADER_LEN..];
    let value = read_datum(kind, schema, &mut body)?;
    no_trailing_bytes(kind, body)?;
    Ok(json!({
        "kind": kind.name(),
        "schema_version": version,
        "message": render_with(&value, schema),
    }))
}

/// Renders with the schema at hand, so a union of records names its branch
/// (`{"Withdraw": {}}` rather than `{}`, which an Abandoned marker would also print).
fn render_with(value: &Value, schema: &Schema) -> Json {
    match (value, schema) {
        (Value::Union(i, inner), Schema::Union(u)) => match u.variants().get(*i as usize) {
            Some(branch @ Schema::Record(r)) => {
                json!({ r.name.name().to_string(): render_with(inner, branch) })
            }
            Some(branch) => render_with(inner, branch),
            None => render(inner),
        },
        (Value::Record(fields), Schema::Record(r)) => {
            let mut obj = Map::new();
            for (k, v) in fields {
                let rendered = match r.lookup.get(k) {
                    Some(&i) => render_with(v, &r.fields[i].schema),
                    None => render(v),
                };
                obj.insert(k.clone(), rendered);
            }
            Json::Object(obj)
        }
        (Value::Array(items), Schema::Array(a)) => {
            Json::Array(items.iter().map(|x| render_with(x, &a.items)).collect())
        }
        _ => render(value),
    }
}

/// The kinds a topic may carry, for operators' tooling.
pub fn kinds() -> &'static [MessageKind] {
    MessageKind::ALL
}

fn render(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => json!(i),
        Value::Long(i)
        | Value::TimestampMillis(i)
        | Value::TimestampMicros(i)
        | Value::TimeMicros(i)
        | Value::LocalTimestampMillis(i)
        | Value::LocalTimestampMicros(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Double(f) => json!(f),
        Value::Bytes(b) | Value::Fixed(_, b) => Json::String(hex(b)),
        Value::String(s) | Value::Enum(_, s) => Json::String(s.clone()),
        Value::Union(_, inner) => render(inner),
        Value::Array(items) => Json::Array(items.iter().map(render).collect()),
        Value::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), render(v))).collect()),
        Value::Record(fields) => {
            let mut obj = Map::new();
            for (k, v) in fields {
                obj.insert(k.clone(), render(v));
            }
            Json::Object(obj)
        }
        other => Json::String(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
