//! Signing staff in and out of the admin pages through the provider itself.

use super::*;

pub(crate) async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let root = admin_root(&s);
    let again = Some((root.as_str(), "Sign in to the admin pages"));
    let refuse =
        |status: StatusCode, title: &str, text: &str| message(&s, status, title, text, again);
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer from the sign-in page is not correctly encoded.",
        );
    };
    let raw = crate::protocol::authorize::RawParams::from_pairs(pairs);
    if !raw.duplicated().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer from the sign-in page repeats a parameter.",
        );
    }
    let pending =
        cookies::get_scoped(&s.config, &headers, LOGIN_COOKIE).and_then(|v| Pending::decode(&v));
    let Some(pending) = pending else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "This browser has no admin sign-in under way: it may have taken too long, or been \
             started in another window. Please start again.",
        );
    };
    // Nothing is set or cleared before the state matches: a forged answer must not disturb a
    // sign-in the person has under way.
    let state = raw.get("state").unwrap_or("");
    if !ct_eq(state.as_bytes(), pending.state.as_bytes()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer does not belong to the sign-in this browser started (perhaps a newer one \
             was started in another window). Nothing was changed. Please start again.",
        );
    }
    let finish = |mut res: Response| {
        res.headers_mut()
            .append(header::SET_COOKIE, login_cookie_clear(&s));
        res
    };
    // RFC 9207: the answer must come from this provider, not from one mixed up with it.
    if raw.get("iss") != Some(s.config.issuer()) {
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer did not come from this sign-in service. Please start again.",
        ));
    }
    if let Some(code) = raw.get("error") {
        let text = match code {
            "access_denied" => "The sign-in was refused or cancelled.",
            "login_required" | "interaction_required" => {
                "The sign-in needs you to enter your password and passcode."
            }
            "temporarily_unavailable" | "server_error" => {
                "The sign-in service could not complete the sign-in just now."
            }
            _ => "The sign-in service refused the request of the admin pages.",
        };
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "The sign-in did not complete",
            &format!("{text} Please try again, or call the service desk if this keeps happening."),
        ));
    }
    let Some(code) = raw.get("code") else {
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer from the sign-in page has no authorization code.",
        ));
    };
    let redirect_uri = s.config.endpoint(paths::ADMIN_CALLBACK);
    // The admin console is a public client of this provider: its code is redeemed in-process
    // by the token endpoint's own use case, under exactly the rules a remote client meets.
    let console = match clients::find(&s.db, clients::ADMIN_CONSOLE_ID).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return finish(internal(
                &s,
                &Error::Internal("the admin console client is missing".into()),
            ));
        }
        Err(e) => return finish(internal(&s, &e)),
    };
    let exchanged = crate::tokens::exchange::exchange(
        &s,
        &console,
        crate::tokens::exchange::TokenRequest::AuthorizationCode {
            code: crate::Secret::new(code),
            redirect_uri,
            code_verifier: Some(pending.verifier.clone()),
        },
    )
    .await;
    let tokens = match exchanged {
        Ok(t) => t,
        Err(e)
            if matches!(
                e.error.code,
                crate::protocol::errors::ErrorCode::ServerError
                    | crate::protocol::errors::ErrorCode::TemporarilyUnavailable
            ) =>
        {
            return finish(internal(&s, &Error::Internal(e.error.description)));
        }
        Err(e) => {
            tracing::info!(error = %e.error.description, "admin pages: code exchange refused");
            return finish(refuse(
                StatusCode::BAD_REQUEST,
                "This sign-in cannot be completed",
                "The sign-in had expired or was already used. Please start again.",
            ));
        }
    };
    // The ID token was minted by this process a moment ago: its nonce is what binds it to the
    // browser that started the sign-in.
    if !nonce_matches(tokens.id_token.as_deref().unwrap_or(""), &pending.nonce) {
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The sign-in does not belong to this browser. Please start again.",
        ));
    }
    // The same checks every page makes, once here: a sign-in that cannot open the admin pages
    // must end on a page, not in a loop back to the provider.
    if let Err(refused) = staff::admin_caller(&s, &tokens.access_token).await {
        return finish(match refused {
            Refused::InvalidToken(_) | Refused::StepUp { .. } => message(
                &s,
                StatusCode::FORBIDDEN,
                "This sign-in is not enough for the admin pages",
                &format!(
                    "The admin pages need a sign-in with your password and token passcode in the \
                     last {} minutes.",
                    s.config.admin_recent_auth.as_secs().div_ceil(60)
                ),
                again,
            ),
            Refused::InsufficientScope(_) => no_role(&s, "insufficient_scope"),
            Refused::NoRole => no_role(&s, "forbidden"),
            Refused::Failed(e) => internal(&s, &e),
        });
    }
    let mut res = finish(see_other(&safe_return(
        s.config.base_path(),
        &pending.return_to,
    )));
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookies::set_scoped(
            &s.config,
            ADMIN_COOKIE,
            &tokens.access_token,
            &root,
            SameSite::Strict,
            None,
        ),
    );
    if pending.reauth {
        h.append(
            header::SET_COOKIE,
            cookies::set_scoped(
                &s.config,
                NOTICE_COOKIE,
                "reauth",
                &root,
                SameSite::Lax,
                Some(120),
            ),
        );
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /admin/logout`: forgets the admin sign-in, then ends the provider's session at its
/// end-session endpoint (which asks the person to confirm).
pub(crate) async fn sign_out(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A sign-in that no longer works may always be forgotten; a live one only by its own form,
    // so that another site cannot sign people out.
    if let Ok(admin) = authenticate(&s, &headers, None).await {
        if let Err(res) = read_form(&s, &admin, &headers, &body) {
            return res;
        }
        // Revoke the admin token's grant too: a copy of the cookie must stop working at the API.
        let token = cookies::get_scoped(&s.config, &headers, ADMIN_COOKIE).unwrap_or_default();
        if let Some(claims) = crate::tokens::decode_access_token(&s.config, &s.keys, &token)
            && let Err(e) = crate::tokens::revoke_grant(&s.db, &claims.gid, s.now()).await
        {
            return pages::internal(&s, &e);
        }
    }
    let mut res = see_other(&format!("{}{}", s.config.base_path(), paths::END_SESSION));
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, admin_cookie_clear(&s));
    h.append(header::SET_COOKIE, login_cookie_clear(&s));
    res
}

// ---------------------------------------------------------------------------------------------
// Handlers: pages
