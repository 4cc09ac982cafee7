//! `user …`: accounts, temporary passwords, caller verification at the service desk.

use std::io::BufRead;

use serde_json::json;

use oidc_core::{NewUser, Provider};

use super::{CliError, UserCommand, print, read_stdin_line};

pub(super) async fn user(
    provider: &Provider,
    json_out: bool,
    cmd: UserCommand,
    actor: &oidc_core::Actor,
) -> Result<(), CliError> {
    match cmd {
        UserCommand::TempPassword { username } => {
            let temporary = provider.issue_temporary_password(actor, &username).await?;
            let text = format!(
                "Temporary password for {}: {}\n(Read it to the verified caller; it is shown only now and works once, to set a new password.)",
                username.trim().to_lowercase(),
                temporary.secret()
            );
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "temporary_password": temporary.secret() }),
                text,
            )
        }
        UserCommand::VerifyCaller {
            username,
            secret_word_stdin,
            send_code,
            code,
        } => {
            if send_code {
                provider.send_caller_code(actor, &username).await?;
                return print(
                    json_out,
                    json!({ "code_sent": true }),
                    "A one-time code was mailed to the registered address.".into(),
                );
            }
            let ok = match (secret_word_stdin, code) {
                (true, None) => {
                    let word = read_stdin_line(true)?.unwrap_or_default();
                    provider
                        .verify_caller_secret_word(actor, &username, &word)
                        .await?
                }
                (false, Some(c)) => provider.verify_caller_code(actor, &username, &c).await?,
                _ => {
                    return Err(CliError::Io(
                        "give --secret-word-stdin, --send-code or --code".into(),
                    ));
                }
            };
            print(
                json_out,
                json!({ "match": ok }),
                if ok {
                    "Match.".into()
                } else {
                    "No match.".into()
                },
            )?;
            if ok {
                Ok(())
            } else {
                Err(CliError::Io("the caller is not verified".into()))
            }
        }
        UserCommand::Disable { username } => {
            let u = provider
                .set_account_disabled(actor, &username, true)
                .await?;
            print(
                json_out,
                serde_json::to_value(&u).unwrap_or_default(),
                "Disabled; sessions ended.".into(),
            )
        }
        UserCommand::Enable { username } => {
            let u = provider
                .set_account_disabled(actor, &username, false)
                .await?;
            print(
                json_out,
                serde_json::to_value(&u).unwrap_or_default(),
                "Enabled.".into(),
            )
        }
        UserCommand::Roles { username, roles } => {
            let u = provider.set_roles(actor, &username, roles).await?;
            print(
                json_out,
                serde_json::to_value(&u).unwrap_or_default(),
                format!("Roles: {}", u.roles.join(" ")),
            )
        }
        UserCommand::LostToken { username, hours } => {
            let code = provider.report_token_lost(actor, &username, hours).await?;
            print(
                json_out,
                json!({ "emergency_passcode": code.secret() }),
                format!("Emergency passcode (shown once): {}", code.secret()),
            )
        }
        UserCommand::ResetRecovery { username } => {
            provider.reset_recovery_data(actor, &username).await?;
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "recovery_reset": true }),
                "Recovery data cleared; the next sign-in asks for a new secret word and questions."
                    .into(),
            )
        }
        UserCommand::DeleteCredentials { username } => {
            let serials = provider.delete_credentials(actor, &username).await?;
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "tokens_taken_back": serials }),
                format!(
                    "Credentials deleted, sessions ended; tokens taken back: {}",
                    if serials.is_empty() {
                        "none".to_string()
                    } else {
                        serials.join(", ")
                    }
                ),
            )
        }
        UserCommand::Unlock { username } => {
            provider.unlock_account(actor, &username).await?;
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "unlocked": true }),
                "Unlocked.".into(),
            )
        }
        UserCommand::Add {
            username,
            email,
            name,
            roles,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| CliError::Io(e.to_string()))?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let user = provider
                .create_user(NewUser {
                    username,
                    email,
                    name,
                    roles,
                    password,
                })
                .await?;
            let text = format!("Created user {} (sub {}).", user.username, user.subject);
            print(
                json_out,
                serde_json::to_value(&user).unwrap_or_default(),
                text,
            )
        }
        UserCommand::List => {
            let users = provider.list_users().await?;
            let text = users
                .iter()
                .map(|u| format!("{}\t{}\t{}", u.username, u.email, u.roles.join(",")))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&users).unwrap_or_default(),
                text,
            )
        }
    }
}
