//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route, written by hand in
//! `openapi.json` next to this file and checked against [`super::ROUTES`] by a test.

use axum::http::header;
use axum::response::IntoResponse;

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// `{*id}` (axum) is `{id}` in OpenAPI.
    fn openapi_path(axum: &str) -> String {
        axum.replace("{*", "{")
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let routed: BTreeSet<(String, String)> = super::super::ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), openapi_path(p)))
            .collect();
        assert_eq!(routed, documented);
        let built: BTreeSet<(String, String)> = super::super::routes()
            .iter()
            .map(|(m, p, _)| ((*m).to_owned(), openapi_path(p)))
            .collect();
        assert_eq!(built, routed, "ROUTES lists what routes() builds");
    }
}
