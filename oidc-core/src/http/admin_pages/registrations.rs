//! User Registration Forms: submitting, approving and rejecting them.

use super::*;

fn may_provision(admin: &Admin) -> bool {
    admin.holds(&[ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN])
}

fn provisioning_refused(s: &AppState) -> Response {
    let root = admin_root(s);
    message(
        s,
        StatusCode::FORBIDDEN,
        "Registrations are for Access Administrators",
        "Entering and approving registrations needs the Access Administrator role.",
        Some((&root, "Back to the admin pages")),
    )
}

/// `GET /admin/registrations`.
pub(crate) async fn registrations(State(s): State<AppState>, admin: Admin) -> Response {
    if !may_provision(&admin) {
        return provisioning_refused(&s);
    }
    registrations_page(&s, &admin, UrfValues::default(), None, StatusCode::OK).await
}

async fn registrations_page(
    s: &AppState,
    admin: &Admin,
    urf: UrfValues,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let list = match provider(s).list_registrations(Some("pending")).await {
        Ok(l) => l,
        Err(e) => return internal(s, &e),
    };
    let me = admin.caller.actor.to_string();
    let root = admin_root(s);
    let pending = list
        .into_iter()
        .map(|r| RegView {
            key: utf8_percent_encode(&r.id, SEGMENT).to_string(),
            approve_key: format!("approve-{}", utf8_percent_encode(&r.id, SEGMENT)),
            reject_key: format!("reject-{}", utf8_percent_encode(&r.id, SEGMENT)),
            action_base: format!(
                "{root}/registrations/{}",
                utf8_percent_encode(&r.id, SEGMENT)
            ),
            mine: r.submitted_by == me,
            legal_name: r.legal_name,
            email: r.email,
            clinic: r.clinic,
            practitioner_id: r.practitioner_id,
            role_requested: r.role_requested,
            submitted_by: r.submitted_by,
            created_at: when(r.created_at),
        })
        .collect();
    let nav = admin.nav();
    let page = RegistrationsPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Registrations",
        nav: &nav,
        pending,
        urf,
        flash,
    };
    respond(s, admin, status, &page)
}

/// `POST /admin/registrations`: an Access Administrator enters a URF.
pub(crate) async fn submit_registration(
    State(s): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match read_form(&s, &admin, &headers, &body) {
        Ok(f) => f,
        Err(res) => return res,
    };
    if !may_provision(&admin) {
        return provisioning_refused(&s);
    }
    let v = |name: &str| form.get(name).unwrap_or("").trim().to_string();
    let urf = UrfValues {
        legal_name: v("legal_name"),
        email: v("email"),
        clinic: v("clinic"),
        practitioner_id: v("practitioner_id"),
        role_requested: v("role_requested"),
    };
    let result = provider(&s)
        .submit_registration(
            &admin.caller.actor,
            crate::NewRegistration {
                legal_name: urf.legal_name.clone(),
                email: urf.email.clone(),
                clinic: urf.clinic.clone(),
                practitioner_id: urf.practitioner_id.clone(),
                role_requested: Some(urf.role_requested.clone()).filter(|r| !r.is_empty()),
            },
        )
        .await;
    match result {
        Ok(r) => {
            let flash = Flash {
                action: "submit".into(),
                text: format!(
                    "The registration of {} was entered. Another Access Administrator must \
                     approve it.",
                    r.legal_name
                ),
                error: false,
            };
            registrations_page(
                &s,
                &admin,
                UrfValues::default(),
                Some(flash),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => match refused(&s, e) {
            Ok((status, text)) => {
                let flash = Flash {
                    action: "submit".into(),
                    text,
                    error: true,
                };
                registrations_page(&s, &admin, urf, Some(flash), status).await
            }
            Err(res) => res,
        },
    }
}

/// `POST /admin/registrations/{id}/approve` and `…/reject`.
pub(crate) async fn registration_action(
    State(s): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form = match read_form(&s, &admin, &headers, &body) {
        Ok(f) => f,
        Err(res) => return res,
    };
    if !may_provision(&admin) {
        return provisioning_refused(&s);
    }
    let p = provider(&s);
    let actor = &admin.caller.actor;
    let key = utf8_percent_encode(&id, SEGMENT).to_string();
    let outcome: Result<Done, Error> = match action.as_str() {
        "approve" => {
            let username = form.get("username").unwrap_or("").trim();
            let serial = form.get("serial").unwrap_or("").trim();
            let choice = match form.get("token") {
                Some("hardware") if !serial.is_empty() => Ok(crate::TokenChoice::Hardware {
                    serial: serial.to_string(),
                }),
                Some("hardware") => Err(Error::InvalidInput(
                    "enter the serial of the hardware token".into(),
                )),
                Some("soft") => Ok(crate::TokenChoice::Soft),
                _ => Err(Error::InvalidInput(
                    "choose a hardware token (with its serial) or a soft token".into(),
                )),
            };
            match choice {
                Ok(choice) => match p.approve_registration(actor, &id, username, choice).await {
                    Ok(a) => Ok(Done::Shown(approved_page(&s, &admin, &a))),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        "reject" => {
            let reason = form.get("reason").unwrap_or("");
            p.reject_registration(actor, &id, reason).await.map(|r| {
                Done::Said(format!(
                    "The registration of {} was rejected; the reason is recorded.",
                    r.legal_name
                ))
            })
        }
        _ => {
            return message(
                &s,
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no such action.",
                None,
            );
        }
    };
    let (flash, status) = match outcome {
        Ok(Done::Shown(res)) => return res,
        Ok(Done::Said(text)) => (
            Flash {
                action: format!("{action}-{key}"),
                text,
                error: false,
            },
            StatusCode::OK,
        ),
        Err(e) => match refused(&s, e) {
            Ok((status, text)) => (
                Flash {
                    // A registration no longer pending is not listed: say it at the top.
                    action: if status == StatusCode::BAD_REQUEST {
                        format!("{action}-{key}")
                    } else {
                        "list".into()
                    },
                    text,
                    error: true,
                },
                status,
            ),
            Err(res) => return res,
        },
    };
    registrations_page(&s, &admin, UrfValues::default(), Some(flash), status).await
}

fn approved_page(s: &AppState, admin: &Admin, a: &crate::Approval) -> Response {
    let nav = admin.nav();
    let reg = &a.registration;
    let mut intro = vec![
        format!(
            "The account {} was created for {} with the role {}.",
            a.user.username,
            reg.legal_name,
            roles_text(&a.user.roles)
        ),
        format!("Token: serial {}.", a.serial),
        format!(
            "The Welcome email with the username goes to {}.",
            a.user.email
        ),
    ];
    let (label, secret, guidance) = match &a.soft_token {
        Some(t) => (
            "Soft token activation code",
            Some(t.activation_code.secret()),
            vec![
                format!(
                    "Give it to {} by phone, never by email. It is shown only once.",
                    reg.legal_name
                ),
                format!(
                    "It expires {}. They enter it with their username at {}.",
                    when(t.activation_expires_at),
                    s.config.endpoint(paths::ACTIVATE_TOKEN)
                ),
            ],
        ),
        None => {
            intro.push("The hardware token goes to the person separately.".into());
            ("", None, Vec::new())
        }
    };
    let page = SecretPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Registration approved",
        nav: &nav,
        intro,
        label,
        secret,
        guidance,
        back_href: format!("{}/registrations", admin_root(s)),
        back_text: "Back to the registrations",
    };
    respond(s, admin, StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------------
// Audit log
