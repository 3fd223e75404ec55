//! Serde adapters that map Rust byte vectors to Avro `bytes` (serde's default would be an array
//! of ints).

/// `Vec<Vec<u8>>` as an Avro `array<bytes>`.
pub mod byte_arrays {
    use serde::de::{SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serializer};
    use std::fmt;

    struct AsBytes<'a>(&'a [u8]);

    impl serde::Serialize for AsBytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    struct OwnedBytes(Vec<u8>);

    impl<'de> serde::Deserialize<'de> for OwnedBytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            apache_avro::serde::bytes::deserialize(d).map(OwnedBytes)
        }
    }

    /// Serializes each element with `serialize_bytes`.
    pub fn serialize<S: Serializer>(items: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for item in items {
            seq.serialize_element(&AsBytes(item))?;
        }
        seq.end()
    }

    /// Reads a sequence of byte strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        struct SeqVisitor;
        impl<'de> Visitor<'de> for SeqVisitor {
            type Value = Vec<Vec<u8>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of byte strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(OwnedBytes(b)) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(SeqVisitor)
    }
}
