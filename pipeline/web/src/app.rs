//! The router and its handlers: parse and check input, find who is signed in, read the store,
//! render a page.
//!
//! Who may see what: a household (signed in by its portal link) its own page, its settings and
//! its region's leaderboard; the operator (signed in with the operator token) the operator page
//! and every leaderboard; nobody signed in the start page only. Every form post carries the
//! session's CSRF token. Every answer carries headers that keep the pages out of frames,
//! caches and referrers (a sign-in link is a credential until used).

use crate::WebError;
use crate::html::{self, Nav};
use crate::join;
use crate::lang::{self, Here, Lang, tr};
use crate::metrics::WebMetrics;
use crate::model::{HouseholdView, Profile, leaderboard};
use crate::portal::{self, Replays, TokenError};
use crate::rights::{self, ConsentSink, EraseError};
use crate::session::{self, Sessions, Who};
use crate::store::Store;
use axum::Router;
use axum::extract::rejection::RawFormRejection;
use axum::extract::{MatchedPath, Path, Query, RawForm, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use ed25519_dalek::VerifyingKey;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use zeal_connectors::Shutdown;
use zeal_schemas::consent::{SCOPE_READINGS, SCOPE_READINGS_HISTORY};

/// How the app runs.
#[derive(Clone)]
pub struct WebSettings {
    /// The utility portal's Ed25519 public key: sign-in links must be signed with it. Without
    /// it no household can sign in.
    pub portal_key: Option<VerifyingKey>,
    /// Longest lifetime (`exp - iat`, seconds) of a sign-in link accepted.
    pub max_link_lifetime: i64,
    /// The operator token (`/operator`); without it the operator page is off.
    pub operator_token: Option<String>,
    /// Serve HTTPS with this configuration (cookies are then `Secure`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Where households' consent decisions go (`zeal.consent.v1`); without it the app records
    /// consent in its own table only and no gateway hears of it.
    pub consent: Option<ConsentSink>,
    /// How long after an erasure its rows are deleted once more: a job that checked the erasure
    /// log just before the record arrived may still be writing the household's rows.
    pub erase_sweep_after: std::time::Duration,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            portal_key: None,
            max_link_lifetime: portal::DEFAULT_MAX_LIFETIME,
            operator_token: None,
            tls: None,
            consent: None,
            erase_sweep_after: std::time::Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for WebSettings {
    /// Never prints the operator token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("portal_key", &self.portal_key)
            .field("max_link_lifetime", &self.max_link_lifetime)
            .field("operator_token", &self.operator_token.as_ref().map(|_| "…"))
            .field("tls", &self.tls.is_some())
            .field("consent", &self.consent.as_ref().map(|c| &c.topic))
            .field("erase_sweep_after", &self.erase_sweep_after)
            .finish()
    }
}

struct AppState {
    store: Store,
    settings: WebSettings,
    metrics: WebMetrics,
    sessions: Mutex<Sessions>,
    replays: Mutex<Replays>,
}

type Shared = Arc<AppState>;

/// Serves the app on `addr` until `shutdown`; returns the bound address (port 0 picks a free
/// one) once it is listening.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    settings: WebSettings,
    shutdown: Shutdown,
) -> Result<SocketAddr, WebError> {
    let tls = settings.tls.clone();
    let state = Arc::new(AppState {
        store,
        settings,
        metrics: WebMetrics::default(),
        sessions: Mutex::default(),
        replays: Mutex::default(),
    });
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| WebError::Bind { addr, source })?;
    let stop = zeal_connectors::stopped(shutdown);
    match tls {
        None => {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(error = %e, "web app stopped");
                }
            });
        }
        Some(config) => {
            let listener = crate::tls::TlsListener::new(listener, config)
                .map_err(|source| WebError::Bind { addr, source })?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(error = %e, "web app stopped");
                }
            });
        }
    }
    tracing::info!(addr = %bound, "web app listening");
    Ok(bound)
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/language/{code}", get(language))
        .route("/signin", get(signin))
        .route("/signout", post(signout))
        .route("/join", get(join_form).post(join_submit))
        .route("/consent/withdraw", post(withdraw))
        .route("/erase", get(erase_form).post(erase))
        .route("/household/{id}", get(household))
        .route("/leaderboard", get(leaderboards))
        .route("/leaderboard/{region}", get(region_leaderboard))
        .route("/operator", get(operator))
        .route("/operator/signin", post(operator_signin))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(in_language))
        .layer(axum::middleware::from_fn_with_state(state.clone(), protect))
        .with_state(state)
}

/// Headers on every answer: no framing, no sniffing, no referrer (a sign-in link in the
/// address bar must not travel to another site), nothing cached (the pages are personal),
/// nothing loaded from anywhere; HSTS over TLS.
async fn protect(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    if s.settings.tls.is_some() {
        set(h, "strict-transport-security", "max-age=31536000");
    }
    response
}

/// Answers the request in its language ([`lang`]: the switch's cookie, else `Accept-Language`,
/// else English), with the page's own address for the switch to return to.
async fn in_language(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let chosen = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(lang::from_cookie_header);
    let lang = chosen
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default();
    // A page a GET shows again; not a sign-in link (used once) nor the switch itself.
    let path = req.uri().path();
    let back = if req.method() == axum::http::Method::GET
        && path != "/signin"
        && !path.starts_with("/language/")
    {
        req.uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string()
    } else {
        "/".to_string()
    };
    let mut response = lang::within(Here { lang, back }, next.run(req)).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept-language, cookie"),
    );
    response
}

/// `GET /language/{en|nl}?back=…`: keeps the choice in a cookie and shows the page `back`
/// (an address on this site only) again.
async fn language(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(chosen) = Lang::parse(&code) else {
        return not_found(State(s), headers).await;
    };
    let back = lang::local_path(q.get("back").map_or("/", String::as_str));
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                lang::set_cookie(chosen, s.settings.tls.is_some()),
            ),
            (header::LOCATION, back.to_string()),
        ],
    )
        .into_response()
}

/// Counts every routed request by its route pattern and status class.
async fn count(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    s.metrics
        .answered(&route, response.status().as_u16(), started.elapsed());
    response
}

/// Readiness: the store answers a query (`/healthz` is liveness: the process answers).
async fn ready(State(s): State<Shared>) -> Response {
    match s.store.regions().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store does not answer\n",
            )
                .into_response()
        }
    }
}

async fn metrics(State(s): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// A page answer with its status.
fn html_page(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

fn problem(status: StatusCode, nav: &Nav, title: &str, explanation: &str) -> Response {
    html_page(status, html::problem(title, nav, explanation))
}

/// Store failures: logged in full, answered without internals.
fn unavailable(nav: &Nav, e: WebError) -> Response {
    tracing::error!(error = %e, "store query failed");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        nav,
        tr("Temporarily unavailable", "Tijdelijk niet beschikbaar"),
        tr(
            "The data behind this page could not be read just now. Please try again in a minute.",
            "De gegevens achter deze pagina konden nu niet worden gelezen. Probeer het over een \
             minuut opnieuw.",
        ),
    )
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// The session the request's cookie names, if it is live.
struct Viewer {
    id: String,
    who: Who,
    csrf: String,
}

impl Viewer {
    fn nav(&self) -> Nav {
        match &self.who {
            Who::Household { id, region } => Nav::Household {
                id: id.clone(),
                region: region.clone(),
                csrf: self.csrf.clone(),
            },
            Who::Operator => Nav::Operator {
                csrf: self.csrf.clone(),
            },
        }
    }

    fn household(&self) -> Option<(&str, &str)> {
        match &self.who {
            Who::Household { id, region } => Some((id, region)),
            Who::Operator => None,
        }
    }
}

fn viewer(s: &AppState, headers: &HeaderMap) -> Option<Viewer> {
    let tls = s.settings.tls.is_some();
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| session::from_cookie_header(v, tls))?;
    let sessions = s.sessions.lock().expect("sessions lock");
    let found = sessions.get(id)?;
    Some(Viewer {
        id: id.to_string(),
        who: found.who.clone(),
        csrf: found.csrf.clone(),
    })
}

fn nav_of(v: &Option<Viewer>) -> Nav {
    v.as_ref().map_or(Nav::Anonymous, Viewer::nav)
}

fn sign_in_first() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        &Nav::Anonymous,
        tr("Please sign in", "Meld je eerst aan"),
        tr(
            "This page belongs to a household. Open Energenies from your utility's customer \
             portal: it signs you in to your own page.",
            "Deze pagina hoort bij een huishouden. Open Energenies vanuit het klantportaal van je \
             energiebedrijf: dat meldt je aan op je eigen pagina.",
        ),
    )
}

fn not_yours(nav: &Nav) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        nav,
        tr("Not your page", "Niet jouw pagina"),
        tr(
            "You are signed in as another household (or as the operator), and this page is not \
             yours to see. Your own page is linked at the top.",
            "Je bent aangemeld als een ander huishouden (of als beheerder), en deze pagina is niet \
             voor jou. Je eigen pagina staat bovenaan gelinkt.",
        ),
    )
}

/// Decodes a posted form and checks its CSRF token against the viewer's session; the answer
/// to send instead when either fails.
fn checked_form(
    v: &Option<Viewer>,
    form: Result<RawForm, RawFormRejection>,
) -> Result<BTreeMap<String, String>, Box<Response>> {
    let Some(v) = v else {
        return Err(Box::new(sign_in_first()));
    };
    let Some(values) = form.ok().and_then(|RawForm(body)| join::decode(&body).ok()) else {
        return Err(Box::new(problem(
            StatusCode::BAD_REQUEST,
            &v.nav(),
            tr(
                "That form could not be read",
                "Dat formulier kon niet worden gelezen",
            ),
            tr(
                "The form arrived malformed. Please open the page again and resubmit.",
                "Het formulier kwam beschadigd aan. Open de pagina opnieuw en verstuur het nog eens.",
            ),
        )));
    };
    match values.get("csrf") {
        Some(t) if session::same(t, &v.csrf) => Ok(values),
        _ => {
            tracing::warn!("a form post without this session's CSRF token was refused");
            Err(Box::new(problem(
                StatusCode::FORBIDDEN,
                &v.nav(),
                tr(
                    "This form was not accepted",
                    "Dit formulier is niet geaccepteerd",
                ),
                tr(
                    "The form did not come from your Energenies page, or it is from an earlier \
                     session. Open the page again and resubmit.",
                    "Het formulier kwam niet van je Energenies-pagina, of het is van een eerdere \
                     sessie. Open de pagina opnieuw en verstuur het nog eens.",
                ),
            )))
        }
    }
}

async fn not_found(State(s): State<Shared>, headers: HeaderMap) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        &nav_of(&viewer(&s, &headers)),
        tr("Page not found", "Pagina niet gevonden"),
        tr(
            "There is no page at this address. Start from the home page.",
            "Op dit adres staat geen pagina. Begin op de startpagina.",
        ),
    )
}

async fn index(State(s): State<Shared>, headers: HeaderMap) -> Response {
    html_page(StatusCode::OK, html::index(&nav_of(&viewer(&s, &headers))))
}

/// `GET /signin?token=…`: the portal's link. A valid, unused token starts a household session
/// and goes to its page; anything else gets a page saying what was wrong, and no session.
async fn signin(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(key) = &s.settings.portal_key else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &Nav::Anonymous,
            tr("Sign-in is not set up", "Aanmelden is niet ingesteld"),
            tr(
                "This Energenies app has no portal key configured, so nobody can sign in yet. \
                 The utility starts it with --portal-key.",
                "Deze Energenies-app heeft geen portaalsleutel, dus niemand kan zich nog aanmelden. \
                 Het energiebedrijf start hem met --portal-key.",
            ),
        );
    };
    let now = (zeal_connectors::now_ms() / 1000) as i64;
    let token = q.get("token").map(String::as_str).unwrap_or_default();
    let checked = portal::verify(token, key, now, s.settings.max_link_lifetime).and_then(|c| {
        s.replays
            .lock()
            .expect("replays lock")
            .first_use(&c, now)
            .map(|()| c)
    });
    let claims = match checked {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(reason = %e, "a sign-in link was refused");
            let (title, why) = match e {
                TokenError::Expired => (
                    tr(
                        "This sign-in link has expired",
                        "Deze aanmeldlink is verlopen",
                    ),
                    tr(
                        "Links from your utility's portal work for a few minutes only. Go back \
                         to the portal and open Energenies again.",
                        "Links uit het portaal van je energiebedrijf werken maar een paar minuten. \
                         Ga terug naar het portaal en open Energenies opnieuw.",
                    ),
                ),
                TokenError::Replayed => (
                    tr(
                        "This sign-in link was used already",
                        "Deze aanmeldlink is al gebruikt",
                    ),
                    tr(
                        "Each link from the portal signs in once. Go back to the portal and open \
                         Energenies again for a fresh one.",
                        "Elke link uit het portaal meldt één keer aan. Ga terug naar het portaal \
                         en open Energenies opnieuw voor een nieuwe.",
                    ),
                ),
                _ => (
                    tr(
                        "This sign-in link is not valid",
                        "Deze aanmeldlink is niet geldig",
                    ),
                    tr(
                        "It was not issued by your utility's portal for this app, or it was \
                         changed on the way. Go back to the portal and open Energenies again.",
                        "Hij is niet door het portaal van je energiebedrijf voor deze app \
                         uitgegeven, of hij is onderweg veranderd. Ga terug naar het portaal en \
                         open Energenies opnieuw.",
                    ),
                ),
            };
            return problem(StatusCode::UNAUTHORIZED, &Nav::Anonymous, title, why);
        }
    };
    tracing::info!(household = %claims.sub, "a household signed in");
    let to = format!("/household/{}", claims.sub);
    let who = Who::Household {
        id: claims.sub,
        region: claims.region,
    };
    signed_in(&s, &headers, who, to)
}

/// Starts a session for `who` (ending the one the request came with) and sends the browser to
/// `to` with its cookie.
fn signed_in(s: &AppState, headers: &HeaderMap, who: Who, to: String) -> Response {
    let previous = viewer(s, headers);
    let id = {
        let mut sessions = s.sessions.lock().expect("sessions lock");
        if let Some(old) = previous {
            sessions.end(&old.id);
        }
        sessions.start(who)
    };
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                session::set_cookie(&id, s.settings.tls.is_some()),
            ),
            (header::LOCATION, to),
        ],
    )
        .into_response()
}

fn operator_off(nav: &Nav) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        nav,
        tr("The operator page is off", "De beheerpagina staat uit"),
        tr(
            "This app was started without an operator token (--operator-token-file).",
            "Deze app is zonder beheertoken gestart (--operator-token-file).",
        ),
    )
}

async fn signout(
    State(s): State<Shared>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Response {
    let v = viewer(&s, &headers);
    if let Err(refused) = checked_form(&v, form) {
        return *refused;
    }
    if let Some(v) = v {
        s.sessions.lock().expect("sessions lock").end(&v.id);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                session::clear_cookie(s.settings.tls.is_some()),
            ),
            (header::LOCATION, "/".to_string()),
        ],
    )
        .into_response()
}

async fn join_form(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let v = viewer(&s, &headers);
    let Some((id, region)) = v.as_ref().and_then(Viewer::household) else {
        return match &v {
            Some(v) => not_yours(&v.nav()),
            None => sign_in_first(),
        };
    };
    let nav = nav_of(&v);
    // A household that joined sees its current settings.
    let mut sharing = false;
    let values = match s.store.profile(id).await {
        Ok(Some(p)) => {
            sharing = p.share_readings;
            let mut values = BTreeMap::from([("display_name".to_string(), p.display_name)]);
            if p.share_readings {
                values.insert("share_readings".into(), "on".into());
            }
            if p.leaderboard {
                values.insert("leaderboard".into(), "on".into());
            }
            values
        }
        Ok(None) => BTreeMap::new(),
        Err(e) => return unavailable(&nav, e),
    };
    let ask_code = s.settings.consent.is_some() && !sharing;
    html_page(
        StatusCode::OK,
        html::join_form(&nav, id, region, ask_code, &values, &[]),
    )
}

async fn join_submit(
    State(s): State<Shared>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Response {
    let v = viewer(&s, &headers);
    let values = match checked_form(&v, form) {
        Ok(values) => values,
        Err(refused) => return *refused,
    };
    let nav = nav_of(&v);
    let Some((id, region)) = v.as_ref().and_then(Viewer::household) else {
        return not_yours(&nav);
    };
    let existing = match s.store.profile(id).await {
        Ok(p) => p,
        Err(e) => return unavailable(&nav, e),
    };
    let sharing = existing.as_ref().is_some_and(|p| p.share_readings);
    // A new grant needs the code the household's gateway shows.
    let ask_code = s.settings.consent.is_some() && !sharing;
    let code = values
        .get("pairing_code")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    let code_error =
        (ask_code && !zeal_protocol::consent::plausible_code(&code)).then(|| join::FieldError {
            field: "pairing_code",
            code: "code_missing",
            message: "Enter the 8-character code your gateway shows (such as 7KQ2-M9XD).".into(),
        });
    let joined = match (join::check(&values), code_error) {
        (Ok(j), None) => j,
        (checked, code_error) => {
            let mut errors = checked.err().unwrap_or_default();
            errors.extend(code_error);
            return html_page(
                StatusCode::BAD_REQUEST,
                html::join_form(&nav, id, region, ask_code, &values, &errors),
            );
        }
    };
    match existing {
        Some(existing) if existing.region != region => {
            return problem(
                StatusCode::CONFLICT,
                &nav,
                tr(
                    "That meter is in another region",
                    "Die meter hoort bij een andere regio",
                ),
                &lang::current().pick(
                    format!(
                        "Household {id} joined in region {}, but the portal signed you in for \
                         {region}; a meter belongs to one region. Ask your utility to correct it.",
                        existing.region
                    ),
                    format!(
                        "Huishouden {id} deed mee in regio {}, maar het portaal meldde je aan voor \
                         {region}; een meter hoort bij één regio. Vraag je energiebedrijf het te \
                         corrigeren.",
                        existing.region
                    ),
                ),
            );
        }
        _ => {}
    }
    if let (true, Some(sink)) = (ask_code, &s.settings.consent) {
        let code = zeal_protocol::consent::normalise_code(&code);
        // The gateway's second code shares what it already holds; it refuses the wrong one.
        let scope = if values.get("share_history").is_some_and(|v| join::ticked(v)) {
            SCOPE_READINGS_HISTORY
        } else {
            SCOPE_READINGS
        };
        if let Err(e) = sink.publish(id, region, scope, true, &code).await {
            tracing::error!(error = %e, "publishing a consent decision failed");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &nav,
                tr(
                    "Your consent could not be passed on",
                    "Je toestemming kon niet worden doorgegeven",
                ),
                tr(
                    "Nothing was changed. Please try again in a minute.",
                    "Er is niets veranderd. Probeer het over een minuut opnieuw.",
                ),
            );
        }
        tracing::info!(household = %id, "consent to share readings published");
    }
    let profile = Profile {
        household_id: id.to_string(),
        region: region.to_string(),
        display_name: joined.display_name,
        share_readings: true,
        leaderboard: joined.leaderboard,
    };
    match s
        .store
        .save_profile(&profile, (zeal_connectors::now_ms() / 1000) as u32)
        .await
    {
        Ok(()) => {
            tracing::info!(household = %id, region = %region, "household joined");
            redirect(&format!("/household/{id}"))
        }
        Err(e) => unavailable(&nav, e),
    }
}

async fn household(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let v = viewer(&s, &headers);
    let nav = nav_of(&v);
    if !join::valid_id(&id) {
        return problem(
            StatusCode::BAD_REQUEST,
            &nav,
            tr("Not a household id", "Geen huishoudnummer"),
            tr(
                "Household ids have 1-64 letters, digits, '.', '_' or '-'. Check the address.",
                "Een huishoudnummer heeft 1-64 letters, cijfers, '.', '_' of '-'. Controleer het adres.",
            ),
        );
    }
    match v.as_ref().map(Viewer::household) {
        None => return sign_in_first(),
        Some(Some((own, _))) if own == id => {}
        Some(_) => return not_yours(&nav),
    }
    let page = async {
        let Some(profile) = s.store.profile(&id).await? else {
            return Ok(None);
        };
        let daily = s.store.daily(&id).await?;
        let events = s.store.events(std::slice::from_ref(&id)).await?;
        let usage = s.store.usage(&id).await?;
        Ok::<_, WebError>(Some(HouseholdView::build(profile, &daily, &events, &usage)))
    };
    match page.await {
        Ok(Some(view)) => html_page(StatusCode::OK, html::household(&nav, &view)),
        // Signed in but not joined yet: the join form first.
        Ok(None) => redirect("/join"),
        Err(e) => unavailable(&nav, e),
    }
}

async fn leaderboards(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let v = viewer(&s, &headers);
    match v.as_ref().map(|v| (v.household(), v.nav())) {
        None => sign_in_first(),
        Some((Some((_, region)), _)) => redirect(&format!("/leaderboard/{region}")),
        Some((None, nav)) => match s.store.regions().await {
            Ok(regions) => html_page(StatusCode::OK, html::leaderboards(&nav, &regions)),
            Err(e) => unavailable(&nav, e),
        },
    }
}

async fn region_leaderboard(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(region): Path<String>,
) -> Response {
    let v = viewer(&s, &headers);
    let nav = nav_of(&v);
    match v.as_ref().map(Viewer::household) {
        None => return sign_in_first(),
        // A household sees its own region's board; the operator every one.
        Some(Some((_, own))) if own != region => return not_yours(&nav),
        Some(_) => {}
    }
    let page = async {
        // A region is known once it has totals or a household joined in it.
        if !join::valid_id(&region) {
            return Ok(None);
        }
        let profiles = s.store.profiles_in(&region).await?;
        if profiles.is_empty() && !s.store.regions().await?.contains(&region) {
            return Ok(None);
        }
        let named: Vec<String> = profiles
            .iter()
            .filter(|p| p.leaderboard)
            .map(|p| p.household_id.clone())
            .collect();
        let events = s.store.events(&named).await?;
        Ok::<_, WebError>(Some(leaderboard(&profiles, &events)))
    };
    match page.await {
        Ok(Some(rows)) => html_page(StatusCode::OK, html::leaderboard(&nav, &region, &rows)),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            &nav,
            tr("Unknown region", "Onbekende regio"),
            tr(
                "There is no region with that name, or it has no totals yet.",
                "Er is geen regio met die naam, of ze heeft nog geen totalen.",
            ),
        ),
        Err(e) => unavailable(&nav, e),
    }
}

/// Whether the request carries the operator token as `Authorization: Bearer …` (scripts).
fn bearer_operator(s: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &s.settings.operator_token else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| session::same(t.trim(), token))
}

async fn operator(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if s.settings.operator_token.is_none() {
        return operator_off(&nav_of(&viewer(&s, &headers)));
    }
    let v = viewer(&s, &headers);
    let nav = match &v {
        Some(v) if v.who == Who::Operator => v.nav(),
        _ if bearer_operator(&s, &headers) => Nav::Anonymous,
        Some(v) => return not_yours(&v.nav()),
        None => return html_page(StatusCode::UNAUTHORIZED, html::operator_signin(None)),
    };
    match s.store.operator().await {
        Ok(d) => html_page(StatusCode::OK, html::operator(&nav, &d)),
        Err(e) => unavailable(&nav, e),
    }
}

/// `POST /operator/signin` with the operator token: starts an operator session.
async fn operator_signin(
    State(s): State<Shared>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Response {
    let Some(expected) = &s.settings.operator_token else {
        return operator_off(&Nav::Anonymous);
    };
    let given = form
        .ok()
        .and_then(|RawForm(body)| join::decode(&body).ok())
        .and_then(|mut f| f.remove("token"))
        .unwrap_or_default();
    if !session::same(given.trim(), expected) {
        tracing::warn!("an operator sign-in with a wrong token was refused");
        return html_page(
            StatusCode::UNAUTHORIZED,
            html::operator_signin(Some(tr(
                "That is not the operator token.",
                "Dat is niet het beheertoken.",
            ))),
        );
    }
    tracing::info!("the operator signed in");
    signed_in(&s, &headers, Who::Operator, "/operator".to_string())
}

/// A signed-in household's form post with this session's CSRF token: its nav, id and region
/// (otherwise the page that refuses it).
fn household_post(
    s: &AppState,
    headers: &HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<(Nav, String, String), Box<Response>> {
    let v = viewer(s, headers);
    checked_form(&v, form)?;
    let nav = nav_of(&v);
    match v.as_ref().and_then(Viewer::household) {
        Some((id, region)) => Ok((nav, id.to_string(), region.to_string())),
        None => Err(Box::new(not_yours(&nav))),
    }
}

/// `POST /consent/withdraw`: the household stops sharing; its gateway is told (when this app
/// publishes consent) before the profile says so.
async fn withdraw(
    State(s): State<Shared>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Response {
    let (nav, id, region) = match household_post(&s, &headers, form) {
        Ok(post) => post,
        Err(refused) => return *refused,
    };
    let (id, region) = (id.as_str(), region.as_str());
    let mut profile = match s.store.profile(id).await {
        Ok(Some(p)) => p,
        Ok(None) => return redirect("/join"),
        Err(e) => return unavailable(&nav, e),
    };
    if let Some(sink) = &s.settings.consent
        && let Err(e) = sink.publish(id, region, SCOPE_READINGS, false, "").await
    {
        tracing::error!(error = %e, "publishing a withdrawal failed");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &nav,
            tr(
                "Your withdrawal could not be passed on",
                "Je intrekking kon niet worden doorgegeven",
            ),
            tr(
                "Your gateway has not been told yet. Please try again in a minute.",
                "Je gateway is nog niet ingelicht. Probeer het over een minuut opnieuw.",
            ),
        );
    }
    profile.share_readings = false;
    match s
        .store
        .save_profile(&profile, (zeal_connectors::now_ms() / 1000) as u32)
        .await
    {
        Ok(()) => {
            tracing::info!(household = %id, "consent withdrawn");
            html_page(
                StatusCode::OK,
                html::withdrawn(&nav, s.settings.consent.is_some()),
            )
        }
        Err(e) => unavailable(&nav, e),
    }
}

/// `GET /erase`: what erasure does, and the button (a household only).
async fn erase_form(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let v = viewer(&s, &headers);
    let nav = nav_of(&v);
    match v.as_ref().map(Viewer::household) {
        None => sign_in_first(),
        Some(Some(_)) => html_page(StatusCode::OK, html::erase_form(&nav)),
        Some(None) => not_yours(&nav),
    }
}

/// `POST /erase`: the household's data is erased. Its gateway is told to stop sharing first
/// (a withdrawal), then its rows leave every household table, then the signed record of what
/// left is published; the session ends. Each step is idempotent, so a failure asks the
/// household to try again and the retry completes it.
async fn erase(
    State(s): State<Shared>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Response {
    let (nav, id, region) = match household_post(&s, &headers, form) {
        Ok(post) => post,
        Err(refused) => return *refused,
    };
    let (id, region) = (id.as_str(), region.as_str());
    let tables = match rights::erase(&s.store, s.settings.consent.as_ref(), id, region).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "an erasure stopped");
            let what = match e {
                EraseError::Withdraw(_) => tr(
                    "Your gateway could not be told to stop sharing.",
                    "Je gateway kon niet worden gevraagd te stoppen met delen.",
                ),
                EraseError::Delete(_) => tr(
                    "Not every table could be reached.",
                    "Niet elke tabel was bereikbaar.",
                ),
                EraseError::Record(_) => tr(
                    "Your rows are deleted, but the record of the erasure could not be kept.",
                    "Je rijen zijn gewist, maar het bewijs van het wissen kon niet worden bewaard.",
                ),
            };
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &nav,
                tr(
                    "Your data could not be erased yet",
                    "Je gegevens konden nog niet worden gewist",
                ),
                &format!(
                    "{what} {}",
                    tr(
                        "Nothing is lost by trying again: please try again in a minute.",
                        "Opnieuw proberen kan geen kwaad: probeer het over een minuut nog eens.",
                    )
                ),
            );
        }
    };
    // Every session of the household ends (its other devices too).
    s.sessions
        .lock()
        .expect("sessions lock")
        .end_all(&Who::Household {
            id: id.to_string(),
            region: region.to_string(),
        });
    sweep_later(s.clone(), id.to_string());
    (
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            session::clear_cookie(s.settings.tls.is_some()),
        )],
        Html(html::erased(&tables, s.settings.consent.is_some())),
    )
        .into_response()
}

/// Deletes `household`'s rows once more after [`WebSettings::erase_sweep_after`]: rows a job
/// wrote between its last look at the erasure log and the record's arrival.
fn sweep_later(s: Shared, household: String) {
    tokio::spawn(async move {
        if let Err(e) = rights::sweep(&s.store, &household, s.settings.erase_sweep_after).await {
            tracing::error!(household = %household, error = %e, "the sweep after an erasure failed");
        }
    });
}
