//! Dynamic client registration (RFC 7591, OpenID Connect Dynamic Client Registration 1.0), its
//! management with registration access tokens (RFC 7592), the initial access tokens that gate
//! it, and the administrators' changes to clients (update, rotate the secret, delete). The
//! registration endpoint and the admin API call the `Provider` methods here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value, json};

use super::metadata::{self, AuthMethod, MetadataError, Rules};
use super::{
    ADMIN_CONSOLE_ID, ClientInfo, NewClient, RefreshPolicy, SecretMaterial, check_new, row_for,
    secret_material, split_lines,
};
use crate::audit::Actor;
use crate::error::Error;
use crate::kek::Resealed;
use crate::secret::{KeyRing, Secret, ct_eq, digest, random_token};
use crate::store::models::{ClientRow, InitialAccessTokenRow};
use crate::store::schema::{clients, initial_access_tokens};
use crate::store::{DbConnection, naive, new_id};

/// An initial access token (RFC 7591 §3): what an administrator hands a developer so that they
/// may register one client (or several, until it expires) at the registration endpoint.
#[derive(Debug, Clone)]
pub struct InitialAccessToken {
    /// Its id (for the audit log; the token itself is stored only as a digest).
    pub id: String,
    /// The bearer token, shown once.
    pub token: Secret,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Whether it works for one registration only.
    pub single_use: bool,
}

/// What an administrator changes on a client; `None` leaves a value as it is.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    /// The name people see.
    pub name: Option<String>,
    /// Replaces the redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces the post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// First-party clients skip consent.
    pub first_party: Option<bool>,
    /// Whether sign-ins need a second factor.
    pub mfa_required: Option<bool>,
    /// Replaces the grant types.
    pub grant_types: Option<Vec<String>>,
    /// Replaces the `client_credentials` scopes.
    pub scope: Option<Vec<String>>,
    /// Back-channel logout URL (an empty string removes it).
    pub backchannel_logout_uri: Option<String>,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: Option<bool>,
    /// A disabled client can do nothing (its tokens stop working at userinfo and introspection).
    pub disabled: Option<bool>,
}

/// Why a registration endpoint call was refused.
#[derive(Debug)]
pub(crate) enum RegistrationError {
    /// RFC 6750 §3.1: no, a wrong, an expired or a spent token (initial or registration access
    /// token); the registration endpoint answers 401.
    InvalidToken(&'static str),
    /// RFC 7591 §3.2.2: `invalid_redirect_uri` or `invalid_client_metadata`, 400.
    Metadata(MetadataError),
    /// The provider failed.
    Failed(Error),
}

impl From<MetadataError> for RegistrationError {
    fn from(e: MetadataError) -> Self {
        RegistrationError::Metadata(e)
    }
}

impl From<Error> for RegistrationError {
    fn from(e: Error) -> Self {
        RegistrationError::Failed(e)
    }
}

/// A NewClient with the metadata of a stored row (what an update starts from).
fn new_client_of(row: &ClientRow) -> NewClient {
    let info = ClientInfo::from(row);
    NewClient {
        name: row.name.clone(),
        redirect_uris: info.redirect_uris,
        post_logout_redirect_uris: info.post_logout_redirect_uris,
        public: row.is_public,
        first_party: row.first_party,
        pkce_required: row.pkce_required,
        access_token_audience: row.access_token_audience.clone(),
        mfa_required: row.mfa_required,
        grant_types: info.grant_types,
        scope: info.scope,
        refresh_policy: RefreshPolicy::parse(&row.refresh_policy),
        id_token_signed_response_alg: info.id_token_signed_response_alg,
        metadata: info.metadata,
    }
}

/// Which secret a method needs: none, one sent (kept as a digest), or one MACed with (sealed).
fn secret_kind(m: AuthMethod) -> u8 {
    match m {
        AuthMethod::None | AuthMethod::PrivateKeyJwt => 0,
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => 1,
        AuthMethod::ClientSecretJwt => 2,
    }
}

/// The secret material of `new` replacing `old`'s: kept when the kind of secret is unchanged,
/// else fresh (shown once) or none.
fn carried_secret(
    old: &ClientRow,
    new: &NewClient,
    ring: &KeyRing,
) -> Result<SecretMaterial, Error> {
    let before = super::auth_method_of(old);
    let after = metadata::effective_method(new);
    if secret_kind(before) == secret_kind(after) {
        Ok(SecretMaterial {
            shown: None,
            hash: old.secret_hash.clone(),
            sealed: old.secret_sealed.clone(),
        })
    } else {
        secret_material(after, &old.id, ring)
    }
}

fn load(conn: &mut DbConnection, id: &str) -> Result<Option<ClientRow>, Error> {
    Ok(clients::table
        .find(id.to_string())
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?)
}

/// Re-seals every `client_secret_jwt` secret under the ring's current key, inside the caller's
/// write transaction (the key-encryption key rotation).
pub(crate) fn reseal_all(conn: &mut DbConnection, ring: &KeyRing) -> Result<Resealed, Error> {
    let rows: Vec<(String, Option<Vec<u8>>)> = clients::table
        .filter(clients::secret_sealed.is_not_null())
        .select((clients::id, clients::secret_sealed))
        .load(conn)?;
    let mut done = Resealed::default();
    for (id, sealed) in rows {
        let Some(sealed) = sealed else { continue };
        let (fresh, by) = ring.reseal(&sealed, &super::sealed_aad(&id))?;
        diesel::update(clients::table.find(&id))
            .set(clients::secret_sealed.eq(Some(fresh)))
            .execute(conn)?;
        done.add(by);
    }
    Ok(done)
}

/// The registration endpoint's rules: http loopback only in development, `application_type`
/// decides native.
fn dynamic_rules(config: &crate::config::ProviderConfig) -> Rules<'_> {
    Rules {
        allow_http_loopback: config.is_loopback_http(),
        public_is_native: false,
        key_algorithms: &config.key_algorithms,
    }
}

/// The answer of the registration endpoint for a client (RFC 7591 §3.2.1, RFC 7592 §3).
fn client_information(
    config: &crate::config::ProviderConfig,
    row: &ClientRow,
    secret: Option<&Secret>,
    registration_token: &Secret,
) -> Value {
    let mut out: Map<String, Value> = metadata::response_metadata(row, config.id_token_alg);
    if let Some(s) = secret {
        out.insert("client_secret".into(), json!(s.secret()));
    }
    if row.secret_hash.is_some() || row.secret_sealed.is_some() {
        // RFC 7591 §3.2.1: 0 means the secret does not expire.
        out.insert("client_secret_expires_at".into(), json!(0));
    }
    out.insert(
        "registration_access_token".into(),
        json!(registration_token.secret()),
    );
    out.insert(
        "registration_client_uri".into(),
        json!(registration_client_uri(config, &row.id)),
    );
    Value::Object(out)
}

/// RFC 7592 §3 `registration_client_uri`.
pub(crate) fn registration_client_uri(
    config: &crate::config::ProviderConfig,
    client_id: &str,
) -> String {
    format!(
        "{}/{client_id}",
        config.endpoint(crate::paths::REGISTRATION)
    )
}

/// Dynamic registration and its management, as the registration endpoint calls them.
impl crate::Provider {
    /// RFC 7591 §3.1: registers the client a JSON body describes. `initial_token` is the bearer
    /// token of the request; without open registration it must be a live initial access token
    /// (a single-use one is spent by this registration, in the same transaction).
    pub(crate) async fn register_dynamically(
        &self,
        initial_token: Option<&str>,
        body: &[u8],
    ) -> Result<Value, RegistrationError> {
        let s = &self.inner;
        let now = s.now();
        let gate = match initial_token {
            Some(t) => match find_initial_token(self, t, now).await? {
                Some(row) => Some(row),
                None => {
                    return Err(RegistrationError::InvalidToken(
                        "the initial access token is not valid",
                    ));
                }
            },
            None if s.config.open_registration => None,
            None => {
                return Err(RegistrationError::InvalidToken(
                    "an initial access token is required",
                ));
            }
        };
        let new = metadata::parse_request(body)?.into_new_client()?;
        check_new(&new, &dynamic_rules(&s.config))?;
        let id = new_id();
        let secret = secret_material(metadata::effective_method(&new), &id, &s.config.key_ring())?;
        let registration_token = Secret::new(random_token()?);
        let row = row_for(
            id,
            new,
            &secret,
            naive(now),
            true,
            Some(digest(registration_token.secret())),
        );
        let insert = row.clone();
        let gate_id = gate.as_ref().map(|g| (g.id.clone(), g.single_use));
        let spent =
            s.db.write(move |conn| {
                if let Some((gid, true)) = &gate_id {
                    let claimed = diesel::update(
                        initial_access_tokens::table
                            .find(gid)
                            .filter(initial_access_tokens::used_at.is_null())
                            .filter(initial_access_tokens::expires_at.gt(naive(now))),
                    )
                    .set(initial_access_tokens::used_at.eq(Some(naive(now))))
                    .execute(conn)?;
                    if claimed == 0 {
                        return Ok(true);
                    }
                }
                diesel::insert_into(clients::table)
                    .values(&insert)
                    .execute(conn)?;
                Ok(false)
            })
            .await?;
        if spent {
            return Err(RegistrationError::InvalidToken(
                "the initial access token is not valid",
            ));
        }
        self.record_audit(
            &Actor::Anonymous,
            "client.registered",
            Some(&row.id),
            json!({
                "via": "registration_endpoint",
                "initial_access_token": gate.as_ref().map(|g| g.id.clone()),
                "name": row.name,
                "redirect_uris": split_lines(&row.redirect_uris),
            }),
        )
        .await?;
        Ok(client_information(
            &s.config,
            &row,
            secret.shown.as_ref(),
            &registration_token,
        ))
    }

    /// The client `client_id` if `token` is its registration access token (RFC 7592 §2). An
    /// unknown client and a wrong token look the same.
    async fn client_by_registration_token(
        &self,
        client_id: &str,
        token: &str,
    ) -> Result<ClientRow, RegistrationError> {
        if client_id.is_empty() || client_id.len() > 64 {
            return Err(RegistrationError::InvalidToken(
                "the registration access token is not valid",
            ));
        }
        let id = client_id.to_string();
        let row = self.inner.db.run(move |conn| load(conn, &id)).await?;
        let presented = digest(token);
        match row {
            Some(r)
                if r.registration_token_hash
                    .as_deref()
                    .is_some_and(|h| ct_eq(h.as_bytes(), presented.as_bytes())) =>
            {
                Ok(r)
            }
            _ => Err(RegistrationError::InvalidToken(
                "the registration access token is not valid",
            )),
        }
    }

    /// RFC 7592 §2.1: the client's current registration.
    pub(crate) async fn read_registration(
        &self,
        client_id: &str,
        token: &str,
    ) -> Result<Value, RegistrationError> {
        let row = self.client_by_registration_token(client_id, token).await?;
        Ok(client_information(
            &self.inner.config,
            &row,
            None,
            &Secret::new(token),
        ))
    }

    /// RFC 7592 §2.2: replaces the client's metadata with the body's (an omitted value is
    /// removed), and rotates the registration access token: the old one stops working, the new
    /// one is in the answer. A change of authentication method that needs another kind of
    /// secret issues a new secret (in the answer, once).
    pub(crate) async fn update_registration(
        &self,
        client_id: &str,
        token: &str,
        body: &[u8],
    ) -> Result<Value, RegistrationError> {
        let s = &self.inner;
        let old = self.client_by_registration_token(client_id, token).await?;
        let req = metadata::parse_request(body)?;
        if req.client_id.as_deref() != Some(client_id) {
            return Err(MetadataError::metadata(
                "client_id must be present and be this client's (RFC 7592 §2.2)",
            )
            .into());
        }
        if let Some(presented) = &req.client_secret {
            let matches = match (&old.secret_hash, &old.secret_sealed) {
                (Some(h), _) => ct_eq(digest(presented).as_bytes(), h.as_bytes()),
                (None, Some(_)) => super::Client {
                    redirect_uris: Vec::new(),
                    row: old.clone(),
                }
                .jwt_secret(&s.config.key_ring())?
                .is_some_and(|cur| ct_eq(cur.secret().as_bytes(), presented.as_bytes())),
                (None, None) => false,
            };
            if !matches {
                return Err(MetadataError::metadata(
                    "client_secret does not match the current secret (RFC 7592 §2.2)",
                )
                .into());
            }
        }
        let mut new = req.into_new_client()?;
        // What an administrator decided stays: the client changes only its own metadata.
        new.first_party = old.first_party;
        new.mfa_required = old.mfa_required;
        new.pkce_required = old.pkce_required || new.public;
        new.access_token_audience = old.access_token_audience.clone();
        new.refresh_policy = RefreshPolicy::parse(&old.refresh_policy);
        check_new(&new, &dynamic_rules(&s.config))?;
        let secret = carried_secret(&old, &new, &s.config.key_ring())?;
        let registration_token = Secret::new(random_token()?);
        let mut row = row_for(
            old.id.clone(),
            new,
            &secret,
            old.created_at,
            old.dynamic_registration,
            Some(digest(registration_token.secret())),
        );
        row.disabled = old.disabled;
        let update = row.clone();
        let old_hash = old.registration_token_hash.clone();
        let n =
            s.db.write(move |conn| {
                // Only with the token presented: of two concurrent updates, one wins.
                Ok(diesel::update(
                    clients::table
                        .find(update.id.clone())
                        .filter(clients::registration_token_hash.eq(old_hash)),
                )
                .set(&update)
                .execute(conn)?)
            })
            .await?;
        if n == 0 {
            return Err(RegistrationError::InvalidToken(
                "the registration access token is not valid",
            ));
        }
        self.record_audit(
            &Actor::Anonymous,
            "client.updated",
            Some(&row.id),
            json!({
                "via": "registration_client_uri",
                "redirect_uris": split_lines(&row.redirect_uris),
                "new_secret": secret.shown.is_some(),
            }),
        )
        .await?;
        Ok(client_information(
            &s.config,
            &row,
            secret.shown.as_ref(),
            &registration_token,
        ))
    }

    /// RFC 7592 §2.3: deletes the client; its grants, codes and refresh tokens go with it, so
    /// its tokens stop working at once (at userinfo, introspection, refresh).
    pub(crate) async fn delete_registration(
        &self,
        client_id: &str,
        token: &str,
    ) -> Result<(), RegistrationError> {
        let row = self.client_by_registration_token(client_id, token).await?;
        let id = row.id.clone();
        let hash = row.registration_token_hash.clone();
        let n = self
            .inner
            .db
            .write(move |conn| {
                Ok(diesel::delete(
                    clients::table
                        .find(id)
                        .filter(clients::registration_token_hash.eq(hash)),
                )
                .execute(conn)?)
            })
            .await?;
        if n == 0 {
            return Err(RegistrationError::InvalidToken(
                "the registration access token is not valid",
            ));
        }
        self.record_audit(
            &Actor::Anonymous,
            "client.deleted",
            Some(&row.id),
            json!({ "via": "registration_client_uri", "name": row.name }),
        )
        .await?;
        Ok(())
    }
}

/// A live initial access token matching `presented`: not expired, and not spent if single-use.
async fn find_initial_token(
    p: &crate::Provider,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<InitialAccessTokenRow>, Error> {
    if presented.is_empty() || presented.len() > 200 {
        return Ok(None);
    }
    let hash = digest(presented);
    p.inner
        .db
        .run(move |conn| {
            Ok(initial_access_tokens::table
                .filter(initial_access_tokens::token_hash.eq(hash))
                .filter(initial_access_tokens::expires_at.gt(naive(now)))
                .filter(initial_access_tokens::used_at.is_null())
                .select(InitialAccessTokenRow::as_select())
                .first(conn)
                .optional()?)
        })
        .await
}

/// Administrators' operations on clients. Each needs the `iam_admin` role (or break-glass) and
/// is written to the audit log.
impl crate::Provider {
    fn admin_rules(&self) -> Rules<'_> {
        Rules {
            allow_http_loopback: true,
            public_is_native: true,
            key_algorithms: &self.inner.config.key_algorithms,
        }
    }

    async fn require_client_admin(&self, actor: &Actor) -> Result<(), Error> {
        self.require_role(actor, &[crate::accounts::desk::ROLE_IAM_ADMIN])
            .await
    }

    async fn load_client(&self, client_id: &str) -> Result<ClientRow, Error> {
        let id = client_id.to_string();
        let row = if id.is_empty() || id.len() > 64 {
            None
        } else {
            self.inner.db.run(move |conn| load(conn, &id)).await?
        };
        row.ok_or_else(|| Error::NotFound(format!("no client {client_id:?}")))
    }

    fn refuse_admin_console(client_id: &str) -> Result<(), Error> {
        if client_id == ADMIN_CONSOLE_ID {
            return Err(Error::InvalidInput(
                "the IAM admin console is managed by the provider itself".into(),
            ));
        }
        Ok(())
    }

    /// One client, by id (never its secret).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown client.
    pub async fn client(&self, client_id: &str) -> Result<ClientInfo, Error> {
        Ok(ClientInfo::from(&self.load_client(client_id).await?))
    }

    /// Changes a client's settings (see [`ClientUpdate`]). Redirect URIs and grant types are
    /// checked as at registration.
    ///
    /// # Errors
    /// [`Error::Forbidden`] without the `iam_admin` role; [`Error::NotFound`] for an unknown
    /// client; [`Error::InvalidInput`] for a value registration would refuse, or for the admin
    /// console (the provider manages it).
    pub async fn update_client(
        &self,
        actor: &Actor,
        client_id: &str,
        update: ClientUpdate,
    ) -> Result<ClientInfo, Error> {
        self.require_client_admin(actor).await?;
        Self::refuse_admin_console(client_id)?;
        let old = self.load_client(client_id).await?;
        let mut new = new_client_of(&old);
        let mut changed: Vec<&str> = Vec::new();
        if let Some(v) = update.name {
            new.name = v;
            changed.push("name");
        }
        if let Some(v) = update.redirect_uris {
            new.redirect_uris = v;
            changed.push("redirect_uris");
        }
        if let Some(v) = update.post_logout_redirect_uris {
            new.post_logout_redirect_uris = v;
            changed.push("post_logout_redirect_uris");
        }
        if let Some(v) = update.first_party {
            new.first_party = v;
            changed.push("first_party");
        }
        if let Some(v) = update.mfa_required {
            new.mfa_required = v;
            changed.push("mfa_required");
        }
        if let Some(v) = update.grant_types {
            new.grant_types = v;
            changed.push("grant_types");
        }
        if let Some(v) = update.scope {
            new.scope = v;
            changed.push("scope");
        }
        if let Some(v) = update.backchannel_logout_uri {
            new.metadata.backchannel_logout_uri = Some(v).filter(|u| !u.is_empty());
            if new.metadata.backchannel_logout_uri.is_none() {
                new.metadata.backchannel_logout_session_required = false;
            }
            changed.push("backchannel_logout_uri");
        }
        if let Some(v) = update.require_pushed_authorization_requests {
            new.metadata.require_pushed_authorization_requests = v;
            changed.push("require_pushed_authorization_requests");
        }
        check_new(&new, &self.admin_rules())?;
        let secret = SecretMaterial {
            shown: None,
            hash: old.secret_hash.clone(),
            sealed: old.secret_sealed.clone(),
        };
        let mut row = row_for(
            old.id.clone(),
            new,
            &secret,
            old.created_at,
            old.dynamic_registration,
            old.registration_token_hash.clone(),
        );
        row.disabled = old.disabled;
        if let Some(d) = update.disabled {
            row.disabled = d;
            changed.push("disabled");
        }
        let update_row = row.clone();
        self.inner
            .db
            .write(move |conn| {
                diesel::update(clients::table.find(update_row.id.clone()))
                    .set(&update_row)
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        self.record_audit(
            actor,
            "client.updated",
            Some(&row.id),
            json!({ "changed": changed }),
        )
        .await?;
        Ok(ClientInfo::from(&row))
    }

    /// Issues a confidential client a new secret (shown once, here); the old one stops working
    /// at once.
    ///
    /// # Errors
    /// [`Error::Forbidden`] without the `iam_admin` role; [`Error::NotFound`] for an unknown
    /// client; [`Error::InvalidInput`] for a client without a secret (public, `private_key_jwt`).
    pub async fn rotate_client_secret(
        &self,
        actor: &Actor,
        client_id: &str,
    ) -> Result<Secret, Error> {
        self.require_client_admin(actor).await?;
        Self::refuse_admin_console(client_id)?;
        let old = self.load_client(client_id).await?;
        let method = super::auth_method_of(&old);
        if !method.uses_secret() {
            return Err(Error::InvalidInput(format!(
                "this client authenticates with {} and has no secret",
                method.as_str()
            )));
        }
        let m = secret_material(method, &old.id, &self.inner.config.key_ring())?;
        let (hash, sealed) = (m.hash.clone(), m.sealed.clone());
        let id = old.id.clone();
        self.inner
            .db
            .write(move |conn| {
                diesel::update(clients::table.find(id))
                    .set((
                        clients::secret_hash.eq(hash),
                        clients::secret_sealed.eq(sealed),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        self.record_audit(actor, "client.secret_rotated", Some(&old.id), json!({}))
            .await?;
        m.shown
            .ok_or_else(|| Error::Internal("a secret method issued no secret".into()))
    }

    /// Deletes a client. Its grants, codes and refresh tokens go with it: its access tokens stop
    /// working at userinfo and introspection at once, its refresh tokens are gone.
    ///
    /// # Errors
    /// [`Error::Forbidden`] without the `iam_admin` role; [`Error::NotFound`] for an unknown
    /// client; [`Error::InvalidInput`] for the admin console.
    pub async fn delete_client(&self, actor: &Actor, client_id: &str) -> Result<(), Error> {
        self.require_client_admin(actor).await?;
        Self::refuse_admin_console(client_id)?;
        let old = self.load_client(client_id).await?;
        let id = old.id.clone();
        self.inner
            .db
            .write(move |conn| {
                diesel::delete(clients::table.find(id)).execute(conn)?;
                Ok(())
            })
            .await?;
        self.record_audit(
            actor,
            "client.deleted",
            Some(&old.id),
            json!({ "name": old.name }),
        )
        .await
    }

    /// Creates an initial access token for the registration endpoint (RFC 7591 §3), valid for
    /// `ttl` (at most a year), for one registration or, unless `single_use`, for any number
    /// until it expires. The token is shown once; only its digest is stored.
    ///
    /// # Errors
    /// [`Error::Forbidden`] without the `iam_admin` role; [`Error::InvalidInput`] for a zero or
    /// over-long `ttl`.
    pub async fn create_initial_access_token(
        &self,
        actor: &Actor,
        ttl: Duration,
        single_use: bool,
    ) -> Result<InitialAccessToken, Error> {
        self.require_client_admin(actor).await?;
        if ttl.is_zero() || ttl > Duration::from_secs(366 * 86400) {
            return Err(Error::InvalidInput(
                "an initial access token lives between 1 second and a year".into(),
            ));
        }
        let now = self.inner.now();
        let expires_at = now
            + chrono::Duration::from_std(ttl).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let token = Secret::new(random_token()?);
        let row = InitialAccessTokenRow {
            id: new_id(),
            token_hash: digest(token.secret()),
            created_by: actor.to_string(),
            created_at: naive(now),
            expires_at: naive(expires_at),
            single_use,
            used_at: None,
        };
        let id = row.id.clone();
        self.inner
            .db
            .write(move |conn| {
                diesel::insert_into(initial_access_tokens::table)
                    .values(&row)
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        self.record_audit(
            actor,
            "client.initial_token_created",
            Some(&id),
            json!({ "expires_at": expires_at.to_rfc3339(), "single_use": single_use }),
        )
        .await?;
        Ok(InitialAccessToken {
            id,
            token,
            expires_at,
            single_use,
        })
    }
}
