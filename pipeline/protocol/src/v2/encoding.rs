//! The one encoding rule of protocol v2 (DESIGN §4, "Encoding rules"): every signed message and
//! every Fiat–Shamir transcript is bound to (protocol version, message kind, region, round), and
//! every field is length-prefixed, so no two different field lists hash or sign alike.

use sha2::{Digest, Sha256};

/// Protocol version bound into every signature and transcript.
pub const VERSION: u16 = 2;

/// Largest field accepted by [`Transcript::field`] (guards the u32 length prefix).
const MAX_FIELD: usize = u32::MAX as usize;

/// The kinds of signed messages and proofs; each binds its own tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// A seat's daily Paillier key (and its key proof).
    SeatKey = 1,
    /// The aggregator's list of the day's seat keys.
    KeysClosed = 2,
    /// A round's opening.
    RoundOpen = 3,
    /// A meter's commitment to its bundle.
    Commit = 4,
    /// The aggregator's list of commitments.
    CommitClosed = 5,
    /// A meter's reveal notice (its bundle's public part).
    Notice = 6,
    /// A meter's withdrawal.
    Withdraw = 7,
    /// The aggregator's list of revealed meters.
    RevealClosed = 8,
    /// A seat's (or the aggregator's) complaint against a sender.
    Complaint = 9,
    /// The aggregator's final set.
    FinalSet = 10,
    /// A seat's partial.
    Partial = 11,
    /// The aggregator's region total.
    RegionTotal = 12,
    /// The aggregator's abandonment of a round.
    Abandoned = 13,
    /// The proof of knowledge of a bundle's C_0 openings.
    OpeningProof = 14,
    /// The range proof of a bundle.
    RangeProof = 15,
    /// A ciphertext's plaintext proof.
    PlaintextProof = 16,
    /// The aggregator's per-seat products.
    Products = 17,
    /// An on-time meter's objection to a CommitClosed that omits it.
    Objection = 18,
    /// A seat's claim that a revealed sender's part for it never arrived.
    PartMissing = 19,
    /// A sender's part re-posted on the round log in answer to a claim.
    PartPosted = 20,
}

/// A length-prefixed transcript: hash it, sign it, or feed it to a proof as its context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    bytes: Vec<u8>,
}

impl Transcript {
    /// A transcript bound to (version, kind, region, round start).
    pub fn bound(kind: Kind, region: &str, round_start: i64) -> Self {
        let mut t = Transcript::default();
        t.field(b"zebra-zeal");
        t.field(&VERSION.to_be_bytes());
        t.field(&[kind as u8]);
        t.field(region.as_bytes());
        t.field(&round_start.to_be_bytes());
        t
    }

    /// Appends one field: its length (u32, big-endian), then its bytes.
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        assert!(bytes.len() <= MAX_FIELD, "transcript field too long");
        self.bytes
            .extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// Appends a string field.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.field(s.as_bytes())
    }

    /// Appends an integer field (8 bytes, big-endian).
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    /// Appends a list: its count, then each element as a field.
    pub fn list<'a>(&mut self, items: impl IntoIterator<Item = &'a [u8]>) -> &mut Self {
        let items: Vec<&[u8]> = items.into_iter().collect();
        self.u64(items.len() as u64);
        for item in items {
            self.field(item);
        }
        self
    }

    /// The encoded bytes (what is signed, or a proof's context).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the encoded bytes.
    pub fn hash(&self) -> Hash {
        Hash(Sha256::digest(&self.bytes).into())
    }

    /// A hasher that continues this transcript without storing the rest: appending fields to it
    /// and calling [`TranscriptHasher::finish`] gives the hash of the same fields appended here
    /// (for large fields, e.g. ciphertexts, that need not be copied).
    pub fn hasher(&self) -> TranscriptHasher {
        TranscriptHasher(Sha256::new_with_prefix(&self.bytes))
    }
}

/// A [`Transcript`] being hashed as it is written (same encoding, nothing stored).
#[derive(Debug, Clone)]
pub struct TranscriptHasher(Sha256);

impl TranscriptHasher {
    /// Appends one field, as [`Transcript::field`].
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        assert!(bytes.len() <= MAX_FIELD, "transcript field too long");
        self.0.update((bytes.len() as u32).to_be_bytes());
        self.0.update(bytes);
        self
    }

    /// Appends a string field, as [`Transcript::str`].
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.field(s.as_bytes())
    }

    /// Appends an integer field, as [`Transcript::u64`].
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    /// Appends a list of known length, as [`Transcript::list`].
    pub fn list<'a, I>(&mut self, items: I) -> &mut Self
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        self.u64(items.len() as u64);
        for item in items {
            self.field(item);
        }
        self
    }

    /// SHA-256 of everything written.
    pub fn finish(&self) -> Hash {
        Hash(self.0.clone().finalize().into())
    }
}

/// A SHA-256 digest naming a message (messages name each other by hash, never by offset).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

/// SHA-256 over length-prefixed fields (no binding: for derivations that carry their own label).
pub fn hash_fields(fields: &[&[u8]]) -> Hash {
    let mut t = Transcript::default();
    for f in fields {
        t.field(f);
    }
    t.hash()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixes_separate_fields() {
        // "ab" + "c" and "a" + "bc" would concatenate alike; prefixed, they do not.
        assert_ne!(hash_fields(&[b"ab", b"c"]), hash_fields(&[b"a", b"bc"]));
        assert_ne!(hash_fields(&[b"", b"x"]), hash_fields(&[b"x", b""]));
    }

    #[test]
    fn hasher_equals_transcript_hash() {
        let mut t = Transcript::bound(Kind::Commit, "NL-R01", 900);
        let mut h = t.hasher();
        let big = vec![0xa5u8; 100_000];
        let items: [&[u8]; 3] = [b"", b"x", &big];
        t.str("part").u64(7).list(items).field(&big);
        h.str("part").u64(7).list(items).field(&big);
        assert_eq!(h.finish(), t.hash());
        h.field(b"");
        assert_ne!(
            h.finish(),
            t.hash(),
            "one more (empty) field changes the hash"
        );
    }

    #[test]
    fn binding_covers_every_element() {
        let base = Transcript::bound(Kind::Commit, "NL-R01", 900).hash();
        assert_ne!(base, Transcript::bound(Kind::Notice, "NL-R01", 900).hash());
        assert_ne!(base, Transcript::bound(Kind::Commit, "NL-R02", 900).hash());
        assert_ne!(base, Transcript::bound(Kind::Commit, "NL-R01", 1800).hash());
        assert_eq!(base, Transcript::bound(Kind::Commit, "NL-R01", 900).hash());
    }
}
