//! The password and passcode steps of a sign-in: each checks its form, counts failures and
//! moves the journey on (or back to its start).

use super::*;

/// Counts a checked and wrong attempt: per (account or typed username, address), per address and
/// per account (see `accounts::throttle`).
async fn count_failure(s: &AppState, attempt: &throttle::Attempt<'_>) -> Result<(), crate::Error> {
    throttle::record_failure(s, attempt).await
}

pub(super) async fn password_step(
    s: &AppState,
    headers: &HeaderMap,
    addr: Option<IpAddr>,
    mut j: Journey,
    form: StepForm,
) -> Response {
    let username = form.username.trim().to_string();
    let well_formed = !username.is_empty()
        && !form.password.secret().is_empty()
        && username.len() <= 254
        && form.password.secret().len() <= 1024;
    let user = if well_formed {
        match accounts::find_by_username(&s.db, &username).await {
            Ok(u) => u.filter(|u| !u.disabled),
            Err(e) => return pages::internal(s, &e),
        }
    } else {
        None
    };
    let attempt = throttle::Attempt {
        user: user.as_ref(),
        username: &username,
        address: addr,
    };
    // A throttled (account, address) pair or address, or a locked account, is refused without
    // checking the password; the answer is the one for a wrong password.
    let refused = if well_formed {
        match throttle::refused(s, s.now(), &attempt).await {
            Ok(r) => r,
            Err(e) => return pages::internal(s, &e),
        }
    } else {
        false
    };
    // Unknown users, users without a password and refused attempts are all checked against a hash
    // (the dummy one where there is none), so that every failure costs the same time.
    let stored = user
        .as_ref()
        .filter(|_| !refused)
        .and_then(|u| u.password.hash().map(str::to_string));
    let right = match accounts::password::verify(&form.password, stored).await {
        Ok(ok) => ok && well_formed,
        Err(e) => return pages::internal(s, &e),
    };
    let ok = right && !refused;
    if !ok
        && well_formed
        && !refused
        && let Err(e) = count_failure(s, &attempt).await
    {
        return pages::internal(s, &e);
    }
    let conceal = j.steps.contains(&Step::SecondFactor) && !s.config.reveal_password_result;
    if !ok && !conceal {
        return signin_page(s, &j, StatusCode::OK, &username, Some(BAD_CREDENTIALS));
    }
    // The password was the last factor: the pair starts again from zero.
    if ok
        && !j.steps.contains(&Step::SecondFactor)
        && let Some(u) = &user
        && let Err(e) = throttle::record_success(&s.db, u, addr).await
    {
        return pages::internal(s, &e);
    }
    j.claimed_username = Some(accounts::normalize_username(&username));
    j.password_ok = ok;
    j.advance();
    if ok && let Some(u) = &user {
        j.add_amr(&["pwd".to_string()]);
        j.acr = Some(mfa::ACR_PASSWORD.to_string());
        // Required actions come after the passcode, so that they reveal nothing before it.
        let expired = u.password.temporary_expired(s.now());
        if expired {
            j.steps.push(Step::PasswordExpired);
        } else {
            // What the account owes (a new password after a temporary one, recovery data after
            // a first sign-in or a reset), in the seed's order, whatever page this sign-in
            // started from; each is paid in the transaction that does it, so a sign-in
            // abandoned halfway asks for the rest next time.
            j.steps.extend(u.owed.steps());
        }
    }
    j.user_id = user.map(|u| u.id);
    save_and_continue(s, headers, j).await
}

/// What a passcode check costs at least (one argon2 verification: the PIN's, or a dummy), spent
/// where there is nothing to check, so that timing does not tell the cases apart.
pub(crate) async fn equal_cost() {
    let _ = accounts::password::verify(&crate::Secret::new(String::new()), None).await;
}

fn is_well_formed(prompt: &Prompt, answer: &str) -> Result<(), &'static str> {
    let (numeric, max_len) = match prompt.input {
        InputKind::Numeric { max_len } => (true, max_len),
        InputKind::Text { max_len } => (false, max_len),
    };
    if answer.is_empty() {
        return Err("Enter your passcode.");
    }
    if answer.chars().count() > max_len {
        return Err("That passcode is too long.");
    }
    if numeric && !answer.bytes().all(|b| b.is_ascii_digit()) {
        return Err("A passcode has digits only.");
    }
    if answer.chars().any(char::is_control) {
        return Err("That passcode has characters a passcode cannot have.");
    }
    Ok(())
}

pub(super) async fn second_factor_step(
    s: &AppState,
    headers: &HeaderMap,
    addr: Option<IpAddr>,
    mut j: Journey,
    passcode: String,
) -> Response {
    let passcode = passcode.trim().to_string();
    let pending: Option<Pending> = j
        .factor_state
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let shape = pending
        .as_ref()
        .map(Pending::prompt)
        .unwrap_or_else(mfa::tokens::passcode_prompt);
    if let Err(msg) = is_well_formed(&shape, &passcode) {
        // A malformed answer is not an attempt: nothing is spent or counted.
        return passcode_page(s, &j, StatusCode::OK, Some(msg)).await;
    }
    // Claim this state of the journey before verifying: of two submits of the same form (a double
    // click), only one goes on; the other is sent to whatever comes next and counts nothing.
    match journey::save(&s.db, &mut j).await {
        Ok(true) => {}
        Ok(false) => return see_other(&here(s, &j)),
        Err(e) => return pages::internal(s, &e),
    }
    let user = match journey_user(s, &j).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    // Throttled or locked since the password step (other attempts in between): refused as after a
    // wrong password, without checking the passcode.
    let refused = match &user {
        Some(u) if j.password_ok => {
            let attempt = throttle::Attempt {
                user: Some(u),
                username: &u.username,
                address: addr,
            };
            match throttle::refused(s, s.now(), &attempt).await {
                Ok(r) => r,
                Err(e) => return pages::internal(s, &e),
            }
        }
        _ => false,
    };
    let outcome = match &user {
        Some(u) if j.password_ok && !refused => match factor_for(s, &u.id).await {
            Ok(Some(f)) => {
                let state = pending.as_ref().map(|p| p.state.as_str());
                match f.verify(&account_of(u), &passcode, state).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(error = %e, factor = f.kind(), "second factor failed");
                        Verification::Rejected
                    }
                }
            }
            Ok(None) => {
                equal_cost().await;
                Verification::Rejected
            }
            Err(e) => return pages::internal(s, &e),
        },
        Some(u) => {
            // A wrong password: the tokencode is spent all the same, and nothing else happens.
            if let Err(e) = s.tokens.spend(&u.id, &passcode).await {
                return pages::internal(s, &e);
            }
            Verification::Rejected
        }
        None => {
            equal_cost().await;
            Verification::Rejected
        }
    };
    match outcome {
        Verification::Accepted { amr } => {
            if let Some(u) = &user
                && let Err(e) = throttle::record_success(&s.db, u, addr).await
            {
                return pages::internal(s, &e);
            }
            if amr.is_empty() {
                // No authentication method proven (the emergency passcode of a lost token): its
                // own acr, and not reported as multi-factor.
                j.acr = Some(crate::accounts::desk::ACR_PASSWORD_EMERGENCY.to_string());
            } else {
                j.add_amr(&amr);
                j.add_amr(&["mfa".to_string()]);
                j.acr = Some(mfa::ACR_PASSWORD_OTP.to_string());
            }
            j.factor_state = None;
            j.advance();
            save_and_continue(s, headers, j).await
        }
        Verification::Challenge { prompt, state } => {
            let pending = Pending::new(&prompt, state.chars().take(1024).collect());
            j.factor_state = serde_json::to_string(&pending).ok();
            save_and_continue(s, headers, j).await
        }
        Verification::Rejected => {
            // A wrong password was counted at the password step; a refused attempt counts nothing.
            if let Some(u) = &user
                && j.password_ok
                && !refused
                && let Err(e) = count_failure(
                    s,
                    &throttle::Attempt {
                        user: Some(u),
                        username: &u.username,
                        address: addr,
                    },
                )
                .await
            {
                return pages::internal(s, &e);
            }
            j.restart(vec![Step::Password, Step::SecondFactor]);
            match journey::save(&s.db, &mut j).await {
                Ok(true) => signin_page(s, &j, StatusCode::OK, "", Some(BAD_ANY)),
                Ok(false) => see_other(&here(s, &j)),
                Err(e) => pages::internal(s, &e),
            }
        }
    }
}
