//! CPAR's own pages: the panels of the signed-in administrator and a panel's patients.

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::auth::guard;
use super::{AppState, Shared};
use crate::pages::{self, HomePage, MessagePage, PanelItem, PanelPage};
use crate::store::SessionRow;

// ---------------------------------------------------------------------------------------------
// Application pages

pub(super) async fn home(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let row = match guard(&s, &headers, &uri).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let panels = match s.store.panels_of(row.username.clone()).await {
        Ok(p) => p,
        Err(e) => return s.internal("could not list panels", &e),
    };
    pages::render(
        StatusCode::OK,
        &HomePage {
            layout: s.layout("Your panels", Some(&row)),
            notice: row.notice.clone(),
            name: row.name.clone(),
            username: row.username.clone(),
            role: "CPAR Panel Administrator",
            panels: panels
                .into_iter()
                .map(|(p, n)| PanelItem {
                    id: p.id,
                    name: p.name,
                    clinic: p.clinic,
                    patients: n,
                })
                .collect(),
        },
    )
}

fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(super) async fn panel(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let row = match guard(&s, &headers, &uri).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let found = if plausible_id(&id) {
        match s.store.panel_for(id, row.username.clone()).await {
            Ok(f) => f,
            Err(e) => return s.internal("could not read the panel", &e),
        }
    } else {
        None
    };
    match found {
        Some((panel, patients)) => pages::render(
            StatusCode::OK,
            &PanelPage::new(
                s.layout(&panel.name, Some(&row)),
                row.notice.clone(),
                panel,
                patients,
            ),
        ),
        None => not_found_page(&s, &row),
    }
}

fn not_found_page(s: &Shared, row: &SessionRow) -> Response {
    pages::render(
        StatusCode::NOT_FOUND,
        &MessagePage {
            layout: s.layout("Page not found", Some(row)),
            heading: "Page not found".into(),
            paragraphs: vec![
                "There is no such page in CPAR, or it is a panel you do not administer.".into(),
            ],
            link: Some(("/".into(), "Go to your panels".into())),
        },
    )
}

/// Unknown paths are application routes too: the access rule applies before the 404.
pub(super) async fn not_found(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    match guard(&s, &headers, &uri).await {
        Ok(row) => not_found_page(&s, &row),
        Err(res) => res,
    }
}

pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/cpar.css"),
    )
        .into_response()
}
