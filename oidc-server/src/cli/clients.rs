//! `client …`: registering and managing relying parties.

use serde_json::json;

use oidc_core::{NewClient, Provider};

use super::{CliError, ClientCommand, print};

/// `client …`: thin shells over the library.
pub(super) async fn client(
    provider: &Provider,
    json_out: bool,
    cmd: ClientCommand,
    actor: &oidc_core::Actor,
) -> Result<(), CliError> {
    fn describe(c: &oidc_core::ClientInfo) -> String {
        format!(
            "client_id: {}\nname: {}\nauthentication: {}\nfirst_party: {}\nmfa_required: {}\ndisabled: {}\ngrant_types: {}\nredirect_uris: {}",
            c.client_id,
            c.name,
            c.token_endpoint_auth_method.as_str(),
            c.first_party,
            c.mfa_required,
            c.disabled,
            c.grant_types.join(" "),
            c.redirect_uris.join(" ")
        )
    }
    match cmd {
        ClientCommand::Show { client_id } => {
            let c = provider.client(&client_id).await?;
            print(
                json_out,
                serde_json::to_value(&c).unwrap_or_default(),
                describe(&c),
            )
        }
        ClientCommand::Update {
            client_id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            first_party,
            mfa_required,
            grant_types,
            scopes,
            backchannel_logout_uri,
            require_par,
            disabled,
        } => {
            let non_empty = |v: Vec<String>| if v.is_empty() { None } else { Some(v) };
            let update = oidc_core::ClientUpdate {
                name,
                redirect_uris: non_empty(redirect_uris),
                post_logout_redirect_uris: non_empty(post_logout_redirect_uris),
                first_party,
                mfa_required,
                grant_types: non_empty(grant_types),
                scope: non_empty(scopes),
                backchannel_logout_uri,
                require_pushed_authorization_requests: require_par,
                disabled,
            };
            let c = provider.update_client(actor, &client_id, update).await?;
            print(
                json_out,
                serde_json::to_value(&c).unwrap_or_default(),
                describe(&c),
            )
        }
        ClientCommand::RotateSecret { client_id } => {
            let secret = provider.rotate_client_secret(actor, &client_id).await?;
            print(
                json_out,
                json!({ "client_id": client_id, "client_secret": secret.secret() }),
                format!(
                    "client_id: {client_id}\nclient_secret: {}\n(The new secret is shown only now; the old one no longer works.)",
                    secret.secret()
                ),
            )
        }
        ClientCommand::Delete { client_id } => {
            provider.delete_client(actor, &client_id).await?;
            print(
                json_out,
                json!({ "client_id": client_id, "deleted": true }),
                format!("Deleted client {client_id}; its tokens no longer work."),
            )
        }
        ClientCommand::InitialToken {
            ttl_hours,
            multi_use,
        } => {
            let ttl = std::time::Duration::from_secs(ttl_hours.saturating_mul(3600));
            let t = provider
                .create_initial_access_token(actor, ttl, !multi_use)
                .await?;
            print(
                json_out,
                json!({
                    "initial_access_token": t.token.secret(),
                    "id": t.id,
                    "expires_at": t.expires_at.to_rfc3339(),
                    "single_use": t.single_use,
                }),
                format!(
                    "Initial access token (shown only now; {}, expires {}):\n{}",
                    if t.single_use {
                        "one registration"
                    } else {
                        "any number of registrations"
                    },
                    t.expires_at.to_rfc3339(),
                    t.token.secret()
                ),
            )
        }
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party: _,
            third_party,
            pkce_optional,
            access_token_audience,
            no_mfa,
            service,
            grant_types,
            scopes,
            refresh,
            id_token_alg,
        } => {
            let mut new = if service {
                NewClient::service(name)
            } else {
                NewClient::new(name, redirect_uris)
                    .post_logout_redirect_uris(post_logout_redirect_uris)
                    .public(public)
                    .first_party(!third_party)
            };
            new.pkce_required = !pkce_optional;
            new.access_token_audience = access_token_audience;
            new.mfa_required = !no_mfa;
            if !grant_types.is_empty() {
                new = new.grant_types(grant_types);
            }
            new = new.scope(scopes);
            if let Some(r) = refresh {
                new = new.refresh_policy(match r.as_str() {
                    "never" => oidc_core::RefreshPolicy::Never,
                    "offline_access" => oidc_core::RefreshPolicy::OfflineAccess,
                    "always" => oidc_core::RefreshPolicy::Always,
                    other => {
                        return Err(CliError::Io(format!(
                            "--refresh {other:?}: use never, offline_access or always"
                        )));
                    }
                });
            }
            if let Some(a) = id_token_alg {
                let alg = oidc_core::SigningAlg::parse(&a).ok_or_else(|| {
                    CliError::Io(format!("--id-token-alg {a:?}: use RS256, ES256 or EdDSA"))
                })?;
                new = new.id_token_signed_response_alg(alg);
            }
            let reg = provider.register_client(new).await?;
            let secret = reg.client_secret.as_ref().map(|s| s.secret().to_string());
            let mut value = serde_json::to_value(&reg.client).unwrap_or_default();
            value["client_secret"] = json!(secret);
            let text = match &secret {
                Some(s) => format!(
                    "client_id: {}\nclient_secret: {s}\n(The secret is shown only now; store it safely.)",
                    reg.client.client_id
                ),
                None => format!(
                    "client_id: {}\n(public client: no secret)",
                    reg.client.client_id
                ),
            };
            print(json_out, value, text)
        }
        ClientCommand::List => {
            let clients = provider.list_clients().await?;
            let text = clients
                .iter()
                .map(|c| format!("{}\t{}\t{}", c.client_id, c.name, c.redirect_uris.join(" ")))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&clients).unwrap_or_default(),
                text,
            )
        }
    }
}
