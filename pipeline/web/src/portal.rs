//! Sign-in links from the utility's customer portal: a short-lived JSON Web Token signed with
//! the portal's Ed25519 key (compact JWS, `alg: EdDSA`, RFC 8037), binding one household and its
//! region. Any JWT library with EdDSA can issue one; [`issue`] is ours (`zeal portal link`).
//!
//! [`verify`] accepts a token only when all of this holds, and says which part failed:
//! - three base64url parts without padding, at most [`MAX_TOKEN`] bytes;
//! - the header names `alg: EdDSA` and nothing critical (`crit`): `none`, `HS256` and every
//!   other algorithm are refused before any key is used, so a token cannot choose how it is
//!   checked;
//! - the signature verifies strictly (`verify_strict`: no small-order keys or non-canonical
//!   signatures) over the first two parts, under the configured portal key;
//! - `aud` is [`AUDIENCE`], `sub` and `region` are plain ids, `jti` 16-64 characters;
//! - `iat <= now + SKEW`, `now < exp + SKEW` and `exp - iat <= max_lifetime`: a token minted
//!   for a year is refused even when it has not expired.
//!
//! Single use is the app's part ([`Replays`]): a token's `jti` is remembered until it expires,
//! so a link read from a browser history, a proxy log or a shoulder cannot be used again.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The `aud` every sign-in token names.
pub const AUDIENCE: &str = "energenies";
/// Longest token accepted, in bytes (a real one is ~350).
pub const MAX_TOKEN: usize = 2048;
/// Clock difference tolerated between the portal and the app, in seconds.
pub const SKEW: i64 = 60;
/// The longest lifetime (`exp - iat`) accepted unless configured otherwise: 10 minutes.
pub const DEFAULT_MAX_LIFETIME: i64 = 600;

/// The claims of a sign-in token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who issued it (informational: the key is what is trusted).
    #[serde(default)]
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// The household id.
    pub sub: String,
    /// The household's region.
    pub region: String,
    /// Issued at, seconds since 1970.
    pub iat: i64,
    /// Expires at, seconds since 1970.
    pub exp: i64,
    /// A unique id (single use).
    pub jti: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Why a sign-in token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is not a sign-in token ({0})")]
    Malformed(&'static str),
    #[error("the token uses algorithm {0:?}; only EdDSA is accepted")]
    Algorithm(String),
    #[error("the token's signature is not the portal's")]
    Signature,
    #[error("the token is for {0:?}, not for this app")]
    Audience(String),
    #[error("the link expired")]
    Expired,
    #[error("the link is not valid yet (issued in the future)")]
    NotYetValid,
    #[error("the link lives {0} s; at most {1} s is accepted")]
    TooLongLived(i64, i64),
    #[error("the link was used already")]
    Replayed,
}

fn part<T: for<'de> Deserialize<'de>>(b64: &str, what: &'static str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| TokenError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed(what))
}

/// Signs `claims` with the portal's key: `header.payload.signature`, each base64url.
pub fn issue(key: &SigningKey, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signed = format!("{header}.{payload}");
    let signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// Checks `token` against the portal's key at `now` (seconds); see the module docs. Does not
/// check single use: that is [`Replays::first_use`].
pub fn verify(
    token: &str,
    portal: &VerifyingKey,
    now: i64,
    max_lifetime: i64,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::Malformed("too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three parts"));
    };
    let header: Header = part(h, "header")?;
    if header.alg != "EdDSA" {
        return Err(TokenError::Algorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(TokenError::Malformed("critical header extensions"));
    }
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TokenError::Malformed("signature"))?;
    let signed_len = h.len() + 1 + p.len();
    portal
        .verify_strict(
            &token.as_bytes()[..signed_len],
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| TokenError::Signature)?;
    let claims: Claims = part(p, "claims")?;
    if claims.aud != AUDIENCE {
        return Err(TokenError::Audience(claims.aud));
    }
    if !zeal_web_forms::valid_id(&claims.sub) || !zeal_web_forms::valid_id(&claims.region) {
        return Err(TokenError::Malformed("household or region"));
    }
    if !(16..=64).contains(&claims.jti.len()) {
        return Err(TokenError::Malformed("jti"));
    }
    if claims.exp - claims.iat > max_lifetime {
        return Err(TokenError::TooLongLived(
            claims.exp - claims.iat,
            max_lifetime,
        ));
    }
    if claims.iat > now + SKEW {
        return Err(TokenError::NotYetValid);
    }
    if now >= claims.exp + SKEW {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The token ids already used, each kept until its token expires (bounded: a verified token
/// lives at most the configured lifetime, so the map holds at most the sign-ins of that long).
#[derive(Debug, Default)]
pub struct Replays(HashMap<String, i64>);

impl Replays {
    /// Records `claims.jti`; `Err(Replayed)` if it was used before.
    pub fn first_use(&mut self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        self.0.retain(|_, exp| now < *exp + SKEW);
        if self.0.contains_key(&claims.jti) {
            return Err(TokenError::Replayed);
        }
        self.0.insert(claims.jti.clone(), claims.exp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims(sub: &str) -> Claims {
        Claims {
            iss: "portal.example".into(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            region: "NL-R01".into(),
            iat: NOW - 10,
            exp: NOW + 290,
            jti: "0123456789abcdef".into(),
        }
    }

    fn check(token: &str) -> Result<Claims, TokenError> {
        verify(token, &key(1).verifying_key(), NOW, DEFAULT_MAX_LIFETIME)
    }

    #[test]
    fn the_portals_token_signs_in_its_household() {
        let t = issue(&key(1), &claims("NL-R01-m0001"));
        assert_eq!(check(&t).unwrap(), claims("NL-R01-m0001"));
    }

    /// A token signed by anyone but the portal (the app, the utility's other systems, an
    /// attacker) is refused.
    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        let t = issue(&key(2), &claims("NL-R01-m0001"));
        assert_eq!(check(&t), Err(TokenError::Signature));
    }

    /// Taking a valid token for one's own household and swapping in another household's claims
    /// (keeping the signature) is refused.
    #[test]
    fn a_token_with_swapped_claims_is_refused() {
        let mine = issue(&key(1), &claims("NL-R01-m0001"));
        let theirs = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("NL-R01-m0002")).unwrap());
        let parts: Vec<&str> = mine.split('.').collect();
        let forged = format!("{}.{theirs}.{}", parts[0], parts[2]);
        assert_eq!(check(&forged), Err(TokenError::Signature));
    }

    /// The classic JWT attacks: `alg: none` with no signature, or a MAC "keyed" with the public
    /// key. The token cannot choose its algorithm.
    #[test]
    fn a_token_cannot_choose_its_algorithm() {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("NL-R01-m0002")).unwrap());
        for alg in ["none", "HS256", "ES256", "eddsa"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            for sig in ["", "AAAA"] {
                let t = format!("{header}.{payload}.{sig}");
                assert_eq!(check(&t), Err(TokenError::Algorithm(alg.into())), "{alg}");
            }
        }
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","crit":["exp"]}"#);
        let t = format!("{header}.{payload}.AAAA");
        assert!(matches!(check(&t), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn expired_future_and_long_lived_tokens_are_refused() {
        let mut c = claims("NL-R01-m0001");
        c.iat = NOW - 500;
        c.exp = NOW - 100;
        assert_eq!(check(&issue(&key(1), &c)), Err(TokenError::Expired));
        c.exp = NOW - SKEW + 1;
        assert!(check(&issue(&key(1), &c)).is_ok(), "within the skew");
        c.iat = NOW + 2 * SKEW;
        c.exp = c.iat + 60;
        assert_eq!(check(&issue(&key(1), &c)), Err(TokenError::NotYetValid));
        c.iat = NOW;
        c.exp = NOW + 365 * 86_400;
        assert_eq!(
            check(&issue(&key(1), &c)),
            Err(TokenError::TooLongLived(365 * 86_400, DEFAULT_MAX_LIFETIME))
        );
    }

    #[test]
    fn claims_must_name_this_app_and_plain_ids() {
        let mut c = claims("NL-R01-m0001");
        c.aud = "billing".into();
        assert_eq!(
            check(&issue(&key(1), &c)),
            Err(TokenError::Audience("billing".into()))
        );
        let mut c = claims("../operator");
        assert!(matches!(
            check(&issue(&key(1), &c)),
            Err(TokenError::Malformed(_))
        ));
        c.sub = "m1".into();
        c.jti = "short".into();
        assert!(matches!(
            check(&issue(&key(1), &c)),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let long = "a".repeat(MAX_TOKEN + 1);
        for t in ["", ".", "..", "a.b.c", "a.b.c.d", "%%.%%.%%", long.as_str()] {
            assert!(matches!(check(t), Err(TokenError::Malformed(_))), "{t:?}");
        }
    }

    #[test]
    fn a_token_is_used_once() {
        let c = claims("NL-R01-m0001");
        let mut seen = Replays::default();
        assert_eq!(seen.first_use(&c, NOW), Ok(()));
        assert_eq!(seen.first_use(&c, NOW + 1), Err(TokenError::Replayed));
        // Forgotten only once the token itself is dead.
        assert_eq!(seen.first_use(&c, c.exp + SKEW), Ok(()));
    }
}
