//! The router and its handlers: parse and check input, read the store, render a page.

use crate::join::{self, Join};
use crate::metrics::WebMetrics;
use crate::model::{HouseholdView, Profile, leaderboard};
use crate::store::Store;
use crate::{WebError, html};
use axum::Router;
use axum::extract::rejection::RawFormRejection;
use axum::extract::{MatchedPath, Path, RawForm, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use zeal_connectors::Shutdown;

/// How the app runs.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// Joining without a meter id picks a simulated, opted-in household of the region.
    pub demo: bool,
}

struct AppState {
    store: Store,
    settings: WebSettings,
    metrics: WebMetrics,
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
    let state = Arc::new(AppState {
        store,
        settings,
        metrics: WebMetrics::default(),
    });
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| WebError::Bind { addr, source })?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(zeal_connectors::stopped(shutdown))
            .await
        {
            tracing::error!(error = %e, "web app stopped");
        }
    });
    tracing::info!(addr = %bound, "web app listening");
    Ok(bound)
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/join", get(join_form).post(join_submit))
        .route("/household/{id}", get(household))
        .route("/leaderboard", get(leaderboards))
        .route("/leaderboard/{region}", get(region_leaderboard))
        .route("/operator", get(operator))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .fallback(not_found)
        .with_state(state)
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

fn problem(status: StatusCode, title: &str, explanation: &str) -> Response {
    html_page(status, html::problem(title, explanation))
}

/// Store failures: logged in full, answered without internals.
fn unavailable(e: WebError) -> Response {
    tracing::error!(error = %e, "store query failed");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The data behind this page could not be read just now. Please try again in a minute.",
    )
}

async fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. Start from the home page.",
    )
}

async fn index(State(s): State<Shared>) -> Response {
    match s.store.regions().await {
        Ok(regions) => html_page(StatusCode::OK, html::index(&regions, s.settings.demo)),
        Err(e) => unavailable(e),
    }
}

async fn join_form(State(s): State<Shared>) -> Response {
    match s.store.regions().await {
        Ok(regions) => html_page(
            StatusCode::OK,
            html::join_form(&regions, s.settings.demo, &BTreeMap::new(), &[]),
        ),
        Err(e) => unavailable(e),
    }
}

async fn join_submit(State(s): State<Shared>, form: Result<RawForm, RawFormRejection>) -> Response {
    // What `Form<BTreeMap<String, String>>` would do, in the fuzzed crate.
    let Some(values) = form.ok().and_then(|RawForm(body)| join::decode(&body).ok()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "That form could not be read",
            "The join form arrived malformed. Please fill it in again on the join page.",
        );
    };
    let regions = match s.store.regions().await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let joined = match join::check(&values, &regions, s.settings.demo) {
        Ok(j) => j,
        Err(errors) => {
            return html_page(
                StatusCode::BAD_REQUEST,
                html::join_form(&regions, s.settings.demo, &values, &errors),
            );
        }
    };
    match enrol(&s, joined).await {
        Ok(Ok(id)) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/household/{id}"))],
        )
            .into_response(),
        Ok(Err((title, why))) => problem(StatusCode::CONFLICT, &title, &why),
        Err(e) => unavailable(e),
    }
}

/// Records the profile; returns its household id, or why it cannot join.
async fn enrol(s: &AppState, j: Join) -> Result<Result<String, (String, String)>, WebError> {
    let household_id = match &j.meter_id {
        Some(m) => m.clone(),
        None => {
            // Demo: the first simulated household of the region that shared its readings and
            // has not joined yet.
            let taken: Vec<String> = s
                .store
                .profiles_in(&j.region)
                .await?
                .into_iter()
                .map(|p| p.household_id)
                .collect();
            let free = s
                .store
                .households_with_data(&j.region)
                .await?
                .into_iter()
                .find(|h| !taken.contains(h));
            match free {
                Some(h) => h,
                None => {
                    return Ok(Err((
                        "No simulated household left".into(),
                        format!(
                            "Every simulated household of {} that shares its readings has joined \
                             already. Choose another region, or enter a meter id.",
                            j.region
                        ),
                    )));
                }
            }
        }
    };
    if let Some(existing) = s.store.profile(&household_id).await?
        && existing.region != j.region
    {
        return Ok(Err((
            "That meter is in another region".into(),
            format!(
                "Meter {household_id} has joined in region {}; a meter belongs to one region.",
                existing.region
            ),
        )));
    }
    let profile = Profile {
        household_id: household_id.clone(),
        region: j.region,
        display_name: j.display_name,
        share_readings: true,
        leaderboard: j.leaderboard,
    };
    s.store
        .save_profile(&profile, (zeal_connectors::now_ms() / 1000) as u32)
        .await?;
    tracing::info!(household = %household_id, region = %profile.region, "household joined");
    Ok(Ok(household_id))
}

async fn household(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    if !join::valid_id(&id) {
        return problem(
            StatusCode::BAD_REQUEST,
            "Not a household id",
            "Household ids have 1-64 letters, digits, '.', '_' or '-'. Check the address.",
        );
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
        Ok(Some(view)) => html_page(StatusCode::OK, html::household(&view)),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "Unknown household",
            &format!("No household {id} has joined Energenies. Join first, then come back."),
        ),
        Err(e) => unavailable(e),
    }
}

async fn leaderboards(State(s): State<Shared>) -> Response {
    match s.store.regions().await {
        Ok(regions) => html_page(StatusCode::OK, html::leaderboards(&regions)),
        Err(e) => unavailable(e),
    }
}

async fn region_leaderboard(State(s): State<Shared>, Path(region): Path<String>) -> Response {
    let page = async {
        let regions = s.store.regions().await?;
        if !join::valid_id(&region) || !regions.contains(&region) {
            return Ok(None);
        }
        let profiles = s.store.profiles_in(&region).await?;
        let named: Vec<String> = profiles
            .iter()
            .filter(|p| p.leaderboard)
            .map(|p| p.household_id.clone())
            .collect();
        let events = s.store.events(&named).await?;
        Ok::<_, WebError>(Some(leaderboard(&profiles, &events)))
    };
    match page.await {
        Ok(Some(rows)) => html_page(StatusCode::OK, html::leaderboard(&region, &rows)),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "Unknown region",
            "There is no region with that name. Pick one from the leaderboards page.",
        ),
        Err(e) => unavailable(e),
    }
}

async fn operator(State(s): State<Shared>) -> Response {
    match s.store.operator().await {
        Ok(d) => html_page(StatusCode::OK, html::operator(&d)),
        Err(e) => unavailable(e),
    }
}
