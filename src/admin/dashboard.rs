//! `GET /admin/dashboard` (migration.md §6): the on-call page in `dashboards/`, embedded at
//! build time, and its script. Neither holds data or a secret, so both are served without the
//! token: a browser cannot send a bearer header when it opens a page. Every number on the page
//! comes from the admin API, called with the token the operator types in. Like the rest of the
//! API, they are a 404 when no token is configured.

use crate::http::Response;

const PAGE: &str = include_str!("../../dashboards/migration.html");
/// The script minified (`scripts/minify-dashboard.mjs` writes it from `dashboard.mjs`).
const SCRIPT: &str = include_str!("../../dashboards/dashboard.min.mjs");

/// `GET /admin/dashboard`: the page.
pub(super) fn page() -> Response {
    Response::text("text/html;charset=UTF-8", PAGE)
}

/// `GET /admin/dashboard.mjs`: the page's script.
pub(super) fn script() -> Response {
    Response::text("text/javascript;charset=UTF-8", SCRIPT)
}
