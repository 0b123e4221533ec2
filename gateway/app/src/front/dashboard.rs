//! The live dashboard on the front (`http.dashboard`, default `/dashboard`).
//!
//! A page for operators: live topics with their last (retained or most recent) value, a topic
//! filter with MQTT wildcards, a live message log, a publish form, connection counts per
//! protocol and the gateway's `$SYS/switchboard/…` and `$SYS/broker/…` statistics. It is plain
//! HTML, CSS and an ES module embedded in the binary (`gateway/app/assets/dashboard/`), with no
//! build step and nothing loaded from elsewhere, and it talks to the gateway through the
//! Engine.IO client (`/switchboard.js`) like any browser application. So it sees exactly what
//! its user may see: when anonymous access is off the page asks for a user and password (the
//! `auth` op) or a token, and the ACL applies to every subscription and publish it makes. The
//! page itself carries no data and is served to anyone who can reach the front.
//!
//! When the admin API is also on the front (`http.api`), the page's `api.js` lists the connected
//! clients of every protocol (with a disconnect button) and the retained topics from
//! `/api/v1/clients` and `/api/v1/topics`, asking once for the admin token (kept in the tab's
//! session storage) when the API answers 401; without the API those panels say how to turn it on.
//! The page finds out by asking: the dashboard needs no setting for it.
//!
//! | path | what |
//! |---|---|
//! | `{path}`, `{path}/` | the page, with its settings in a JSON `<script>` element |
//! | `{path}/app.js`, `{path}/api.js`, `{path}/style.css`, `{path}/icon.svg` | its assets |
//! | `{path}/switchboard.js` | the client, only when `engineio.client_path` is empty |

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const APP: &str = include_str!("../../assets/dashboard/app.js");
const API: &str = include_str!("../../assets/dashboard/api.js");
const STYLE: &str = include_str!("../../assets/dashboard/style.css");
const ICON: &str = include_str!("../../assets/dashboard/icon.svg");

/// Only this origin's scripts, styles and connections; no frames, no forms posted elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the page needs to know about the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSettings {
    /// Where the page is served (`http.dashboard`), without a trailing slash.
    pub path: String,
    /// `engineio.path`.
    pub engineio_path: String,
    /// `engineio.client_path`; empty means the dashboard serves its own copy of the client.
    pub client_path: String,
    /// Whether clients must sign in (anonymous access is off): the page asks first.
    pub auth_required: bool,
    /// The gateway's version, shown until `$SYS` says it.
    pub version: &'static str,
}

impl DashboardSettings {
    /// The client's path as the page imports it.
    fn client(&self) -> String {
        if self.client_path.is_empty() {
            format!("{}/switchboard.js", self.path)
        } else {
            self.client_path.clone()
        }
    }

    /// The page with its settings filled in.
    pub fn page(&self) -> String {
        let settings = serde_json::json!({
            "client": self.client(),
            "path": self.engineio_path,
            "auth_required": self.auth_required,
            "version": self.version,
            "api": crate::api::PREFIX,
        });
        // Inside a <script> element: `<` must not open a tag (e.g. `</script>` in a path).
        let settings = settings.to_string().replace('<', "\\u003c");
        INDEX
            .replace("{{CONFIG}}", &settings)
            .replace("{{BASE}}", &html_attr(&self.path))
    }
}

fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn asset(content_type: &'static str, body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The dashboard's routes under `settings.path`.
pub fn router(settings: &DashboardSettings) -> Router {
    let base = settings.path.trim_end_matches('/').to_owned();
    let settings = DashboardSettings {
        path: base.clone(),
        ..settings.clone()
    };
    let page = Bytes::from(settings.page());
    let index = move || {
        let page = page.clone();
        async move { asset("text/html; charset=utf-8", page) }
    };
    let mut router = Router::new()
        .route(&base, get(index.clone()))
        .route(&format!("{base}/"), get(index))
        .route(
            &format!("{base}/app.js"),
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    Bytes::from_static(APP.as_bytes()),
                )
            }),
        )
        .route(
            &format!("{base}/api.js"),
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    Bytes::from_static(API.as_bytes()),
                )
            }),
        )
        .route(
            &format!("{base}/style.css"),
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    Bytes::from_static(STYLE.as_bytes()),
                )
            }),
        )
        .route(
            &format!("{base}/icon.svg"),
            get(|| async { asset("image/svg+xml", Bytes::from_static(ICON.as_bytes())) }),
        );
    if settings.client_path.is_empty() {
        router = router.route(
            &format!("{base}/switchboard.js"),
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    Bytes::from_static(switchboard_engineio::client::SOURCE.as_bytes()),
                )
            }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DashboardSettings {
        DashboardSettings {
            path: "/dashboard".to_owned(),
            engineio_path: "/engine.io/".to_owned(),
            client_path: "/switchboard.js".to_owned(),
            auth_required: true,
            version: "9.9.9",
        }
    }

    #[test]
    fn the_page_carries_its_settings_and_asset_paths() {
        let page = settings().page();
        assert!(page.contains(r#"<link rel="stylesheet" href="/dashboard/style.css">"#));
        assert!(page.contains(r#"src="/dashboard/app.js""#));
        assert!(page.contains(r#"src="/dashboard/api.js""#));
        let start = page.find(r#"id="sb-config">"#).unwrap() + r#"id="sb-config">"#.len();
        let end = start + page[start..].find("</script>").unwrap();
        let json: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(json["client"], "/switchboard.js");
        assert_eq!(json["path"], "/engine.io/");
        assert_eq!(json["auth_required"], true);
        assert_eq!(json["api"], "/api/v1");
        assert!(!page.contains("{{"), "every placeholder is filled");
    }

    #[test]
    fn settings_cannot_break_out_of_the_script_element() {
        let page = DashboardSettings {
            engineio_path: "/x</script><script>alert(1)</script>/".to_owned(),
            client_path: String::new(),
            ..settings()
        }
        .page();
        assert_eq!(page.matches("</script>").count(), 3, "only the page's own");
        assert!(page.contains(r#""client":"/dashboard/switchboard.js""#));
    }

    #[test]
    fn the_assets_use_no_other_origin() {
        for text in [INDEX, APP, API, STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("//cdn"));
        }
        assert!(APP.contains("await import(config.client)"));
        // The API panels only call the API of the page's own origin.
        assert!(API.contains("fetch(API + path"));
        assert!(!API.contains("import "), "api.js imports nothing");
    }
}
