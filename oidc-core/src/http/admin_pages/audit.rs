//! The audit log, newest first, with its chain verified.

use super::*;

/// `GET /admin/audit` (IAM administrators): the latest events, newest first, and the chain check.
pub(crate) async fn audit(State(s): State<AppState>, admin: Admin) -> Response {
    if !admin.holds(&[ROLE_IAM_ADMIN]) {
        let root = admin_root(&s);
        return message(
            &s,
            StatusCode::FORBIDDEN,
            "The audit log is for IAM administrators",
            "Reading the audit log needs the IAM administrator role.",
            Some((&root, "Back to the admin pages")),
        );
    }
    let p = provider(&s);
    let report = match p.verify_audit_log().await {
        Ok(r) => r,
        Err(e) => return internal(&s, &e),
    };
    // Sequence numbers have no gaps, so an intact chain's length says where its tail starts;
    // reading on from there also catches what was appended since.
    let mut since = (report.entries - AUDIT_PAGE).max(0);
    let mut tail: Vec<crate::AuditEvent> = Vec::new();
    loop {
        let batch = match p.audit_events(Some(since), crate::audit::MAX_LIST).await {
            Ok(b) => b,
            Err(e) => return internal(&s, &e),
        };
        let Some(last) = batch.last().map(|e| e.seq) else {
            break;
        };
        let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) >= crate::audit::MAX_LIST;
        tail.extend(batch);
        let keep = usize::try_from(AUDIT_PAGE).unwrap_or(usize::MAX);
        if tail.len() > keep {
            tail.drain(..tail.len() - keep);
        }
        if !full {
            break;
        }
        since = last;
    }
    let events = tail
        .into_iter()
        .rev()
        .map(|e| EventLine {
            seq: e.seq,
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: e.actor,
            event: e.event,
            subject: e.subject.unwrap_or_default(),
            detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) || e.detail.is_null() {
                String::new()
            } else {
                e.detail.to_string()
            },
        })
        .collect();
    let (intact, text) = match (report.first_broken, &report.reason) {
        (None, _) => (
            true,
            format!("The chain is intact: {} entries checked.", report.entries),
        ),
        (Some(seq), reason) => (
            false,
            format!(
                "The chain is broken at entry {seq}: {}. Entries after it cannot be trusted; \
                 report this to security.",
                reason
                    .as_deref()
                    .unwrap_or("the entry does not match its MAC")
            ),
        ),
    };
    let nav = admin.nav();
    let page = AuditPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Audit log",
        nav: &nav,
        intact,
        report: text,
        events,
    };
    respond(&s, &admin, StatusCode::OK, &page)
}
