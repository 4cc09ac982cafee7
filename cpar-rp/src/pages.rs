//! CPAR's pages: one askama struct per template (`templates/`), all on the `base.html` layout
//! with the signed-in user's name and Log out button, and the Support Information footer.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::config::SupportInfo;
use crate::store::{PanelRow, PatientRow};

/// The page of a user without the CPAR panel administrator role.
pub const ACCESS_DENIED_MESSAGE: &str = "CPAR Access Administrators do not have access to the CPAR application by default. To gain access, complete a CPAR Panel Administrator User Registration (URF) form.";

/// The page after a sign-out that AHS IAM confirmed.
pub(crate) const SIGNED_OUT_MESSAGE: &str = "You have signed out of CPAR. Close your browser.";

/// The signed-in user as the header shows them.
pub(crate) struct UserBar {
    pub name: String,
    pub csrf: String,
}

/// What every page has.
pub(crate) struct Layout<'a> {
    pub title: String,
    pub user: Option<UserBar>,
    pub support: &'a SupportInfo,
}

/// A panel in the home page's list.
pub(crate) struct PanelItem {
    pub id: String,
    pub name: String,
    pub clinic: String,
    pub patients: i64,
}

#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage<'a> {
    pub layout: Layout<'a>,
    pub notice: Option<String>,
    pub name: String,
    pub username: String,
    pub role: &'static str,
    pub panels: Vec<PanelItem>,
}

#[derive(Template)]
#[template(path = "panel.html")]
pub(crate) struct PanelPage<'a> {
    pub layout: Layout<'a>,
    pub notice: Option<String>,
    pub panel_id: String,
    pub panel_name: String,
    pub clinic: String,
    pub patients: Vec<PatientRow>,
}

impl<'a> PanelPage<'a> {
    pub(crate) fn new(
        layout: Layout<'a>,
        notice: Option<String>,
        panel: PanelRow,
        patients: Vec<PatientRow>,
    ) -> Self {
        PanelPage {
            layout,
            notice,
            panel_id: panel.id,
            panel_name: panel.name,
            clinic: panel.clinic,
            patients,
        }
    }
}

#[derive(Template)]
#[template(path = "denied.html")]
pub(crate) struct DeniedPage<'a> {
    pub layout: Layout<'a>,
    pub message: &'static str,
    pub name: String,
    pub username: String,
}

/// A heading, some paragraphs and perhaps one link: errors, notices, the signed-out page.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub layout: Layout<'a>,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub link: Option<(String, String)>,
}

/// Renders `page` with `status`; a template failure (a bug) is a bare 500.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "CPAR could not show this page.",
            )
                .into_response()
        }
    }
}
