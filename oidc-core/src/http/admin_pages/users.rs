//! The accounts: search, one account's page, and the service desk's and administrators' actions on it.

use super::*;

#[derive(serde::Deserialize)]
pub(crate) struct Search {
    q: Option<String>,
}

/// `GET /admin/users?q=…`: find accounts whose username, email or name contains `q`.
pub(crate) async fn users(
    State(s): State<AppState>,
    admin: Admin,
    RawQuery(query): RawQuery,
) -> Response {
    let nav = admin.nav();
    let search = serde_urlencoded::from_str::<Search>(query.as_deref().unwrap_or(""))
        .ok()
        .and_then(|s| s.q);
    let q = search.as_deref().unwrap_or("").trim();
    if q.len() > 200 {
        return message(
            &s,
            StatusCode::BAD_REQUEST,
            "Search too long",
            "Search for at most 200 characters.",
            None,
        );
    }
    let (results, summary) = if search.is_some() {
        let all = match provider(&s).list_users().await {
            Ok(u) => u,
            Err(e) => return internal(&s, &e),
        };
        let needle = q.to_lowercase();
        let mut found: Vec<_> = all
            .into_iter()
            .filter(|u| {
                u.username.to_lowercase().contains(&needle)
                    || u.email.to_lowercase().contains(&needle)
                    || u.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&needle))
            })
            .collect();
        found.sort_by(|a, b| a.username.cmp(&b.username));
        let total = found.len();
        let summary = match total {
            0 => "No account matches.".to_string(),
            1 => "One account matches.".to_string(),
            n if n > MAX_RESULTS => {
                format!(
                    "{n} accounts match; the first {MAX_RESULTS} are listed. Narrow the search."
                )
            }
            n => format!("{n} accounts match."),
        };
        let lines = found
            .into_iter()
            .take(MAX_RESULTS)
            .map(|u| UserLine {
                href: user_href(&s, &u.username),
                username: u.username,
                name: u.name.unwrap_or_default(),
                email: u.email,
                status: if u.disabled { "Disabled" } else { "Active" },
            })
            .collect();
        (lines, summary)
    } else {
        (Vec::new(), String::new())
    };
    let page = UsersPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Find a user",
        nav: &nav,
        q,
        searched: search.is_some(),
        summary,
        results,
    };
    respond(&s, &admin, StatusCode::OK, &page)
}

/// `GET /admin/users/{username}`.
pub(crate) async fn user(
    State(s): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Response {
    user_page(&s, &admin, &username, None, StatusCode::OK).await
}

async fn user_page(
    s: &AppState,
    admin: &Admin,
    username: &str,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let row = match accounts::find_by_username(&s.db, username).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let users = format!("{}/users", admin_root(s));
            return message(
                s,
                StatusCode::NOT_FOUND,
                "No such account",
                &format!("There is no account with the username {username}."),
                Some((&users, "Find a user")),
            );
        }
        Err(e) => return internal(s, &e),
    };
    let now = s.now();
    let me = admin.caller.actor.to_string();
    let lock = match row.locked_until {
        Some(t) if t > now => format!("Locked until {}", when(t)),
        _ if row.failed_attempts == 1 => "Not locked (1 failed sign-in)".into(),
        _ if row.failed_attempts > 1 => format!(
            "Not locked ({} failed sign-ins in a row)",
            row.failed_attempts
        ),
        _ => "Not locked".into(),
    };
    let password = match &row.password {
        Password::Unset => "None yet: the service desk issues a temporary one".to_string(),
        Password::Temporary {
            expires_at: Some(t),
            ..
        } if *t <= now => format!("Temporary, expired {}", when(*t)),
        Password::Temporary {
            expires_at: Some(t),
            ..
        } => format!("Temporary, expires {}", when(*t)),
        Password::Temporary { .. } => "Temporary".into(),
        Password::Permanent(_) => "Set by the person".into(),
    };
    let verified = match &row.caller_verified {
        Some((by, at)) if *by == me => format!("Verified by you at {}", when(*at)),
        Some((by, at)) => format!("Last verified by {by} at {}", when(*at)),
        None => "Not verified".into(),
    };
    let roles = row.roles.clone();
    let nav = admin.nav();
    let page = UserPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Account",
        nav: &nav,
        u: UserView {
            action_base: user_href(s, &row.username),
            name: row.name.clone().unwrap_or_default(),
            email: row.email.clone(),
            roles: if roles.is_empty() {
                "None".into()
            } else {
                roles.join(", ")
            },
            roles_value: roles.join(" "),
            disabled: row.disabled,
            lock,
            password,
            secret_word: row.recovery.is_enrolled(),
            verified,
            username: row.username.clone(),
        },
        desk: nav.desk,
        manage: nav.access,
        roles_form: nav.iam,
        flash,
    };
    respond(s, admin, status, &page)
}

/// `POST /admin/users/{username}/{action}`.
pub(crate) async fn user_action(
    State(s): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Path((username, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form = match read_form(&s, &admin, &headers, &body) {
        Ok(f) => f,
        Err(res) => return res,
    };
    let p = provider(&s);
    let actor = &admin.caller.actor;
    let field = |name: &str| form.get(name).unwrap_or("").trim().to_string();
    let outcome: Result<Done, Error> = match action.as_str() {
        "verify-word" => {
            let word = form.get("secret_word").unwrap_or("");
            if word.trim().is_empty() {
                Err(Error::InvalidInput(
                    "type the secret word the caller says".into(),
                ))
            } else {
                p.verify_caller_secret_word(actor, &username, word)
                    .await
                    .map(|m| Done::Said(verification_result(m)))
            }
        }
        "send-code" => p.send_caller_code(actor, &username).await.map(|()| {
            Done::Said(
                "A one-time code was sent to the account's registered email address. Ask the \
                 caller to read it to you, then enter it below."
                    .into(),
            )
        }),
        "verify-code" => {
            let code = field("code");
            if code.is_empty() {
                Err(Error::InvalidInput(
                    "enter the code the caller reads to you".into(),
                ))
            } else {
                p.verify_caller_code(actor, &username, &code)
                    .await
                    .map(|m| Done::Said(verification_result(m)))
            }
        }
        "temporary-password" => match p.issue_temporary_password(actor, &username).await {
            Ok(secret) => Ok(Done::Shown(
                temporary_password_page(&s, &admin, &username, secret.secret()).await,
            )),
            Err(e) => Err(e),
        },
        "unlock" => p
            .unlock_account(actor, &username)
            .await
            .map(|()| Done::Said("The account is unlocked.".into())),
        "disable" => p
            .set_account_disabled(actor, &username, true)
            .await
            .map(|_| Done::Said("The account is disabled; its sessions have ended.".into())),
        "enable" => p
            .set_account_disabled(actor, &username, false)
            .await
            .map(|_| Done::Said("The account is enabled.".into())),
        "lost-token" => {
            let hours = field("hours");
            let hours = if hours.is_empty() {
                Ok(None)
            } else {
                hours.parse::<u32>().map(Some).map_err(|_| {
                    Error::InvalidInput("the hours are a whole number, such as 24".into())
                })
            };
            match hours {
                Ok(h) => match p.report_token_lost(actor, &username, h).await {
                    Ok(code) => Ok(Done::Shown(
                        emergency_page(&s, &admin, &username, code.secret()).await,
                    )),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        "roles" => {
            let roles: Vec<String> = form
                .get("roles")
                .unwrap_or("")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            p.set_roles(actor, &username, roles)
                .await
                .map(|u| Done::Said(format!("The roles are now: {}.", roles_text(&u.roles))))
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
    match outcome {
        Ok(Done::Shown(res)) => res,
        Ok(Done::Said(text)) => {
            let flash = Flash {
                action,
                text,
                error: false,
            };
            user_page(&s, &admin, &username, Some(flash), StatusCode::OK).await
        }
        Err(e) => match refused(&s, e) {
            Ok((StatusCode::NOT_FOUND, text)) => {
                message(&s, StatusCode::NOT_FOUND, "No such account", &text, None)
            }
            Ok((status, text)) => {
                let flash = Flash {
                    action,
                    text,
                    error: true,
                };
                user_page(&s, &admin, &username, Some(flash), status).await
            }
            Err(res) => res,
        },
    }
}

fn verification_result(matched: bool) -> String {
    if matched {
        "Match: the caller is verified. You can now act on this account for a short time.".into()
    } else {
        "No match: the caller is not verified. Ask again, or verify with a one-time code to \
         their registered email."
            .into()
    }
}

async fn temporary_password_page(
    s: &AppState,
    admin: &Admin,
    username: &str,
    secret: &str,
) -> Response {
    let expires = expiry(s, username, |row| match &row.password {
        Password::Temporary { expires_at, .. } => *expires_at,
        _ => None,
    })
    .await;
    let mut guidance = vec![
        "Read it to the caller. It is shown only once: it cannot be shown again.".to_string(),
        "It can be used only to set a new password: the caller signs in with it and is asked \
         for a new password, then for recovery information."
            .to_string(),
    ];
    if let Some(t) = expires {
        guidance.insert(1, format!("It expires {t}."));
    }
    let nav = admin.nav();
    let page = SecretPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Temporary password",
        nav: &nav,
        intro: vec![format!(
            "A temporary password was issued for {username}. The account's sessions have ended."
        )],
        label: "Temporary password",
        secret: Some(secret),
        guidance,
        back_href: user_href(s, username),
        back_text: "Back to the account",
    };
    respond(s, admin, StatusCode::OK, &page)
}

/// When something just issued for `username` stops working, as the library stored it. A secret is
/// shown once, so a failure here costs the date only, never the page.
async fn expiry(
    s: &AppState,
    username: &str,
    field: impl Fn(&accounts::Account) -> Option<DateTime<Utc>>,
) -> Option<String> {
    match accounts::find_by_username(&s.db, username).await {
        Ok(row) => row.as_ref().and_then(field).map(when),
        Err(e) => {
            tracing::error!(error = %e, "admin pages: could not read back an expiry");
            None
        }
    }
}

async fn emergency_page(s: &AppState, admin: &Admin, username: &str, secret: &str) -> Response {
    let nav = admin.nav();
    let validity = match expiry(s, username, |row| {
        row.emergency.as_ref().map(|e| e.expires_at)
    })
    .await
    {
        Some(t) => format!(
            "It works instead of the token until {t}, or until a replacement token is active."
        ),
        None => "It works instead of the token for a limited time, or until a replacement \
                 token is active."
            .to_string(),
    };
    let page = SecretPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Token reported lost",
        nav: &nav,
        intro: vec![format!(
            "The token of {username} is marked lost and can no longer be used; the account's \
             sessions have ended."
        )],
        label: "Emergency passcode",
        secret: Some(secret),
        guidance: vec![
            "Read it to the caller. It is shown only once: it cannot be shown again.".into(),
            validity,
            "Arrange a replacement token.".into(),
        ],
        back_href: user_href(s, username),
        back_text: "Back to the account",
    };
    respond(s, admin, StatusCode::OK, &page)
}
