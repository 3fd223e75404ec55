//! Consent that reaches the gateways (pure): what a household's gateway does with the decisions
//! on `zeal.consent.v1` (README "Consent").
//!
//! The gateway runs in the household and is the only party that may turn sharing on. A grant
//! therefore needs two things the utility cannot produce alone:
//! - the consent app's signature (the web app the household used: the decision came through
//!   an authenticated channel), and
//! - the **pairing code** the household read from its own gateway: a MAC under a secret only
//!   the gateway holds (derived from the meter's identity key), over the household, the scope
//!   and the gateway's current consent **epoch**.
//!
//! Every decision the gateway accepts moves the epoch on, so a code works once: a code the
//! utility saw in an earlier grant, or kept back from one, is dead after the next decision. A
//! withdrawal needs only the app's signature (withdrawal is honoured from any authenticated
//! source) and also moves the epoch on, so a grant withheld across it cannot revive sharing.
//! [`MAX_FAILURES`] wrong codes in one epoch move it on too (the gateway then shows a fresh
//! code): guessing a 40-bit code that many times succeeds with probability ~5·2⁻⁴⁰.
//!
//! The state is a fold of the log ([`Consent::apply`] in log order), so a restarted gateway
//! rebuilds exactly the same epochs, and [`pairing_code`] is the same wherever it is computed. A
//! grant of [`SCOPE_READINGS`] counts from the later of its `decided_at` and the gateway's clock
//! when it applies it (the app, i.e. the utility, writes `decided_at`; backdating it must not
//! reach queued old readings); after a restart that moment is the restart, which only ever
//! shares less. A grant of [`SCOPE_READINGS_HISTORY`] also covers every reading the gateway
//! already holds: the household chose it on its gateway, which shows a different code for it (the
//! code is a MAC over the scope), so the utility cannot turn a grant from now on into one that
//! reaches back.

use crate::v2::encoding::hash_fields;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeal_schemas::consent::{ConsentEvent, SCOPE_READINGS, SCOPE_READINGS_HISTORY};

/// Wrong pairing codes accepted in one epoch before it moves on.
pub const MAX_FAILURES: u32 = 5;
/// Characters of a pairing code (Crockford base32: 40 bits), shown as `XXXX-XXXX`.
pub const CODE_CHARS: usize = 8;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Why a consent event was not applied (each goes to the dead-letter topic with this reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentRefused {
    #[error("not signed by a consent app this gateway trusts")]
    Signature,
    #[error("scope {0:?} is not one this gateway knows")]
    Scope(String),
    #[error("for {claimed}, which this gateway does not serve as such (it serves {served})")]
    Household { claimed: String, served: String },
    #[error(
        "the pairing code is not the one this gateway shows (attempt {attempt} of {MAX_FAILURES} in this epoch)"
    )]
    Code { attempt: u32 },
}

/// The `from_ms` of a grant that includes the history: every reading the gateway holds.
pub const FROM_THE_START: i64 = i64::MIN;

/// What an accepted event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sharing is on for readings of intervals from `from_ms` ([`FROM_THE_START`]: the gateway's whole
    /// history too).
    Granted { from_ms: i64 },
    /// Sharing is off.
    Withdrawn,
}

/// What the consent app's key signs: every field but the signature.
pub fn signing_bytes(e: &ConsentEvent) -> [u8; 32] {
    hash_fields(&[
        b"zebra-zeal/consent/v1",
        e.household_id.as_bytes(),
        e.region.as_bytes(),
        e.scope.as_bytes(),
        &[u8::from(e.granted)],
        &e.decided_at.to_be_bytes(),
        e.event_id.as_bytes(),
        e.pairing_code.as_bytes(),
        e.source.as_bytes(),
    ])
    .0
}

/// Signs `e` with the consent app's key.
pub fn sign(app: &SigningKey, e: &mut ConsentEvent) {
    e.signature = app.sign(&signing_bytes(e)).to_bytes().to_vec();
}

/// Whether `e` is signed (strictly) by one of `apps`.
pub fn signed_by(e: &ConsentEvent, apps: &[VerifyingKey]) -> bool {
    signed_by_any(&signing_bytes(e), &e.signature, apps)
}

/// Whether `signature` is a strict Ed25519 signature of `bytes` by one of `apps`.
pub(crate) fn signed_by_any(bytes: &[u8; 32], signature: &[u8], apps: &[VerifyingKey]) -> bool {
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let signature = Signature::from_bytes(&signature);
    apps.iter()
        .any(|k| k.verify_strict(bytes, &signature).is_ok())
}

/// The code the gateway shows for `household`'s `scope` in `epoch`: derived from the meter's
/// identity key, which never leaves the gateway.
pub fn pairing_code(identity: &SigningKey, household: &str, scope: &str, epoch: u32) -> String {
    let secret = hash_fields(&[b"zebra-zeal/consent/pairing", &identity.to_bytes()]);
    let mac = hash_fields(&[
        b"zebra-zeal/consent/code",
        &secret.0,
        household.as_bytes(),
        scope.as_bytes(),
        &epoch.to_be_bytes(),
    ]);
    let bits = u64::from_be_bytes(mac.0[..8].try_into().expect("8 bytes")) >> 24;
    let chars: String = (0..CODE_CHARS)
        .rev()
        .map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A code as a household may type it: case, spaces and dashes ignored, `O`→`0`, `I`/`L`→`1`
/// (Crockford's reading rules).
pub fn normalise_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// Whether `typed` could be a pairing code at all (for the form, before anything is sent).
pub fn plausible_code(typed: &str) -> bool {
    let n = normalise_code(typed);
    n.len() == CODE_CHARS && n.bytes().all(|b| ALPHABET.contains(&b))
}

fn same_code(a: &str, b: &str) -> bool {
    let (a, b) = (normalise_code(a), normalise_code(b));
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One household's consent as its gateway holds it: the fold of its events on the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    /// Decisions accepted (and lockouts) so far: the pairing code's counter.
    pub epoch: u32,
    /// Wrong codes in this epoch.
    pub failures: u32,
    /// Sharing is on for readings of intervals from this time (ms), or off (`None`).
    pub sharing_from: Option<i64>,
}

impl Consent {
    /// Applies the next event of `household` from the log (an event for another household is
    /// refused and changes nothing). `identity` is the meter's identity key; `apps` the consent
    /// apps this gateway trusts; `now_ms` the gateway's clock as it applies the event. A grant
    /// covers intervals from the later of its `decided_at` and `now_ms` (the app writes
    /// `decided_at`, and a backdated one must not reach readings from before the gateway heard
    /// of the consent), or all of them for [`SCOPE_READINGS_HISTORY`].
    pub fn apply(
        &mut self,
        e: &ConsentEvent,
        household: &str,
        identity: &SigningKey,
        apps: &[VerifyingKey],
        now_ms: i64,
    ) -> Result<Decision, ConsentRefused> {
        if e.household_id != household {
            return Err(ConsentRefused::Household {
                claimed: e.household_id.clone(),
                served: household.to_string(),
            });
        }
        if !signed_by(e, apps) {
            return Err(ConsentRefused::Signature);
        }
        let history = match e.scope.as_str() {
            SCOPE_READINGS => false,
            SCOPE_READINGS_HISTORY => true,
            _ => return Err(ConsentRefused::Scope(e.scope.clone())),
        };
        if e.granted {
            let expected = pairing_code(identity, household, &e.scope, self.epoch);
            if !same_code(&e.pairing_code, &expected) {
                self.failures += 1;
                let attempt = self.failures;
                if self.failures >= MAX_FAILURES {
                    self.next_epoch();
                }
                return Err(ConsentRefused::Code { attempt });
            }
            self.next_epoch();
            let from_ms = if history {
                FROM_THE_START
            } else {
                e.decided_at.max(now_ms)
            };
            self.sharing_from = Some(from_ms);
            Ok(Decision::Granted { from_ms })
        } else {
            self.next_epoch();
            self.sharing_from = None;
            Ok(Decision::Withdrawn)
        }
    }

    fn next_epoch(&mut self) {
        self.epoch += 1;
        self.failures = 0;
    }

    /// Whether a reading of the interval starting at `interval_start` (ms) may be shared now.
    pub fn shares(&self, interval_start: i64) -> bool {
        self.sharing_from.is_some_and(|from| interval_start >= from)
    }

    /// The code the household must bring for its next grant of [`SCOPE_READINGS`].
    pub fn code(&self, identity: &SigningKey, household: &str) -> String {
        self.code_for(identity, household, SCOPE_READINGS)
    }

    /// The code the household must bring for its next grant of `scope`.
    pub fn code_for(&self, identity: &SigningKey, household: &str, scope: &str) -> String {
        pairing_code(identity, household, scope, self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUSEHOLD: &str = "NL-UT-01-m0001";
    const T: i64 = 1_800_000_000_000;

    fn meter() -> SigningKey {
        SigningKey::from_bytes(&[1; 32])
    }

    fn app() -> SigningKey {
        SigningKey::from_bytes(&[2; 32])
    }

    fn event(granted: bool, code: &str, at: i64) -> ConsentEvent {
        let mut e = ConsentEvent {
            household_id: HOUSEHOLD.into(),
            region: "NL-UT-01".into(),
            scope: SCOPE_READINGS.into(),
            granted,
            decided_at: at,
            event_id: format!("event-{at}-{granted}-{code}"),
            pairing_code: code.into(),
            source: "energenies-web".into(),
            signature: vec![],
        };
        sign(&app(), &mut e);
        e
    }

    fn apply(c: &mut Consent, e: &ConsentEvent) -> Result<Decision, ConsentRefused> {
        c.apply(e, HOUSEHOLD, &meter(), &[app().verifying_key()], T)
    }

    #[test]
    fn the_household_with_its_gateways_code_turns_sharing_on_and_off() {
        let mut c = Consent::default();
        assert!(!c.shares(T));
        let code = c.code(&meter(), HOUSEHOLD);
        assert_eq!(code.len(), 9);
        assert_eq!(
            apply(
                &mut c,
                &event(true, &code.to_lowercase().replace('-', " "), T)
            ),
            Ok(Decision::Granted { from_ms: T }),
            "typed in lower case with a space"
        );
        assert!(
            c.shares(T) && !c.shares(T - 900_000),
            "never before the decision"
        );
        assert_eq!(
            apply(&mut c, &event(false, "", T + 1)),
            Ok(Decision::Withdrawn)
        );
        assert!(!c.shares(T + 900_000));
    }

    /// The attack: the utility (it runs the web app and holds its key) signs a grant the
    /// household never gave. Without the code only the household's gateway shows, nothing
    /// starts: no code, a guessed one, a code for another household or scope, another epoch's.
    #[test]
    fn a_consent_the_utility_forges_is_refused() {
        let mut c = Consent::default();
        let other_household = pairing_code(&meter(), "NL-UT-01-m0002", SCOPE_READINGS, 0);
        let other_epoch = pairing_code(&meter(), HOUSEHOLD, SCOPE_READINGS, 1);
        let other_key = pairing_code(&app(), HOUSEHOLD, SCOPE_READINGS, 0);
        for (i, code) in ["", "0000-0000", &other_household, &other_epoch, &other_key]
            .into_iter()
            .enumerate()
        {
            let refused = apply(&mut c, &event(true, code, T));
            if i + 1 < MAX_FAILURES as usize {
                assert_eq!(
                    refused,
                    Err(ConsentRefused::Code {
                        attempt: i as u32 + 1
                    }),
                    "{code:?}"
                );
            }
            assert!(!c.shares(T), "{code:?}");
        }
    }

    /// Guessing: after MAX_FAILURES wrong codes the epoch moves on, so the code the household
    /// would have used (and an attacker might have narrowed down) is dead.
    #[test]
    fn wrong_codes_lock_the_epoch() {
        let mut c = Consent::default();
        let code = c.code(&meter(), HOUSEHOLD);
        for _ in 0..MAX_FAILURES {
            assert!(apply(&mut c, &event(true, "ZZZZ-ZZZZ", T)).is_err());
        }
        assert_eq!(c.epoch, 1);
        assert!(matches!(
            apply(&mut c, &event(true, &code, T)),
            Err(ConsentRefused::Code { attempt: 1 })
        ));
        let fresh = c.code(&meter(), HOUSEHOLD);
        assert_ne!(fresh, code);
        assert!(apply(&mut c, &event(true, &fresh, T)).is_ok());
    }

    /// A code works once: the utility saw it in the household's grant. After the household
    /// withdraws, replaying that grant (or a new one with the same code) does not restart
    /// sharing; nor does a grant the utility withheld until after the withdrawal.
    #[test]
    fn a_used_or_withheld_code_cannot_revive_sharing() {
        let mut c = Consent::default();
        let first = c.code(&meter(), HOUSEHOLD);
        let grant = event(true, &first, T);
        assert!(apply(&mut c, &grant).is_ok());
        assert!(apply(&mut c, &event(false, "", T + 10)).is_ok());
        assert!(apply(&mut c, &grant).is_err(), "the same event again");
        assert!(apply(&mut c, &event(true, &first, T + 20)).is_err());
        assert!(!c.shares(T + 30));

        // The household read a code, the app kept the grant back; the household withdrew
        // through another channel meanwhile.
        let mut c = Consent::default();
        let withheld = event(true, &c.code(&meter(), HOUSEHOLD), T);
        assert!(apply(&mut c, &event(false, "", T + 5)).is_ok());
        assert!(apply(&mut c, &withheld).is_err());
        assert!(!c.shares(T + 10));
    }

    /// Withdrawal is honoured from an authenticated source only: an unsigned or foreign-signed
    /// event changes nothing, whatever it says.
    #[test]
    fn unsigned_or_foreign_events_change_nothing() {
        let mut c = Consent::default();
        let code = c.code(&meter(), HOUSEHOLD);
        assert!(apply(&mut c, &event(true, &code, T)).is_ok());
        let before = c.clone();
        let mut unsigned = event(false, "", T + 1);
        unsigned.signature.clear();
        assert_eq!(apply(&mut c, &unsigned), Err(ConsentRefused::Signature));
        let mut foreign = event(false, "", T + 1);
        sign(&SigningKey::from_bytes(&[9; 32]), &mut foreign);
        assert_eq!(apply(&mut c, &foreign), Err(ConsentRefused::Signature));
        let mut altered = event(false, "", T + 1);
        altered.household_id = "NL-UT-01-m0002".into();
        assert!(matches!(
            c.apply(
                &altered,
                "NL-UT-01-m0002",
                &meter(),
                &[app().verifying_key()],
                T,
            ),
            Err(ConsentRefused::Signature)
        ));
        let mut scope = event(false, "", T + 1);
        scope.scope = "everything".into();
        sign(&app(), &mut scope);
        assert!(matches!(
            apply(&mut c, &scope),
            Err(ConsentRefused::Scope(_))
        ));
        assert!(matches!(
            c.apply(
                &event(false, "", T + 1),
                "NL-UT-01-m0009",
                &meter(),
                &[app().verifying_key()],
                T,
            ),
            Err(ConsentRefused::Household { .. })
        ));
        assert_eq!(c, before, "nothing changed");
    }

    /// The utility holds a genuine grant (the household typed its code) and backdates its
    /// `decided_at` by a year, so that readings of the past year still queued at the gateway
    /// would be shared. The grant counts from when the gateway applied it.
    #[test]
    fn a_backdated_grant_does_not_reach_back() {
        let mut c = Consent::default();
        let year = 365 * 86_400_000;
        let backdated = event(true, &c.code(&meter(), HOUSEHOLD), T - year);
        assert_eq!(
            c.apply(&backdated, HOUSEHOLD, &meter(), &[app().verifying_key()], T),
            Ok(Decision::Granted { from_ms: T })
        );
        assert!(!c.shares(T - year) && !c.shares(T - 900_000));
        assert!(c.shares(T));
    }

    /// History is the household's choice, made on its gateway: a grant with the history
    /// code shares what the gateway already holds. The utility, holding a genuine grant from
    /// now on (the household typed that code), relabels it as a history grant and re-signs it
    /// with the app's key: the code is a MAC over the scope, so it is refused, counted as a
    /// wrong code, and nothing is shared.
    #[test]
    fn the_utility_cannot_widen_a_grant_to_the_history() {
        let year = 365 * 86_400_000;
        let mut c = Consent::default();
        let forward = c.code(&meter(), HOUSEHOLD);
        let mut widened = event(true, &forward, T);
        widened.scope = SCOPE_READINGS_HISTORY.into();
        sign(&app(), &mut widened);
        assert_eq!(
            apply(&mut c, &widened),
            Err(ConsentRefused::Code { attempt: 1 })
        );
        assert!(!c.shares(T - year) && !c.shares(T));

        // The household asked for its history, with the code its gateway shows for that.
        let mut c = Consent::default();
        let history = c.code_for(&meter(), HOUSEHOLD, SCOPE_READINGS_HISTORY);
        assert_ne!(history, forward);
        let mut grant = event(true, &history, T);
        grant.scope = SCOPE_READINGS_HISTORY.into();
        sign(&app(), &mut grant);
        assert_eq!(
            apply(&mut c, &grant),
            Ok(Decision::Granted {
                from_ms: FROM_THE_START
            })
        );
        assert!(c.shares(T - year) && c.shares(T));
        // Withdrawal ends it like any grant; the history code is dead after it.
        assert!(apply(&mut c, &event(false, "", T + 1)).is_ok());
        assert!(!c.shares(T - year) && !c.shares(T + 900_000));
        assert!(apply(&mut c, &grant).is_err());
    }

    #[test]
    fn codes_are_plain_and_readable() {
        let code = pairing_code(&meter(), HOUSEHOLD, SCOPE_READINGS, 0);
        assert!(plausible_code(&code) && code.chars().nth(4) == Some('-'));
        assert!(plausible_code("abcd efgh") && !plausible_code("ABCD-EFG"));
        assert!(
            !plausible_code("ABCD-EFGU"),
            "U is not in Crockford's alphabet"
        );
        assert_eq!(normalise_code("oIl0-lOIo"), "01101010");
        let codes: std::collections::BTreeSet<String> = (0..200)
            .map(|e| pairing_code(&meter(), HOUSEHOLD, SCOPE_READINGS, e))
            .collect();
        assert_eq!(codes.len(), 200, "every epoch its own code");
    }
}
