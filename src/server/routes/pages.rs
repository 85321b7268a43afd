//! The experiment pages for people: `/experiments` (the list) and `/experiments/{id}` (the
//! results), with their scripts and styles under `/assets/`. All of it is compiled into the
//! binary; nothing is read from disk or fetched from elsewhere.
//!
//! The pages are shells without data, so they need no token: their scripts fetch the JSON with
//! the `results` scope, from a token given in the address's fragment (`#token=…`, which no
//! browser sends to a server) or typed in, and kept in the tab's session storage.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::ErrorCode;
use crate::server::error::ApiError;

/// The pages' own scripts and styles, and the vendored chart library (uPlot, MIT).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "pages.css",
        "text/css; charset=utf-8",
        include_str!("../pages/pages.css"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/pages.js"),
    ),
    (
        "list.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/list.js"),
    ),
    (
        "results.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/results.js"),
    ),
    (
        "journeys.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/journeys.js"),
    ),
    (
        "journeys.css",
        "text/css; charset=utf-8",
        include_str!("../pages/journeys.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/vendor/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../pages/vendor/uPlot.min.css"),
    ),
];

/// Scripts and styles only from this service, no inline script, no framing by other sites.
const POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html)
}

/// `GET /experiments`: the list page.
pub async fn list() -> HttpResponse {
    page(include_str!("../pages/list.html"))
}

/// `GET /experiments/{id}`: the results page (the script reads the id from the address).
pub async fn results() -> HttpResponse {
    page(include_str!("../pages/results.html"))
}

/// `GET /journeys`: the journey analytics page (its script passes the address's query string on
/// to `GET /v1/analytics/dashboard`).
pub async fn journeys() -> HttpResponse {
    page(include_str!("../pages/journeys.html"))
}

fn asset_text(name: &str) -> &'static str {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("", |(_, _, body)| *body)
}

/// The journey page as one self-contained file (`nextbest journeys report`): the same script,
/// styles and chart library inlined, the dashboard's JSON embedded, nothing fetched.
pub fn journeys_report(dashboard: &serde_json::Value) -> String {
    // `</` would end the script element early; JSON allows `\/` for `/`.
    let json = dashboard.to_string().replace("</", "<\\/");
    let html = include_str!("../pages/journeys.html");
    let head_end = html.find("<link").unwrap_or(0);
    let body_start = html.find("<header>").unwrap_or(html.len());
    let body = &html[body_start..html.find("<script").unwrap_or(html.len())];
    format!(
        "{}<style>{}\n{}\n{}</style>\n</head>\n<body>\n{}<script>{}</script>\n<script>{}</script>\n<script id=\"journey-data\" type=\"application/json\">{}</script>\n<script>{}</script>\n</body>\n</html>\n",
        &html[..head_end],
        asset_text("pages.css"),
        asset_text("uPlot.min.css"),
        asset_text("journeys.css"),
        body,
        asset_text("uPlot.iife.min.js"),
        asset_text("pages.js"),
        json,
        asset_text("journeys.js"),
    )
}

/// `GET /assets/{name}`: one of the compiled-in assets; any other name is 404.
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name.as_str()) else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "no such asset".to_string(),
            None,
        ));
    };
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(*body))
}
