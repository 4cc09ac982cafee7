//! `urf …`: user registration forms (submit, list, approve, reject).

use serde_json::json;

use oidc_core::Provider;

use super::{CliError, UrfCommand, print};

fn registration_line(r: &oidc_core::Registration) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        r.id,
        r.status,
        r.legal_name,
        r.email,
        r.clinic,
        r.practitioner_id,
        r.role_requested,
        r.username.as_deref().unwrap_or("-")
    )
}

pub(super) async fn urf(
    provider: &Provider,
    json_out: bool,
    cmd: UrfCommand,
    actor: &oidc_core::Actor,
) -> Result<(), CliError> {
    let show = |r: oidc_core::Registration| {
        let text = registration_line(&r);
        print(json_out, serde_json::to_value(&r).unwrap_or_default(), text)
    };
    match cmd {
        UrfCommand::Submit {
            legal_name,
            email,
            clinic,
            practitioner_id,
            role,
        } => show(
            provider
                .submit_registration(
                    actor,
                    oidc_core::NewRegistration {
                        legal_name,
                        email,
                        clinic,
                        practitioner_id,
                        role_requested: role,
                    },
                )
                .await?,
        ),
        UrfCommand::List { status } => {
            let list = provider.list_registrations(status.as_deref()).await?;
            let text = list
                .iter()
                .map(registration_line)
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&list).unwrap_or_default(),
                text,
            )
        }
        UrfCommand::Approve {
            id,
            username,
            serial,
            soft,
        } => {
            let choice = match (serial, soft) {
                (Some(serial), false) => oidc_core::TokenChoice::Hardware { serial },
                (None, true) => oidc_core::TokenChoice::Soft,
                _ => {
                    return Err(CliError::Io("give either --serial SERIAL or --soft".into()));
                }
            };
            let a = provider
                .approve_registration(actor, &id, &username, choice)
                .await?;
            let mut value = json!({
                "registration": a.registration,
                "user": a.user,
                "serial": a.serial,
            });
            let mut text = format!(
                "Approved: account {} created with roles {}, token {} assigned; the Welcome email went to {}.",
                a.user.username,
                a.user.roles.join(","),
                a.serial,
                a.user.email
            );
            if let Some(e) = &a.soft_token {
                value["activation_code"] = json!(e.activation_code.secret());
                value["activation_expires_at"] = json!(e.activation_expires_at.to_rfc3339());
                text.push_str(&format!(
                    "\nSoft token activation code: {} (give it to the user by phone, never by email; valid until {})",
                    e.activation_code.secret(),
                    e.activation_expires_at.to_rfc3339()
                ));
            }
            print(json_out, value, text)
        }
        UrfCommand::Reject { id, reason } => {
            show(provider.reject_registration(actor, &id, &reason).await?)
        }
        UrfCommand::ResetStuck {
            id,
            older_than_minutes,
        } => show(
            provider
                .reset_stuck_registration(
                    actor,
                    &id,
                    std::time::Duration::from_secs(older_than_minutes.saturating_mul(60)),
                )
                .await?,
        ),
    }
}
