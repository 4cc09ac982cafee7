//! Clients as requests see them: loaded by id, with the accessors the protocol needs, and their
//! web origins for CORS.

use diesel::prelude::*;
use url::Url;

use super::{ApplicationType, AuthMethod, auth_method_of, sealed_aad, split_lines};
use crate::error::Error;
use crate::secret::{Secret, ct_eq, digest};
use crate::store::Db;
use crate::store::models::ClientRow;
use crate::store::schema::clients;

/// A client loaded for a request, with what the protocol needs.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub row: ClientRow,
    pub redirect_uris: Vec<String>,
}

// The metadata accessors are the seams of JWT client authentication, PAR and back-channel
// logout, which read what registration stores.
#[allow(dead_code)]
impl Client {
    pub(crate) fn id(&self) -> &str {
        &self.row.id
    }
    /// Where this client may ask to be sent after RP-initiated logout (exact match only).
    pub(crate) fn post_logout_redirect_uris(&self) -> Vec<String> {
        split_lines(&self.row.post_logout_redirect_uris)
    }
    /// Whether the client is registered for this grant type.
    pub(crate) fn allows_grant(&self, grant_type: &str) -> bool {
        self.row.grant_types.split(' ').any(|g| g == grant_type)
    }
    /// Constant-time check of a presented secret against the stored digest.
    pub(crate) fn secret_matches(&self, presented: &str) -> bool {
        match &self.row.secret_hash {
            Some(h) => ct_eq(digest(presented).as_bytes(), h.as_bytes()),
            None => false,
        }
    }
    /// The registered `token_endpoint_auth_method` (RFC 7591 §2).
    pub(crate) fn token_endpoint_auth_method(&self) -> AuthMethod {
        auth_method_of(&self.row)
    }
    /// `native` per its `application_type`, or a public client (whose loopback redirect URIs
    /// match any port, RFC 8252 §7.3).
    pub(crate) fn is_native(&self) -> bool {
        self.row.is_public || self.row.application_type == ApplicationType::Native.as_str()
    }
    /// The client's JWK Set by value (`jwks`, JSON text), for `private_key_jwt`.
    pub(crate) fn jwks(&self) -> Option<&str> {
        self.row.jwks.as_deref()
    }
    /// Where the client publishes its JWK Set (`jwks_uri`), for `private_key_jwt`.
    pub(crate) fn jwks_uri(&self) -> Option<&str> {
        self.row.jwks_uri.as_deref()
    }
    /// The `client_secret_jwt` secret, opened from its sealed form; `None` for other methods.
    ///
    /// # Errors
    /// [`Error::Crypto`] when it opens under no configured key-encryption key.
    pub(crate) fn jwt_secret(
        &self,
        ring: &crate::secret::KeyRing,
    ) -> Result<Option<Secret>, Error> {
        let Some(sealed) = &self.row.secret_sealed else {
            return Ok(None);
        };
        let plain = ring.open(sealed, &sealed_aad(&self.row.id))?;
        let text = String::from_utf8(plain)
            .map_err(|_| Error::Crypto("a sealed client secret is not UTF-8".into()))?;
        Ok(Some(Secret::new(text)))
    }
    /// OpenID Connect Back-Channel Logout 1.0: where to send logout tokens, and whether they
    /// must carry `sid`.
    pub(crate) fn backchannel_logout(&self) -> Option<(&str, bool)> {
        self.row
            .backchannel_logout_uri
            .as_deref()
            .map(|u| (u, self.row.backchannel_logout_session_required))
    }
    /// RFC 9126 §6: authorization requests of this client must come through PAR.
    pub(crate) fn requires_par(&self) -> bool {
        self.row.require_pushed_authorization_requests
    }
    /// The web origins a browser may call the token, userinfo and revocation endpoints from on
    /// this client's behalf: the origins of its http(s) redirect URIs.
    pub(crate) fn web_origins(&self) -> Vec<String> {
        web_origins_of(&self.redirect_uris)
    }
}

/// The ASCII serialisation of the origins (RFC 6454 §6.2) of the http(s) URIs in `uris`.
pub(crate) fn web_origins_of(uris: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in uris {
        let Ok(url) = Url::parse(u) else { continue };
        if !matches!(url.scheme(), "https" | "http") {
            continue;
        }
        let origin = url.origin().ascii_serialization();
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    out
}

/// Whether any enabled client has `origin` among its [web origins](Client::web_origins): a CORS
/// preflight carries no client, so this is all it can be checked against.
pub(crate) async fn any_client_has_origin(db: &Db, origin: &str) -> Result<bool, Error> {
    let Ok(url) = Url::parse(origin) else {
        return Ok(false);
    };
    let Some(host) = url.host_str().map(str::to_string) else {
        return Ok(false);
    };
    let origin = origin.to_string();
    // The host narrows the rows in SQL (LIKE, with its wildcards escaped); the exact origin rule
    // is applied here.
    let pattern = format!(
        "%{}%",
        host.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    db.run(move |conn| {
        let candidates: Vec<String> = clients::table
            .filter(clients::disabled.eq(false))
            .filter(clients::redirect_uris.like(pattern).escape('\\'))
            .select(clients::redirect_uris)
            .limit(1000)
            .load(conn)?;
        Ok(candidates
            .iter()
            .any(|r| web_origins_of(&split_lines(r)).contains(&origin)))
    })
    .await
}

pub(crate) async fn find(db: &Db, client_id: &str) -> Result<Option<Client>, Error> {
    // Ids are UUIDs; refuse anything else without a query (and without echoing it anywhere).
    if client_id.is_empty() || client_id.len() > 64 {
        return Ok(None);
    }
    let id = client_id.to_string();
    let row = db
        .run(move |conn| {
            Ok(clients::table
                .find(id)
                .filter(clients::disabled.eq(false))
                .select(ClientRow::as_select())
                .first(conn)
                .optional()?)
        })
        .await?;
    Ok(row.map(|row| Client {
        redirect_uris: split_lines(&row.redirect_uris),
        row,
    }))
}
