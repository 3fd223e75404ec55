//! The app's two languages, Dutch and English, and which one a page is rendered in.
//!
//! A request's language is the `zeal_lang` cookie the switch on every page sets, else the best
//! of `nl`/`en` in its `Accept-Language`, else English. The router's middleware puts it, with
//! the address the switch returns to, in a task-local [`Here`] for the duration of the request;
//! the page functions read it through [`current`] and [`tr`], so that no handler has to pass it
//! on (outside a request, as in unit tests, pages are English).

use std::future::Future;

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Nl,
}

impl Lang {
    /// The BCP 47 code (`en`, `nl`), as in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }

    /// The language with code `code` (`en` or `nl`, any case).
    pub fn parse(code: &str) -> Option<Lang> {
        match code.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "nl" => Some(Lang::Nl),
            _ => None,
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Nl,
            Lang::Nl => Lang::En,
        }
    }

    /// The language's name in itself.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Nl => "Nederlands",
        }
    }

    /// `en` or `nl`, whichever this language is.
    pub fn pick<T>(self, en: T, nl: T) -> T {
        match self {
            Lang::En => en,
            Lang::Nl => nl,
        }
    }

    /// The best of ours in an `Accept-Language` value: the highest `q` among `nl*` and `en*`
    /// ranges (the first on a tie); `None` when it names neither.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for range in header.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .filter(|q| q.is_finite() && *q > 0.0);
            if let Some(q) = q
                && best.is_none_or(|(_, b)| q > b)
            {
                best = Some((lang, q));
            }
        }
        best.map(|(l, _)| l)
    }
}

/// The cookie that keeps a household's choice of language.
pub const COOKIE: &str = "zeal_lang";

/// The `Set-Cookie` value that keeps `lang` for a year. Not `HttpOnly`: it holds nothing
/// secret, only the choice.
pub fn set_cookie(lang: Lang, tls: bool) -> String {
    format!(
        "{COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000{}",
        lang.code(),
        if tls { "; Secure" } else { "" }
    )
}

/// The language a `Cookie` header's value chose, if it carries our cookie.
pub fn from_cookie_header(header: &str) -> Option<Lang> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        if k == COOKIE { Lang::parse(v) } else { None }
    })
}

/// `back` when it is an address on this site (a path starting with one `/`), else `/`: the
/// switch's return address must not send a household to another site.
pub fn local_path(back: &str) -> &str {
    let local = back.starts_with('/')
        && !back.starts_with("//")
        && !back.starts_with("/\\")
        && !back.chars().any(|c| c.is_control() || c == '\\');
    if local { back } else { "/" }
}

/// Percent-encodes `s` for a query value (everything but unreserved characters and `/`).
pub fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The page being answered: its language, and where the language switch returns to.
#[derive(Debug, Clone, Default)]
pub struct Here {
    pub lang: Lang,
    /// The page's own address when a `GET` can show it again, else `/`.
    pub back: String,
}

tokio::task_local! {
    static HERE: Here;
}

/// Runs `f` (a request's handling) with `here` as the page being answered.
pub async fn within<F: Future>(here: Here, f: F) -> F::Output {
    HERE.scope(here, f).await
}

/// The language of the page being answered (English outside a request).
pub fn current() -> Lang {
    HERE.try_with(|h| h.lang).unwrap_or_default()
}

/// Where the language switch of the page being answered returns to.
pub fn back() -> String {
    HERE.try_with(|h| h.back.clone())
        .unwrap_or_else(|_| "/".to_string())
}

/// `en` or `nl`, in the language of the page being answered.
pub fn tr<'a>(en: &'a str, nl: &'a str) -> &'a str {
    current().pick(en, nl)
}

/// `v` with `decimals` decimals as the page's language writes it: a decimal comma in Dutch
/// (`5,50 kWh`), a point in English.
pub fn number(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    match current() {
        Lang::Nl => s.replace('.', ","),
        Lang::En => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_pages_write_a_decimal_comma() {
        let on = |lang: Lang| {
            let here = Here {
                lang,
                back: "/".into(),
            };
            HERE.sync_scope(here, || {
                (number(5.5, 2), number(-0.25, 1), number(1234.0, 0))
            })
        };
        assert_eq!(on(Lang::Nl), ("5,50".into(), "-0,2".into(), "1234".into()));
        assert_eq!(on(Lang::En), ("5.50".into(), "-0.2".into(), "1234".into()));
        assert_eq!(number(0.5, 1), "0.5", "English outside a request");
    }

    #[test]
    fn accept_language_picks_the_best_of_ours() {
        let l = Lang::from_accept_language;
        assert_eq!(l("nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7"), Some(Lang::Nl));
        assert_eq!(l("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(l("de-DE,de;q=0.9,nl;q=0.5,en;q=0.4"), Some(Lang::Nl));
        assert_eq!(l("en;q=0.3, NL-be;q=0.8"), Some(Lang::Nl));
        assert_eq!(l("fr, de"), None);
        assert_eq!(
            l("nl;q=0, en;q=0.1"),
            Some(Lang::En),
            "q=0 means not wanted"
        );
        assert_eq!(l("nl;q=abc"), None);
        assert_eq!(l(""), None);
        assert_eq!(l("*"), None);
    }

    #[test]
    fn the_cookie_is_read_back_and_nothing_else() {
        assert_eq!(
            from_cookie_header("energenies=ab; zeal_lang=nl"),
            Some(Lang::Nl)
        );
        assert_eq!(from_cookie_header("zeal_lang=de"), None);
        assert_eq!(from_cookie_header("xzeal_lang=nl"), None);
        assert!(set_cookie(Lang::Nl, true).ends_with("; Secure"));
        assert!(set_cookie(Lang::En, false).starts_with("zeal_lang=en; Path=/;"));
    }

    #[test]
    fn the_switch_returns_only_to_this_site() {
        assert_eq!(local_path("/household/m1"), "/household/m1");
        assert_eq!(local_path("/leaderboard?x=1"), "/leaderboard?x=1");
        for foreign in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/a\r\nSet-Cookie: x",
            "/a\\b",
        ] {
            assert_eq!(local_path(foreign), "/", "{foreign:?}");
        }
        assert_eq!(
            query_value("/household/a b?c=d&e"),
            "/household/a%20b%3Fc%3Dd%26e"
        );
    }

    #[tokio::test]
    async fn pages_read_the_language_of_their_request() {
        assert_eq!(tr("yes", "ja"), "yes", "English outside a request");
        let here = Here {
            lang: Lang::Nl,
            back: "/join".into(),
        };
        let (t, b) = within(here, async { (tr("yes", "ja"), back()) }).await;
        assert_eq!((t, b.as_str()), ("ja", "/join"));
    }
}
