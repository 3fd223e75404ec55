//! A meter's bundle (DESIGN §4, "Shares" and "Commit"): per value a degree-d Pedersen dealing,
//! the commitments to its coefficients, a proof of knowledge of C_0's opening bound to
//! (region, round, cutoff, sender, value), one aggregated range proof; per seat a part of slot-packed
//! shares encrypted under the seat's daily key, each ciphertext with a plaintext proof bound to
//! (round, sender, seat, index). The bundle hash commits to all of it, each part hashed apart, so a
//! seat fetches only the public part and its own part.

use super::RoundContext;
use crate::v2::crypto::paillier::{Exponentiation, PlaintextProof};
use crate::v2::crypto::range_batch::{RangeItem, verify_range_items};
use crate::v2::crypto::vss::{Commitments, Dealing, OpeningProof, RangeProof, verify_openings};
use crate::v2::encoding::{Hash, Kind};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use rand::{CryptoRng, RngCore};
use rug::Integer;

/// The public part of a bundle: what the reveal notice carries and every verifier checks.
#[derive(Debug, Clone)]
pub struct BundlePublic {
    /// The meter.
    pub sender: String,
    /// Per value, the Pedersen commitments C_0..C_d.
    pub commitments: Vec<Commitments>,
    /// Per value, the proof of knowledge of C_0's opening.
    pub opening_proofs: Vec<OpeningProof>,
    /// Range proof that every C_0 commits to a value in [0, 2^b).
    pub range_proof: RangeProof,
    /// H(part_j) per seat, in the order of the day's seats.
    pub part_hashes: Vec<Hash>,
}

/// One seat's encrypted part: the ciphertexts of its slot-packed shares and their plaintext
/// proofs, as bytes (a malformed ciphertext is itself evidence for a complaint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatPart {
    /// Ciphertexts, each the width of n².
    pub ciphertexts: Vec<Vec<u8>>,
    /// Plaintext proofs, one per ciphertext.
    pub proofs: Vec<Vec<u8>>,
}

/// A meter's whole bundle: the public part and one part per seat (same order as the seats).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// What the notice carries.
    pub public: BundlePublic,
    /// What goes to each seat on the bundles topic.
    pub parts: Vec<SeatPart>,
}

/// Why a bundle's public part is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleFault {
    /// The sender is not on the round's roster.
    #[error("sender is not on the roster")]
    NotOnRoster,
    /// Wrong number of values, coefficients or part hashes.
    #[error("wrong shape: {0}")]
    Shape(&'static str),
    /// A proof of knowledge of an opening does not verify for this round and sender.
    #[error("proof of knowledge of value {0}'s opening does not verify")]
    OpeningProof(usize),
    /// The range proof does not verify.
    #[error("range proof does not verify")]
    RangeProof,
    /// A value outside [0, 2^b) (meter side).
    #[error("value {0} outside [0, 2^b)")]
    ValueOutOfRange(u64),
    /// The bundle does not match the meter's commitment.
    #[error("bundle does not match the commitment")]
    CommitmentMismatch,
}

/// Context of value `v`'s opening proof.
pub fn opening_context(ctx: &RoundContext, sender: &str, v: usize) -> Vec<u8> {
    ctx.transcript(Kind::OpeningProof)
        .str(sender)
        .u64(v as u64)
        .as_bytes()
        .to_vec()
}

/// Context of a bundle's range proof.
pub fn range_context(ctx: &RoundContext, sender: &str) -> Vec<u8> {
    ctx.transcript(Kind::RangeProof)
        .str(sender)
        .as_bytes()
        .to_vec()
}

/// Context of the plaintext proof of ciphertext `index` from `sender` to `seat`.
pub fn plaintext_context(ctx: &RoundContext, sender: &str, seat: &str, index: usize) -> Vec<u8> {
    ctx.transcript(Kind::PlaintextProof)
        .str(sender)
        .str(seat)
        .u64(index as u64)
        .as_bytes()
        .to_vec()
}

/// H(part) for the part from `sender` to `seat`.
pub fn part_hash(ctx: &RoundContext, sender: &str, seat: &str, part: &SeatPart) -> Hash {
    // Streamed into SHA-256: the parts are large and need not be copied into a transcript.
    ctx.transcript(Kind::Commit)
        .hasher()
        .str("part")
        .str(sender)
        .str(seat)
        .list(part.ciphertexts.iter().map(Vec::as_slice))
        .list(part.proofs.iter().map(Vec::as_slice))
        .finish()
}

/// H(binding ‖ sender ‖ commitments ‖ proofs ‖ range proof ‖ H(part_1) ‖ … ‖ H(part_k)), from
/// the encoded fields: the wire reader checks a reveal's signature with it before decoding any
/// point.
pub fn commitment_hash<'a>(
    ctx: &RoundContext,
    sender: &str,
    points: &[[u8; 32]],
    opening_proofs: impl Iterator<Item = &'a [u8]>,
    range_proof: &[u8],
    part_hashes: &[Hash],
) -> Hash {
    ctx.transcript(Kind::Commit)
        .str(sender)
        .list(points.iter().map(|p| p.as_slice()))
        .list(opening_proofs)
        .field(range_proof)
        .list(part_hashes.iter().map(|h| h.0.as_slice()))
        .hash()
}

impl BundlePublic {
    /// The commitment a meter posts before anything is revealed ([`commitment_hash`]).
    pub fn commitment(&self, ctx: &RoundContext) -> Hash {
        let points: Vec<[u8; 32]> = self.commitments.iter().flat_map(|c| c.to_bytes()).collect();
        let proofs: Vec<Vec<u8>> = self
            .opening_proofs
            .iter()
            .map(|p| p.to_bytes().to_vec())
            .collect();
        commitment_hash(
            ctx,
            &self.sender,
            &points,
            proofs.iter().map(Vec::as_slice),
            &self.range_proof.to_bytes(),
            &self.part_hashes,
        )
    }

    /// The checks of a reveal that every party runs (points already decoded when parsed): shape,
    /// roster, and the proofs of knowledge of the openings. Range proofs are separate
    /// ([`BundlePublic::verify_range`]): the aggregator and the audit check them, seats do not.
    pub fn verify(&self, ctx: &RoundContext) -> Result<(), BundleFault> {
        self.verify_shape(ctx)?;
        let contexts = self.opening_contexts(ctx);
        let c0 = self.c0();
        let items = opening_items(&c0, &self.opening_proofs, &contexts);
        if !verify_openings(&items) {
            let bad = items
                .iter()
                .position(|(c, _, p, x)| !p.verify(c, x))
                .unwrap_or(0);
            return Err(BundleFault::OpeningProof(bad));
        }
        Ok(())
    }

    /// Every check of [`BundlePublic::verify`] before the opening proofs.
    fn verify_shape(&self, ctx: &RoundContext) -> Result<(), BundleFault> {
        if !ctx.on_roster(&self.sender) {
            return Err(BundleFault::NotOnRoster);
        }
        let values = ctx.params.values_per_round();
        if self.commitments.len() != values || self.opening_proofs.len() != values {
            return Err(BundleFault::Shape(
                "one commitment vector and one proof per value",
            ));
        }
        if self.commitments.iter().any(|c| c.degree() != ctx.degree) {
            return Err(BundleFault::Shape("d + 1 commitments per value"));
        }
        if self.part_hashes.len() != ctx.seats.len() {
            return Err(BundleFault::Shape("one part hash per seat"));
        }
        Ok(())
    }

    fn opening_contexts(&self, ctx: &RoundContext) -> Vec<Vec<u8>> {
        (0..self.opening_proofs.len())
            .map(|v| opening_context(ctx, &self.sender, v))
            .collect()
    }

    fn c0(&self) -> Vec<(RistrettoPoint, CompressedRistretto)> {
        self.commitments
            .iter()
            .map(|c| (c.c0(), c.c0_compressed()))
            .collect()
    }

    /// The range proof over every C_0.
    pub fn verify_range(&self, ctx: &RoundContext) -> Result<(), BundleFault> {
        let c0: Vec<_> = self.commitments.iter().map(|c| c.c0().compress()).collect();
        self.range_proof
            .verify_range(
                &c0,
                ctx.params.value_bits as usize,
                &range_context(ctx, &self.sender),
            )
            .map_err(|_| BundleFault::RangeProof)
    }
}

/// The range proofs of many reveals at once: entry `i` is `publics[i].verify_range(ctx).is_ok()`,
/// decided by one batched check ([`verify_range_items`]), one by one only to name failures.
pub fn verify_ranges(ctx: &RoundContext, publics: &[&BundlePublic]) -> Vec<bool> {
    let contexts: Vec<Vec<u8>> = publics
        .iter()
        .map(|p| range_context(ctx, &p.sender))
        .collect();
    let items: Vec<RangeItem<'_>> = publics
        .iter()
        .zip(&contexts)
        .map(|(p, c)| RangeItem::from_vss(&p.range_proof, &p.commitments, c))
        .collect();
    verify_range_items(&items, ctx.params.value_bits as usize)
}

type OpeningItem<'a> = (
    &'a RistrettoPoint,
    &'a CompressedRistretto,
    &'a OpeningProof,
    &'a [u8],
);

/// The items [`verify_openings`] takes, for one bundle.
fn opening_items<'a>(
    c0: &'a [(RistrettoPoint, CompressedRistretto)],
    proofs: &'a [OpeningProof],
    contexts: &'a [Vec<u8>],
) -> Vec<OpeningItem<'a>> {
    c0.iter()
        .zip(proofs)
        .zip(contexts)
        .map(|(((c, cb), p), x)| (c, cb, p, x.as_slice()))
        .collect()
}

/// [`BundlePublic::verify`] of many notices, one result each (same order), with the same
/// decisions and faults as verifying each alone: the cheap checks per notice, then the opening
/// proofs of every notice that passed them in one multiscalar multiplication; only if that fails
/// is each such notice verified alone, to name the bad ones.
pub fn verify_all(ctx: &RoundContext, publics: &[&BundlePublic]) -> Vec<Result<(), BundleFault>> {
    let mut results: Vec<_> = publics.iter().map(|p| p.verify_shape(ctx)).collect();
    let passed: Vec<&BundlePublic> = publics
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| *p)
        .collect();
    let contexts: Vec<_> = passed.iter().map(|p| p.opening_contexts(ctx)).collect();
    let c0: Vec<_> = passed.iter().map(|p| p.c0()).collect();
    let items: Vec<OpeningItem<'_>> = passed
        .iter()
        .zip(&c0)
        .zip(&contexts)
        .flat_map(|((p, c), x)| opening_items(c, &p.opening_proofs, x))
        .collect();
    if !verify_openings(&items) {
        for (r, p) in results.iter_mut().zip(publics) {
            if r.is_ok() {
                *r = p.verify(ctx);
            }
        }
    }
    results
}

/// The dealings of `values`, their commitments and the proofs of knowledge of each C_0's opening
/// bound to (round, sender, value index): the public half of a bundle before the range proof.
fn deal<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    sender: &str,
    values: &[u64],
    rng: &mut R,
) -> (Vec<Dealing>, Vec<Commitments>, Vec<OpeningProof>) {
    let dealings: Vec<Dealing> = values
        .iter()
        .map(|&v| Dealing::new(v, ctx.degree, rng))
        .collect();
    let commitments: Vec<Commitments> = dealings.iter().map(Dealing::commitments).collect();
    let opening_proofs = dealings
        .iter()
        .zip(&commitments)
        .enumerate()
        .map(|(v, (d, c))| {
            OpeningProof::prove(
                &c.c0(),
                &Scalar::from(values[v]),
                &d.value_blinding(),
                &opening_context(ctx, sender, v),
                rng,
            )
        })
        .collect();
    (dealings, commitments, opening_proofs)
}

/// A fault a gateway drill injects while dealing (tests of attribution; never used by honest
/// gateways, which call [`make_bundle`]).
pub enum Tamper<'a> {
    /// Change a value after the bound check (the range proof then fails).
    Value {
        /// The value's index.
        value: usize,
        /// The value.
        v: &'a mut u64,
    },
    /// Change the share pair (f(j), r(j)) of one value for one seat before packing.
    Share {
        /// Seat index.
        seat: usize,
        /// Value index.
        value: usize,
        /// The share pair.
        share: &'a mut (Scalar, Scalar),
    },
    /// Change a packed plaintext before encryption.
    Plaintext {
        /// Seat index.
        seat: usize,
        /// Plaintext index.
        index: usize,
        /// The plaintext.
        plaintext: &'a mut Integer,
    },
}

/// Deals a meter's values for the round's seats: the bundle to commit to now and reveal later.
pub fn make_bundle<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    sender: &str,
    values: &[u64],
    rng: &mut R,
) -> Result<Bundle, BundleFault> {
    make_bundle_with(ctx, sender, values, &mut |_| {}, rng)
}

/// [`make_bundle`] with a fault drill applied at each step.
pub fn make_bundle_with<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    sender: &str,
    values: &[u64],
    tamper: &mut dyn FnMut(Tamper<'_>),
    rng: &mut R,
) -> Result<Bundle, BundleFault> {
    make_bundle_using(ctx, sender, values, tamper, Exponentiation::FixedBase, rng)
}

/// [`make_bundle_with`], encrypting as `how` says (the same bundle either way, for the same
/// `rng`): `v2::bench::measure_deal` compares the two.
pub(crate) fn make_bundle_using<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    sender: &str,
    values: &[u64],
    tamper: &mut dyn FnMut(Tamper<'_>),
    how: Exponentiation,
    rng: &mut R,
) -> Result<Bundle, BundleFault> {
    let params = &ctx.params;
    if values.len() != params.values_per_round() {
        return Err(BundleFault::Shape("one value per channel and interval"));
    }
    if let Some(&v) = values
        .iter()
        .find(|&&v| params.value_bits < 64 && v >> params.value_bits != 0)
    {
        return Err(BundleFault::ValueOutOfRange(v));
    }
    let mut values = values.to_vec();
    for (value, v) in values.iter_mut().enumerate() {
        tamper(Tamper::Value { value, v });
    }
    let (dealings, commitments, opening_proofs) = deal(ctx, sender, &values, rng);
    let blindings: Vec<_> = dealings.iter().map(Dealing::value_blinding).collect();
    let bits = params.value_bits as usize;
    let range_context = range_context(ctx, sender);
    let range_proof = match RangeProof::prove_range(&values, &blindings, bits, &range_context, rng)
    {
        Ok(p) => p,
        // Only a drill gets here (values were checked): it ships a proof of other values.
        Err(_) => RangeProof::prove_range(
            &vec![0; values.len()],
            &blindings,
            bits,
            &range_context,
            rng,
        )
        .map_err(|_| BundleFault::ValueOutOfRange(values[0]))?,
    };
    let layout = ctx.layout();
    let mut parts = Vec::with_capacity(ctx.seats.len());
    for (seat_index, seat) in ctx.seats.iter().enumerate() {
        let mut shares: Vec<_> = dealings.iter().map(|d| d.share(seat.rank)).collect();
        for (value, share) in shares.iter_mut().enumerate() {
            tamper(Tamper::Share {
                seat: seat_index,
                value,
                share,
            });
        }
        let mut plaintexts = layout.pack(&shares, rng);
        let mut part = SeatPart {
            ciphertexts: Vec::new(),
            proofs: Vec::new(),
        };
        for (index, m) in plaintexts.iter_mut().enumerate() {
            tamper(Tamper::Plaintext {
                seat: seat_index,
                index,
                plaintext: m,
            });
            let (c, randomness) = seat
                .key
                .encrypt_using(m, how, rng)
                .map_err(|_| BundleFault::Shape("plaintext not below n"))?;
            let context = plaintext_context(ctx, sender, &seat.meter, index);
            let proof = PlaintextProof::prove(&seat.key, &c, m, randomness.rho(), &context, rng);
            part.ciphertexts.push(c.to_bytes(&seat.key));
            part.proofs.push(proof.to_bytes(&seat.key));
        }
        parts.push(part);
    }
    let part_hashes = ctx
        .seats
        .iter()
        .zip(&parts)
        .map(|(s, p)| part_hash(ctx, sender, &s.meter, p))
        .collect();
    let public = BundlePublic {
        sender: sender.to_string(),
        commitments,
        opening_proofs,
        range_proof,
        part_hashes,
    };
    Ok(Bundle { public, parts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::committee::Committee;
    use crate::v2::crypto::paillier::SeatSecretKey;
    use crate::v2::crypto::vss::Dealing;
    use crate::v2::encoding::Hash;
    use crate::v2::params::Params;
    use crate::v2::round::Seat;
    use crate::v2::round::check::{ColumnEntry, fold_column};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const START: i64 = 1_593_597_600;

    /// A round of `meters` meters with one 1024-bit seat (d = 2, two values a round).
    fn context(meters: usize, rng: &mut ChaCha20Rng) -> (RoundContext, SeatSecretKey) {
        let params = Params {
            intervals_per_round: 1,
            interval_seconds: 3600,
            modulus_bits: 1024,
            ..Params::default()
        };
        let roster: Vec<String> = (0..meters).map(|i| format!("NL-T01-m{i:04}")).collect();
        let day = Params::day_of(START);
        let committee = Committee::draw(b"beacon", day, "NL-T01", &roster, 1);
        let sk = SeatSecretKey::generate(1024, b"test seat key", rng);
        let seat = Seat {
            meter: committee.seats()[0].clone(),
            rank: 1,
            key: sk.public().clone(),
        };
        let ctx = RoundContext {
            params,
            region: "NL-T01".into(),
            start: START,
            committee,
            seats: vec![seat],
            degree: 2,
            roster,
            cutoff: Hash([7; 32]),
            suspended: Default::default(),
            disqualified: Default::default(),
        };
        (ctx, sk)
    }

    /// A notice with valid opening proofs (its part hash is not checked here).
    fn notice(ctx: &RoundContext, sender: &str, rng: &mut ChaCha20Rng) -> BundlePublic {
        let values: Vec<u64> = (0..ctx.params.values_per_round() as u64).collect();
        let (dealings, commitments, opening_proofs) = deal(ctx, sender, &values, rng);
        let blindings: Vec<_> = dealings.iter().map(Dealing::value_blinding).collect();
        let range_proof =
            RangeProof::prove_range(&values, &blindings, 32, &range_context(ctx, sender), rng)
                .unwrap();
        BundlePublic {
            sender: sender.to_string(),
            commitments,
            opening_proofs,
            range_proof,
            part_hashes: vec![Hash([1; 32])],
        }
    }

    fn each_alone(ctx: &RoundContext, publics: &[BundlePublic]) -> Vec<Result<(), BundleFault>> {
        publics.iter().map(|p| p.verify(ctx)).collect()
    }

    fn all(ctx: &RoundContext, publics: &[BundlePublic]) -> Vec<Result<(), BundleFault>> {
        verify_all(ctx, &publics.iter().collect::<Vec<_>>())
    }

    #[test]
    fn verify_all_names_exactly_the_bad_notices() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (ctx, _) = context(8, &mut rng);
        let honest: Vec<BundlePublic> = ctx
            .roster
            .iter()
            .map(|m| notice(&ctx, m, &mut rng))
            .collect();
        assert!(all(&ctx, &honest).iter().all(Result::is_ok));
        assert!(all(&ctx, &[]).is_empty());

        // One proof made for another sender's context, among seven good notices.
        let mut one_bad = honest.clone();
        one_bad[5].opening_proofs[1] = honest[4].opening_proofs[1].clone();
        let got = all(&ctx, &one_bad);
        assert_eq!(got[5], Err(BundleFault::OpeningProof(1)));
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(got, each_alone(&ctx, &one_bad));

        // Two proofs of one notice swapped (each valid for the other value): still refused.
        let mut swapped = honest.clone();
        swapped[2].opening_proofs.swap(0, 1);
        let got = all(&ctx, &swapped);
        assert_eq!(got[2], Err(BundleFault::OpeningProof(0)));
        assert_eq!(got, each_alone(&ctx, &swapped));

        // Shape and roster faults are named without their proofs entering the batch, and two
        // bad notices are both named.
        let mut mixed = honest.clone();
        mixed[0].sender = "NL-T01-m9999".into();
        mixed[3].part_hashes.clear();
        mixed[7].opening_proofs[0] = honest[7].opening_proofs[1].clone();
        let got = all(&ctx, &mixed);
        assert_eq!(got[0], Err(BundleFault::NotOnRoster));
        assert!(matches!(got[3], Err(BundleFault::Shape(_))));
        assert_eq!(got[7], Err(BundleFault::OpeningProof(0)));
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 3);
        assert_eq!(got, each_alone(&ctx, &mixed));

        // Shape faults alone leave every other notice's proofs to the batch, which passes.
        let mut shape_only = honest;
        shape_only[1].commitments.pop();
        let got = all(&ctx, &shape_only);
        assert!(matches!(got[1], Err(BundleFault::Shape(_))));
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(got, each_alone(&ctx, &shape_only));
    }

    #[test]
    fn both_exponentiations_deal_the_same_bundle() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (ctx, _) = context(4, &mut rng);
        let values: Vec<u64> = (0..ctx.params.values_per_round() as u64)
            .map(|v| 1000 + v)
            .collect();
        let deal = |how| {
            let mut g = ChaCha20Rng::seed_from_u64(5);
            make_bundle_using(&ctx, &ctx.roster[1], &values, &mut |_| {}, how, &mut g).unwrap()
        };
        let (a, b) = (
            deal(Exponentiation::FixedBase),
            deal(Exponentiation::PowmSec),
        );
        assert_eq!(a.parts, b.parts);
        assert_eq!(a.public.commitment(&ctx), b.public.commitment(&ctx));
        let c = make_bundle(
            &ctx,
            &ctx.roster[1],
            &values,
            &mut ChaCha20Rng::seed_from_u64(5),
        );
        assert_eq!(c.unwrap().parts, a.parts);
        a.public.verify(&ctx).unwrap();
    }

    #[test]
    fn notice_signing_bytes_equal_signing_bytes() {
        use crate::v2::round::log::{Author, Entry, notice_signing_bytes, signing_bytes};
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (ctx, _) = context(4, &mut rng);
        let public = notice(&ctx, &ctx.roster[2], &mut rng);
        let author = Author::Meter(public.sender.clone());
        assert_eq!(
            signing_bytes(&ctx, &author, &Entry::Notice(Box::new(public.clone()))),
            notice_signing_bytes(&ctx, &public.sender, &public.commitment(&ctx))
        );
    }

    #[test]
    fn fold_column_equals_per_index_fold_and_names_first_bad_sender() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (ctx, sk) = context(5, &mut rng);
        let key = &ctx.seats[0].key;
        let width = ctx.layout().plaintexts();
        let publics: Vec<BundlePublic> = ctx
            .roster
            .iter()
            .map(|m| notice(&ctx, m, &mut rng))
            .collect();
        let parts: Vec<SeatPart> = (0..publics.len() as u64)
            .map(|s| {
                let ciphertexts = (0..width as u64)
                    .map(|i| {
                        let m = Integer::from(1000 * s + i);
                        key.encrypt(&m, &mut rng).unwrap().0.to_bytes(key)
                    })
                    .collect();
                SeatPart {
                    ciphertexts,
                    proofs: vec![Vec::new(); width],
                }
            })
            .collect();
        fn column<'a>(publics: &'a [BundlePublic], parts: &'a [SeatPart]) -> Vec<ColumnEntry<'a>> {
            publics
                .iter()
                .zip(parts)
                .map(|(public, part)| ColumnEntry { public, part })
                .collect()
        }
        let folded = fold_column(&ctx, 0, &column(&publics, &parts)).unwrap();
        assert_eq!(folded.len(), width);
        for (i, c) in folded.iter().enumerate() {
            let parsed: Vec<_> = parts
                .iter()
                .map(|p| key.parse_for_fold(&p.ciphertexts[i]).unwrap())
                .collect();
            assert_eq!(*c, key.fold(&parsed.iter().collect::<Vec<_>>()));
            assert_eq!(sk.decrypt(c), 10_000 + 5 * i as u64);
        }
        // The first bad sender in column order is named, whatever comes after it.
        let mut bad = parts.clone();
        bad[3].ciphertexts[width - 1] = vec![0; key.ciphertext_len()];
        bad[4].ciphertexts.pop();
        assert_eq!(
            fold_column(&ctx, 0, &column(&publics, &bad)),
            Err(publics[3].sender.clone())
        );
        let mut bad = parts.clone();
        bad[2].proofs.pop();
        assert_eq!(
            fold_column(&ctx, 0, &column(&publics, &bad)),
            Err(publics[2].sender.clone())
        );
        let mut bad = parts;
        bad[1].ciphertexts[0].push(0);
        assert_eq!(
            fold_column(&ctx, 0, &column(&publics, &bad)),
            Err(publics[1].sender.clone())
        );
    }
}
