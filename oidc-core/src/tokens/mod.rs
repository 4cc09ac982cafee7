//! Grants, authorization codes, and the tokens they yield (ID tokens and RFC 9068 access tokens).

pub(crate) mod claims;
pub(crate) mod code;
pub(crate) mod consent;
pub(crate) mod exchange;
pub(crate) mod pushed;
pub(crate) mod refresh;

pub(crate) use code::{
    CodeExchange, CodeRefused, Redeemed, hold_grant, issue_code, issue_code_in, redeem_code,
};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::accounts::Account;
use crate::config::{ProviderConfig, SigningAlg};
use crate::error::Error;
use crate::ids::{ClientId, UserId};
use crate::keys::KeySet;
use crate::protocol::authorize::ClaimsRequest;
use crate::secret::b64url;
use crate::store::models::GrantRow;
use crate::store::schema::grants;
use crate::store::{Db, naive, new_id};

/// `typ` of access tokens (RFC 9068 §2.1).
pub(crate) const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of ID tokens.
pub(crate) const ID_TOKEN_TYP: &str = "JWT";

/// Everything a code carries from the authorization to the token request.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub grant_id: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    /// The request's `claims` parameter (OIDC Core §5.5), kept with the grant for userinfo.
    pub claims: Option<ClaimsRequest>,
}

fn claims_column(claims: Option<&ClaimsRequest>) -> Result<Option<String>, Error> {
    claims
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Internal(e.to_string()))
}

pub(crate) fn parse_claims_column(column: Option<String>) -> Option<ClaimsRequest> {
    // Written by `claims_column` from a parsed request: unreadable only if tampered with, and
    // then no individual claim is released.
    column.and_then(|c| serde_json::from_str(&c).ok())
}

/// Is the grant still in force?
pub(crate) async fn grant_active(db: &Db, grant_id: &str) -> Result<bool, Error> {
    let id = grant_id.to_string();
    db.run(move |conn| {
        let revoked: Option<Option<chrono::NaiveDateTime>> = grants::table
            .find(id)
            .select(grants::revoked_at)
            .first(conn)
            .optional()?;
        Ok(matches!(revoked, Some(None)))
    })
    .await
}

/// The grant's `claims` request when the grant is still in force; `None` when it is revoked
/// or unknown (userinfo then refuses the token).
pub(crate) async fn active_grant_claims(
    db: &Db,
    grant_id: &str,
) -> Result<Option<Option<ClaimsRequest>>, Error> {
    let id = grant_id.to_string();
    let row: Option<(Option<chrono::NaiveDateTime>, Option<String>)> = db
        .run(move |conn| {
            Ok(grants::table
                .find(id)
                .select((grants::revoked_at, grants::claims))
                .first(conn)
                .optional()?)
        })
        .await?;
    Ok(match row {
        Some((None, claims)) => Some(parse_claims_column(claims)),
        _ => None,
    })
}

/// Revokes a grant (a refresh token family and every access token it issued).
pub(crate) async fn revoke_grant(db: &Db, grant_id: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let id = grant_id.to_string();
    db.run(move |conn| {
        diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
            .set(grants::revoked_at.eq(naive(now)))
            .execute(conn)?;
        Ok(())
    })
    .await
}

/// The user facts a token may carry.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub subject: String,
    /// The claims about the person (see [`claims::values_of`]), released only as asked.
    pub claims: Map<String, Value>,
    /// The claims hook's answer for this release (never a protected claim), added last.
    pub extra: Map<String, Value>,
}

impl Subject {
    /// The facts of an account, without the claims hook's.
    pub(crate) fn of(user: &Account) -> Subject {
        Subject {
            subject: user.subject.clone(),
            claims: claims::values_of(user),
            extra: Map::new(),
        }
    }

    /// The facts of an account with the claims hook's answer for `client_id`, `scope` and
    /// `target` (asked only when the scope has `openid`: nothing else releases claims about the
    /// person). A failing hook adds nothing (see [`crate::claims`]).
    pub(crate) async fn with_hook(
        inner: &crate::provider::Inner,
        user: &Account,
        client_id: &str,
        scope: &str,
        target: crate::claims::ClaimsTarget,
    ) -> Subject {
        let mut subject = Subject::of(user);
        let scopes: Vec<String> = scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(source) = &inner.claims_source
            && scopes.iter().any(|s| s == "openid")
        {
            let account = crate::accounts::User::from(user);
            let context = crate::claims::ClaimsContext {
                user: &account,
                client_id,
                scopes: &scopes,
                target,
            };
            subject.extra = crate::claims::ask(source.as_ref(), &context).await;
        }
        subject
    }

    /// Adds the hook's claims to `out`, over the provider's scope claims but never over a
    /// protected one.
    pub(crate) fn add_extra(&self, out: &mut Map<String, Value>) {
        for (k, v) in &self.extra {
            if !crate::claims::PROTECTED_CLAIMS.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
}

/// What the token endpoint returns (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Claims of our access tokens (RFC 9068 §2.2), as read back by userinfo.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Value,
    pub exp: i64,
    pub scope: String,
    /// The grant this token came from; revocation is checked against it.
    pub gid: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// When the person authenticated (RFC 9068 §2.2.1); absent from client-only tokens.
    #[serde(default)]
    pub auth_time: i64,
    /// How they authenticated, when known.
    #[serde(default)]
    pub acr: Option<String>,
    /// When it was issued.
    #[serde(default)]
    pub iat: i64,
    /// Its unique id.
    #[serde(default)]
    pub jti: Option<String>,
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the hash of the token's ASCII, base64url, with
/// the hash of the ID token's `alg`: SHA-256 for RS256 and ES256, SHA-512 for EdDSA over Ed25519
/// (as certified relying-party libraries, the openidconnect crate among them, compute it).
pub(crate) fn at_hash(access_token: &str, id_token_alg: SigningAlg) -> String {
    match id_token_alg {
        SigningAlg::EdDSA => b64url(&openssl::sha::sha512(access_token.as_bytes())[..32]),
        _ => b64url(&openssl::sha::sha256(access_token.as_bytes())[..16]),
    }
}

/// Mints the access token and ID token for a redeemed code.
pub(crate) fn mint(
    config: &ProviderConfig,
    keys: &KeySet,
    grant: &CodeGrant,
    subject: &Subject,
    audience: &str,
    id_token_alg: SigningAlg,
    now: DateTime<Utc>,
) -> Result<TokenResponse, Error> {
    let iat = now.timestamp();
    let at_ttl = config.access_token_ttl.as_secs();
    let mut access = json!({
        "iss": config.issuer(),
        "sub": subject.subject,
        "aud": audience,
        "client_id": grant.client_id,
        "iat": iat,
        "exp": iat + at_ttl as i64,
        "jti": uuid::Uuid::new_v4().to_string(),
        "scope": grant.scope,
        "auth_time": grant.auth_time.timestamp(),
        "sid": grant.session_id,
        "gid": grant.grant_id,
    });
    // RFC 9068 §2.2.1: resource servers (the admin API among them) judge the authentication.
    if let Some(acr) = &grant.acr {
        access["acr"] = json!(acr);
    }
    let access_token = keys.sign(
        config.access_token_alg,
        ACCESS_TOKEN_TYP,
        &to_bytes(&access)?,
    )?;

    let mut id = Map::new();
    id.insert("iss".into(), json!(config.issuer()));
    id.insert("sub".into(), json!(subject.subject));
    id.insert("aud".into(), json!(grant.client_id));
    id.insert("azp".into(), json!(grant.client_id));
    id.insert("iat".into(), json!(iat));
    id.insert(
        "exp".into(),
        json!(iat + config.id_token_ttl.as_secs() as i64),
    );
    id.insert("auth_time".into(), json!(grant.auth_time.timestamp()));
    if let Some(n) = &grant.nonce {
        id.insert("nonce".into(), json!(n));
    }
    id.insert(
        "at_hash".into(),
        json!(at_hash(&access_token, id_token_alg)),
    );
    id.insert("sid".into(), json!(grant.session_id));
    if !grant.amr.is_empty() {
        id.insert("amr".into(), json!(grant.amr));
    }
    if let Some(acr) = &grant.acr {
        id.insert("acr".into(), json!(acr));
    }
    // OIDC Core §5.5: claims asked for in the ID token itself (scope claims go to userinfo,
    // §5.4, since an access token is always issued).
    if let Some(c) = &grant.claims {
        for (k, v) in claims::release(&subject.claims, &[], c.id_token.iter()) {
            id.insert(k, v);
        }
    }
    // The claims hook's, last (crate::claims).
    subject.add_extra(&mut id);
    // OIDC Core §12.2: an ID token from a refresh carries no nonce (the grant has none then);
    // only grants with the openid scope get one at all.
    let id_token = if grant.scope.split(' ').any(|s| s == "openid") {
        Some(keys.sign(id_token_alg, ID_TOKEN_TYP, &to_bytes(&Value::Object(id))?)?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: at_ttl,
        id_token,
        refresh_token: None,
        scope: grant.scope.clone(),
    })
}

/// Mints an application-only access token for `client_credentials` (RFC 9068 §2.2: `sub` is the
/// client). Its grant names no user, so userinfo refuses it.
pub(crate) fn mint_for_client(
    config: &ProviderConfig,
    keys: &KeySet,
    client_id: &str,
    grant_id: &str,
    scope: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<TokenResponse, Error> {
    let iat = now.timestamp();
    let at_ttl = config.access_token_ttl.as_secs();
    let access = json!({
        "iss": config.issuer(),
        "sub": client_id,
        "aud": audience,
        "client_id": client_id,
        "iat": iat,
        "exp": iat + at_ttl as i64,
        "jti": uuid::Uuid::new_v4().to_string(),
        "scope": scope,
        "gid": grant_id,
    });
    let access_token = keys.sign(
        config.access_token_alg,
        ACCESS_TOKEN_TYP,
        &to_bytes(&access)?,
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: at_ttl,
        id_token: None,
        refresh_token: None,
        scope: scope.to_string(),
    })
}

/// The grant of a client's `client_credentials` tokens (no user), so that they can be revoked like
/// others: the client's newest unrevoked grant when it is younger than `window`, else a new one.
///
/// Sharing turns a write per token into a read (one write per client per window), which is what
/// lets the token endpoint serve machine clients at the rate they ask. It is safe with the purge
/// when `window` is the code lifetime: a grant is kept for the code lifetime plus the token
/// lifetime after its creation (see `housekeeping`), so every token issued within the window
/// expires before its grant can go. The price: revoking one such token (RFC 7009) revokes the
/// client's other tokens of that window too; the client simply asks for a new one.
/// `scope` is what the client is registered for (each token carries its own).
pub(crate) async fn client_grant(
    db: &Db,
    client_id: &str,
    scope: &str,
    now: DateTime<Utc>,
    window: std::time::Duration,
) -> Result<String, Error> {
    let since = naive(now - chrono::Duration::from_std(window).unwrap_or_default());
    let client = client_id.to_string();
    let reusable: Option<String> = db
        .run(move |conn| {
            Ok(grants::table
                .select(grants::id)
                .filter(grants::client_id.eq(&client))
                .filter(grants::created_at.gt(since))
                .filter(grants::user_id.is_null())
                .filter(grants::revoked_at.is_null())
                .order(grants::created_at.desc())
                .first(conn)
                .optional()?)
        })
        .await?;
    if let Some(id) = reusable {
        return Ok(id);
    }
    let grant = GrantRow {
        id: new_id(),
        client_id: client_id.to_string(),
        user_id: None,
        session_id: None,
        scope: scope.to_string(),
        created_at: naive(now),
        revoked_at: None,
        claims: None,
        offline: false,
    };
    let id = grant.id.clone();
    db.write(move |conn| {
        diesel::insert_into(grants::table)
            .values(&grant)
            .execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(id)
}

fn to_bytes(v: &Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(e.to_string()))
}

/// Why an access token was refused (the description goes into `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRejected(pub &'static str);

/// Reads one of our access tokens whatever its audience or expiry (revocation and introspection
/// judge those themselves): signature by our key, `typ` at+jwt, our issuer. `None` otherwise.
pub(crate) fn decode_access_token(
    config: &ProviderConfig,
    keys: &KeySet,
    token: &str,
) -> Option<AccessClaims> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let (payload, header) = keys.verify(token).ok()?;
    let typ = header.token_type().unwrap_or("");
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return None;
    }
    let claims: AccessClaims = serde_json::from_slice(&payload).ok()?;
    (claims.iss == config.issuer()).then_some(claims)
}

/// Verifies one of our access tokens for `audience`: signature by our key, `typ` at+jwt (so an ID
/// token cannot stand in for it, RFC 9068 §4), issuer, audience, expiry.
pub(crate) fn verify_access_token(
    config: &ProviderConfig,
    keys: &KeySet,
    token: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<AccessClaims, TokenRejected> {
    let (payload, header) = keys
        .verify(token)
        .map_err(|_| TokenRejected("the token signature is invalid"))?;
    let typ = header.token_type().unwrap_or("");
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(TokenRejected("the token is not an access token"));
    }
    let claims: AccessClaims = serde_json::from_slice(&payload)
        .map_err(|_| TokenRejected("the token claims are malformed"))?;
    if claims.iss != config.issuer() {
        return Err(TokenRejected("the token was issued by someone else"));
    }
    let aud_ok = match &claims.aud {
        Value::String(a) => a == audience,
        Value::Array(v) => v.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(TokenRejected("the token is not meant for this resource"));
    }
    if claims.exp <= now.timestamp() {
        return Err(TokenRejected("the token has expired"));
    }
    Ok(claims)
}

/// What an `id_token_hint` tells once verified: who, for which clients, in which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdTokenHint {
    pub sub: String,
    pub aud: Vec<String>,
    pub sid: Option<String>,
}

/// The longest `id_token_hint` worth parsing; ours are well under 2 KiB.
const MAX_HINT_LEN: usize = 8 * 1024;

/// Verifies an ID token we issued, presented back as `id_token_hint` (RP-Initiated Logout 1.0
/// §2, OIDC Core §3.1.2.1): signature by one of our keys, `typ` JWT (an access token cannot stand
/// in), our issuer, an audience. Expiry is deliberately not checked: §4 asks the OP to accept a
/// hint whose `exp` has passed, because people log out long after their ID token expired.
pub(crate) fn verify_id_token_hint(
    config: &ProviderConfig,
    keys: &KeySet,
    token: &str,
) -> Result<IdTokenHint, TokenRejected> {
    if token.len() > MAX_HINT_LEN {
        return Err(TokenRejected("the ID token is too long"));
    }
    let (payload, header) = keys
        .verify(token)
        .map_err(|_| TokenRejected("the ID token signature is invalid"))?;
    if header.token_type() != Some(ID_TOKEN_TYP) {
        return Err(TokenRejected("the token is not an ID token"));
    }
    #[derive(Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        aud: Value,
        sid: Option<String>,
    }
    let claims: Claims = serde_json::from_slice(&payload)
        .map_err(|_| TokenRejected("the ID token claims are malformed"))?;
    if claims.iss != config.issuer() {
        return Err(TokenRejected("the ID token was issued by someone else"));
    }
    let aud: Vec<String> = match claims.aud {
        Value::String(a) => vec![a],
        Value::Array(v) => v
            .into_iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if aud.is_empty() {
        return Err(TokenRejected("the ID token names no audience"));
    }
    Ok(IdTokenHint {
        sub: claims.sub,
        aud,
        sid: claims.sid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_oidc_core_example() {
        // OIDC Core Appendix A.3/A.4 uses RS256; this is the at_hash of its example access token
        // "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" (A.3).
        assert_eq!(
            at_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                SigningAlg::RS256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    fn config() -> ProviderConfig {
        ProviderConfig::builder("https://iam.example.org")
            .key_encryption_key([1; 32])
            .build()
            .unwrap()
    }

    fn signed(keys: &KeySet, typ: &str, claims: Value) -> String {
        keys.sign(SigningAlg::RS256, typ, &to_bytes(&claims).unwrap())
            .unwrap()
    }

    #[test]
    fn rp_initiated_logout_4_an_expired_id_token_hint_is_accepted() {
        let keys = crate::keys::test_keyset();
        let hint = signed(
            &keys,
            ID_TOKEN_TYP,
            json!({"iss": "https://iam.example.org", "sub": "s-1", "aud": "c-1",
                   "exp": 1, "iat": 0, "sid": "sid-1"}),
        );
        assert_eq!(
            verify_id_token_hint(&config(), &keys, &hint),
            Ok(IdTokenHint {
                sub: "s-1".into(),
                aud: vec!["c-1".into()],
                sid: Some("sid-1".into()),
            })
        );
    }

    #[test]
    fn id_token_hint_refuses_access_tokens_foreign_issuers_tampering_and_junk() {
        let keys = crate::keys::test_keyset();
        let c = config();
        let claims = json!({"iss": "https://iam.example.org", "sub": "s", "aud": ["c"]});
        let access = signed(&keys, ACCESS_TOKEN_TYP, claims.clone());
        assert!(verify_id_token_hint(&c, &keys, &access).is_err());
        let foreign = signed(
            &keys,
            ID_TOKEN_TYP,
            json!({"iss": "https://evil.example", "sub": "s", "aud": "c"}),
        );
        assert!(verify_id_token_hint(&c, &keys, &foreign).is_err());
        let no_aud = signed(
            &keys,
            ID_TOKEN_TYP,
            json!({"iss": "https://iam.example.org", "sub": "s", "aud": []}),
        );
        assert!(verify_id_token_hint(&c, &keys, &no_aud).is_err());
        let good = signed(&keys, ID_TOKEN_TYP, claims);
        assert!(verify_id_token_hint(&c, &keys, &good).is_ok());
        // Flip one character of the signature.
        let mut tampered = good.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(verify_id_token_hint(&c, &keys, &tampered).is_err());
        // Another key set (another provider with the same issuer name) signed it.
        let other = crate::keys::test_keyset();
        assert!(verify_id_token_hint(&c, &other, &good).is_err());
        assert!(verify_id_token_hint(&c, &keys, "not.a.jwt").is_err());
        assert!(verify_id_token_hint(&c, &keys, &"a".repeat(9000)).is_err());
    }
}
