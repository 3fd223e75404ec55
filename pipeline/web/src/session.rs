//! Sessions: who is signed in, kept on the server and named by a random cookie.
//!
//! A session id is 32 random bytes from the operating system's generator (hex), sent as an
//! `HttpOnly`, `SameSite=Lax` cookie (`Secure` and the `__Host-` prefix when served over TLS).
//! `Lax`, not `Strict`: a household arrives from the portal by a cross-site link, and the
//! redirect to its page must carry the cookie just set; forms are protected by the session's
//! CSRF token instead (synchroniser token, compared in constant time). Sessions live
//! [`LIFETIME`] and are kept in memory: a restarted app signs everyone out (they come back
//! through the portal), and [`MAX_SESSIONS`] bounds the memory.

use rand::{RngCore as _, SeedableRng as _};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Most sessions kept; the oldest is dropped beyond it.
pub const MAX_SESSIONS: usize = 100_000;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A household signed in through the portal.
    Household { id: String, region: String },
    /// The utility's operator, signed in with the operator token.
    Operator,
}

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub who: Who,
    /// The token every form of this session carries (hidden field `csrf`).
    pub csrf: String,
    started: Instant,
}

/// The sessions of one app process.
#[derive(Debug, Default)]
pub struct Sessions(HashMap<String, Session>);

/// 32 random bytes from the operating system, hex.
pub fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand_chacha::ChaCha20Rng::from_os_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `a` equals `b`, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// Starts a session for `who`; returns its id (the cookie's value).
    pub fn start(&mut self, who: Who) -> String {
        let now = Instant::now();
        self.0
            .retain(|_, s| now.duration_since(s.started) < LIFETIME);
        if self.0.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .0
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone())
        {
            self.0.remove(&oldest);
        }
        let id = random_hex();
        self.0.insert(
            id.clone(),
            Session {
                who,
                csrf: random_hex(),
                started: now,
            },
        );
        id
    }

    /// The live session named `id`.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.0.get(id).filter(|s| s.started.elapsed() < LIFETIME)
    }

    /// Ends the session named `id`.
    pub fn end(&mut self, id: &str) {
        self.0.remove(id);
    }

    /// Ends every session of `who` (an erased household's other devices too); returns how many.
    pub fn end_all(&mut self, who: &Who) -> usize {
        let before = self.0.len();
        self.0.retain(|_, s| s.who != *who);
        before - self.0.len()
    }
}

/// The session cookie's name: `__Host-` prefixed over TLS (the browser then insists on
/// `Secure`, `Path=/` and no `Domain`).
pub fn cookie_name(tls: bool) -> &'static str {
    if tls {
        "__Host-energenies"
    } else {
        "energenies"
    }
}

/// The `Set-Cookie` value that stores session `id`.
pub fn set_cookie(id: &str, tls: bool) -> String {
    format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        cookie_name(tls),
        LIFETIME.as_secs(),
        if tls { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(tls: bool) -> String {
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        cookie_name(tls),
        if tls { "; Secure" } else { "" }
    )
}

/// The session id in a `Cookie` header's value, if it carries ours.
pub fn from_cookie_header(header: &str, tls: bool) -> Option<&str> {
    let name = cookie_name(tls);
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name && v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_and_end() {
        let mut s = Sessions::default();
        let a = s.start(Who::Operator);
        let b = s.start(Who::Household {
            id: "m1".into(),
            region: "NL-R01".into(),
        });
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(s.get(&a).unwrap().csrf, s.get(&b).unwrap().csrf);
        s.end(&a);
        assert!(s.get(&a).is_none());
        assert!(s.get(&b).is_some());
    }

    #[test]
    fn the_cookie_is_read_back_and_nothing_else() {
        let id = random_hex();
        let set = set_cookie(&id, false);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert!(!set.contains("Secure"));
        let tls = set_cookie(&id, true);
        assert!(tls.starts_with("__Host-energenies=") && tls.ends_with("; Secure"));
        let header = format!("theme=dark; energenies={id}; other=1");
        assert_eq!(from_cookie_header(&header, false), Some(id.as_str()));
        assert_eq!(from_cookie_header(&header, true), None, "the TLS name only");
        assert_eq!(from_cookie_header("energenies=../../etc", false), None);
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }
}
