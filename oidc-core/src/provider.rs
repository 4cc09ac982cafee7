//! The provider: configuration, database and plug-ins assembled, with its router and the admin
//! operations as library calls.

use std::collections::HashMap;
use std::sync::Arc;

use crate::accounts::{self, NewUser, User};
use crate::claims::ClaimsSource;
use crate::clients::{self, ClientInfo, NewClient, RegisteredClient};
use crate::clock::{Clock, SystemClock};
use crate::config::{ProviderConfig, SigningAlg};
use crate::error::Error;
use crate::housekeeping::PurgeReport;
use crate::keys::{KeyInfo, KeySet, Trigger};
use crate::mfa::tokens::{TokenStore, TotpFactor};
use crate::mfa::{ImportReport, SecondFactor, SoftTokenEnrolment, TokenInfo, TokenState};
use crate::notify::{Email, Mailer};
use crate::store::Db;

pub(crate) struct Inner {
    pub config: ProviderConfig,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub keys: KeySet,
    /// The discovery document, serialised once.
    pub discovery: Arc<[u8]>,
    /// The `aud` of access tokens for the provider's own userinfo resource.
    pub userinfo_audience: String,
    /// The `aud` of the admin console's access tokens: the admin API.
    pub admin_audience: String,
    /// Second factors by kind; the built-in `totp` is always there.
    pub factors: HashMap<String, Arc<dyn SecondFactor>>,
    /// The provider's own OATH tokens.
    pub tokens: Arc<TokenStore>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// The claims hook, if the developer registered one.
    pub claims_source: Option<Arc<dyn ClaimsSource>>,
    /// Tells the background tasks to stop (they also stop when this is dropped with the
    /// provider).
    pub background: tokio::sync::watch::Sender<bool>,
    /// What this replica served (see `metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The guarded HTTP client for URLs clients register (see `outbound`).
    pub outbound: crate::outbound::Outbound,
    /// Keys fetched from clients' `jwks_uri` (see `clients::assertion`).
    pub client_keys: crate::clients::assertion::KeyCache,
}

impl Inner {
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// An OpenID Connect provider.
///
/// Build one with [`Provider::builder`], then serve [`Provider::router`] (alone, or nested in your
/// own axum app under the issuer's path). Cloning is cheap: clones share everything.
///
/// ```no_run
/// # async fn demo() -> Result<(), oidc_core::Error> {
/// use oidc_core::{NewClient, NewUser, Provider, ProviderConfig};
///
/// let config = ProviderConfig::builder("http://127.0.0.1:8080").build()?;
/// let provider = Provider::builder(config, "sqlite://data/iam.db").build().await?;
/// let client = provider
///     .register_client(NewClient::new("My app", ["http://127.0.0.1:3000/callback"]).first_party(true))
///     .await?;
/// println!("client_id {}", client.client.client_id);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|e| oidc_core::Error::Internal(e.to_string()))?;
/// axum::serve(listener, provider.router()).await.map_err(|e| oidc_core::Error::Internal(e.to_string()))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Provider {
    pub(crate) inner: Arc<Inner>,
}

/// Assembles a [`Provider`] from configuration, a database URL and plug-ins.
pub struct ProviderBuilder {
    config: ProviderConfig,
    database_url: String,
    clock: Arc<dyn Clock>,
    factors: Vec<Arc<dyn SecondFactor>>,
    mailer: Option<Arc<dyn Mailer>>,
    claims_source: Option<Arc<dyn ClaimsSource>>,
    background_tasks: bool,
}

impl ProviderBuilder {
    /// Replaces the clock (tests move time with their own).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the mailer (Welcome emails, one-time codes, notifications). Without one, messages are
    /// not sent and a warning is logged for each.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Registers the claims hook: a source of extra claims about a person (roles from another
    /// system, for example) for ID tokens and userinfo. Without one, only the provider's own
    /// claims are released. A later call replaces an earlier one. What the provider does with
    /// the answer, and with a failure, is in [`claims`](crate::claims).
    pub fn claims_source(mut self, source: Arc<dyn ClaimsSource>) -> Self {
        self.claims_source = Some(source);
        self
    }

    /// Whether `build()` starts the background tasks (default true): every
    /// [`key_refresh_interval`](crate::ProviderConfigBuilder::key_refresh_interval) (30 s) a
    /// check for keys rotated by another replica and for a scheduled rotation that is due; every
    /// [`housekeeping_interval`](crate::ProviderConfigBuilder::housekeeping_interval) (1 h) a
    /// purge of expired rows; every
    /// [`backchannel_logout_poll_interval`](crate::ProviderConfigBuilder::backchannel_logout_poll_interval)
    /// (2 s) the delivery of back-channel logout tokens that are due. The first run of each comes
    /// one interval after start. A one-shot administrative process can turn them off; the calls
    /// behind them ([`Provider::refresh_keys`], [`Provider::rotate_due_keys`],
    /// [`Provider::purge_expired`], [`Provider::deliver_backchannel_logouts`]) work either way
    /// (deliveries recorded by such a process are sent by the serving replicas).
    pub fn background_tasks(mut self, run: bool) -> Self {
        self.background_tasks = run;
        self
    }

    /// Registers a second factor. An account uses the factor its token names, or the configured
    /// [fallback factor](crate::ProviderConfigBuilder::fallback_factor). The built-in `totp`
    /// factor is always registered; registering another factor of the same kind replaces it.
    pub fn second_factor(mut self, factor: Arc<dyn SecondFactor>) -> Self {
        self.factors.push(factor);
        self
    }

    /// Opens the database (running pending migrations), loads or generates the signing keys, and
    /// precomputes the discovery and JWKS documents.
    ///
    /// # Errors
    /// [`Error::Config`] for a database URL that is neither `sqlite://` nor `postgres://`;
    /// [`Error::Database`] when the database cannot be opened or migrated; [`Error::Crypto`] when
    /// stored keys cannot be decrypted with the configured key-encryption key; [`Error::Config`]
    /// when the database's secrets are sealed under another key-encryption key.
    pub async fn build(mut self) -> Result<Provider, Error> {
        if self.config.uses_development_key() {
            tracing::warn!(
                "USING THE BUILT-IN DEVELOPMENT KEY-ENCRYPTION KEY: signing keys are not protected at rest. \
                 Allowed only because the issuer is loopback; set a key-encryption key for any real deployment."
            );
        }
        let db = Db::open(&self.database_url).await?;
        // Before anything opens a sealed value: a wrong key-encryption key stops the start here.
        if let Some(audit_key) = crate::kek::open_at_rest(&db, &self.config).await? {
            self.config.audit_key = audit_key;
        }
        let keys = KeySet::load(&db, &self.config, self.clock.clone()).await?;
        let discovery = serde_json::to_vec(&crate::protocol::discovery::metadata(&self.config))
            .map_err(|e| Error::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(accounts::password::warm_up).await?;
        let userinfo_audience = self.config.endpoint(crate::http::paths::USERINFO);
        let admin_audience = self.config.endpoint(crate::http::paths::ADMIN_API);
        crate::clients::ensure_admin_console(
            &db,
            vec![
                self.config.endpoint(crate::http::paths::ADMIN_CALLBACK),
                // Admin tools on the operator's machine (RFC 8252 §7.3: any port).
                "http://127.0.0.1/callback".into(),
                "http://[::1]/callback".into(),
            ],
            self.clock.now(),
        )
        .await?;
        let tokens = Arc::new(TokenStore {
            db: db.clone(),
            kek: self.config.key_ring(),
            clock: self.clock.clone(),
            issuer_label: self.config.service_name.clone(),
            activation_ttl: self.config.soft_token_activation_ttl,
        });
        let mut factors: HashMap<String, Arc<dyn SecondFactor>> = HashMap::new();
        factors.insert(
            crate::mfa::TOTP.into(),
            Arc::new(TotpFactor {
                store: tokens.clone(),
            }),
        );
        for f in self.factors {
            factors.insert(f.kind().to_string(), f);
        }
        if let Some(fallback) = &self.config.fallback_factor
            && !factors.contains_key(fallback)
        {
            return Err(Error::Config(format!(
                "fallback factor {fallback:?} is not registered (registered: {})",
                factors.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let outbound = crate::outbound::Outbound::new(
            self.config.is_loopback_http(),
            self.config.outbound_allowed_networks.clone(),
        )?;
        let client_keys = crate::clients::assertion::KeyCache::new(outbound.clone());
        let (background, stop) = tokio::sync::watch::channel(false);
        let inner = Arc::new(Inner {
            config: self.config,
            db,
            clock: self.clock,
            keys,
            discovery: discovery.into(),
            userinfo_audience,
            admin_audience,
            factors,
            tokens,
            mailer: self.mailer.unwrap_or_else(|| Arc::new(NoMailer)),
            claims_source: self.claims_source,
            background,
            metrics: crate::metrics::Metrics::default(),
            outbound,
            client_keys,
        });
        if self.background_tasks {
            start_background_tasks(&inner, stop);
        }
        Ok(Provider { inner })
    }
}

/// Starts the scheduler: key refresh and scheduled rotation every `key_refresh_interval`, the
/// purge every `housekeeping_interval`. Each task holds only a weak reference to the provider, so
/// it ends when the provider (every clone, and every router made from it) is dropped, or when
/// [`Provider::stop_background_tasks`] is called.
fn start_background_tasks(inner: &Arc<Inner>, stop: tokio::sync::watch::Receiver<bool>) {
    let every = inner.config.key_refresh_interval;
    spawn_periodic(Arc::downgrade(inner), stop.clone(), every, |inner| {
        Box::pin(async move {
            match inner.keys.refresh().await {
                Ok(true) => tracing::info!("signing keys changed on another replica: reloaded"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not check the signing keys for changes")
                }
            }
            if inner.config.key_rotation_interval.is_some()
                && let Err(e) = rotate(&inner, None, RotationCause::Schedule).await
            {
                tracing::error!(error = %e, "scheduled key rotation failed");
            }
        })
    });
    let every = inner.config.backchannel_poll_interval;
    spawn_periodic(Arc::downgrade(inner), stop.clone(), every, |inner| {
        Box::pin(async move {
            if let Err(e) = crate::sessions::backchannel::deliver_due(&inner).await {
                tracing::error!(error = %e, "back-channel logout delivery failed");
            }
        })
    });
    if let Some(every) = inner.config.housekeeping_interval {
        spawn_periodic(Arc::downgrade(inner), stop, every, |inner| {
            Box::pin(async move {
                let now = inner.now();
                if let Err(e) =
                    crate::housekeeping::purge_expired(&inner.db, &inner.config, now).await
                {
                    tracing::error!(error = %e, "scheduled purge failed");
                }
            })
        });
    }
}

type TaskFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

fn spawn_periodic(
    inner: std::sync::Weak<Inner>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    every: std::time::Duration,
    work: fn(Arc<Inner>) -> TaskFuture,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: skip it, so that a short-lived process never runs the
        // scheduled work.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                    continue;
                }
            }
            if *stop.borrow() {
                break;
            }
            let Some(inner) = inner.upgrade() else { break };
            work(inner).await;
        }
    });
}

/// What asked for a rotation (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RotationCause {
    Request,
    Schedule,
}

/// Rotates the keys of `alg` (or of every configured algorithm): by request unless a key is
/// already waiting; by schedule where due. Records each new key in the audit log.
async fn rotate(
    inner: &Inner,
    alg: Option<SigningAlg>,
    cause: RotationCause,
) -> Result<Vec<crate::keys::Published>, Error> {
    let algs: Vec<SigningAlg> = match alg {
        Some(a) if inner.config.key_algorithms.contains(&a) => vec![a],
        Some(a) => {
            return Err(Error::InvalidInput(format!(
                "{a} is not among the configured key algorithms ({})",
                inner
                    .config
                    .key_algorithms
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => inner.config.key_algorithms.clone(),
    };
    let publish_delay = chrono::Duration::from_std(inner.config.key_publish_delay)
        .map_err(|e| Error::Config(e.to_string()))?;
    let (algs, trigger) = match cause {
        RotationCause::Request => (algs, Trigger::Request),
        RotationCause::Schedule => {
            let Some(interval) = inner.config.key_rotation_interval else {
                return Ok(Vec::new());
            };
            let interval =
                chrono::Duration::from_std(interval).map_err(|e| Error::Config(e.to_string()))?;
            (
                inner.keys.due(&algs, interval, publish_delay),
                Trigger::Schedule(interval),
            )
        }
    };
    let published = inner.keys.rotate(&algs, trigger, publish_delay).await?;
    for p in &published {
        crate::audit::record(
            &inner.db,
            &inner.config.audit_key,
            inner.now(),
            &crate::audit::Actor::System,
            "keys.rotated",
            None,
            serde_json::json!({
                "kid": p.kid,
                "alg": p.alg.as_str(),
                "activates_at": p.activates_at.to_rfc3339(),
                "cause": if cause == RotationCause::Schedule { "schedule" } else { "request" },
            }),
        )
        .await?;
    }
    Ok(published)
}

impl Provider {
    /// Starts building a provider for `config` over the database at `database_url`
    /// (`sqlite://PATH` or `postgres://…`).
    pub fn builder(config: ProviderConfig, database_url: impl Into<String>) -> ProviderBuilder {
        ProviderBuilder {
            config,
            database_url: database_url.into(),
            clock: Arc::new(SystemClock),
            factors: Vec::new(),
            mailer: None,
            claims_source: None,
            background_tasks: true,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// The axum router with every protocol endpoint and sign-in page. Nest it under the issuer's
    /// path if the issuer has one.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.inner.clone())
    }

    /// The Prometheus metrics of this replica in the text exposition format: requests and
    /// latency per endpoint, sign-in outcomes, lockouts, tokens issued, and the database pool.
    /// Serve it on an address of its own with [`Provider::metrics_router`].
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render(self.inner.db.pool_state())
    }

    /// A router with `GET /metrics` (Prometheus text format). Serve it on a separate, private
    /// address: the figures tell an attacker how their attempts fare.
    ///
    /// ```no_run
    /// # async fn demo(provider: oidc_core::Provider) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
    /// axum::serve(listener, provider.metrics_router()).await
    /// # }
    /// ```
    pub fn metrics_router(&self) -> axum::Router {
        let provider = self.clone();
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    provider.render_metrics(),
                )
            }),
        )
    }

    /// Creates an account.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed username or email or a password that breaks the
    /// rules; [`Error::Conflict`] when the username is taken.
    pub async fn create_user(&self, user: NewUser) -> Result<User, Error> {
        accounts::create(
            &self.inner.db,
            &self.inner.config.password_policy,
            user,
            self.inner.now(),
        )
        .await
    }

    /// Every account, by username.
    pub async fn list_users(&self) -> Result<Vec<User>, Error> {
        accounts::list(&self.inner.db).await
    }

    /// Registers a relying party. The returned secret is the only copy.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad name or redirect URI (http is allowed only on loopback, no
    /// fragments, no wildcards), a public client without PKCE, an ID token algorithm the provider
    /// does not offer, or metadata that breaks the rules of [`ClientMetadata`](crate::ClientMetadata).
    pub async fn register_client(&self, client: NewClient) -> Result<RegisteredClient, Error> {
        clients::register(
            &self.inner.db,
            &self.inner.config.key_ring(),
            &self.inner.config.key_algorithms,
            client,
            self.inner.now(),
        )
        .await
    }

    /// Every registered client (never their secrets).
    pub async fn list_clients(&self) -> Result<Vec<ClientInfo>, Error> {
        clients::list(&self.inner.db).await
    }

    /// Imports hardware tokens from a seed file: CSV (`serial,seed_hex[,digits,period,algorithm]`)
    /// or PSKC (RFC 6030, plain or encrypted with `pre_shared_key`). Every bad row is reported
    /// with its line; unless `partial`, nothing is imported when any row is bad.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] listing the bad rows (or a wrong pre-shared key).
    pub async fn import_tokens(
        &self,
        file: &[u8],
        pre_shared_key: Option<&[u8]>,
        partial: bool,
    ) -> Result<ImportReport, Error> {
        self.inner
            .tokens
            .import(file, pre_shared_key, partial)
            .await
    }

    /// Assigns an unassigned hardware token to a user, with an optional PIN (4 to 8 digits) that
    /// then prefixes every tokencode. With `replace`, the user's current token is disabled.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown user or serial, [`Error::Conflict`] when the token is not
    /// unassigned or the user already holds one (without `replace`).
    pub async fn assign_token(
        &self,
        username: &str,
        serial: &str,
        pin: Option<String>,
        replace: bool,
    ) -> Result<TokenInfo, Error> {
        self.inner
            .tokens
            .assign(username, serial, pin, replace)
            .await
    }

    /// Creates a soft token for a user. The returned activation code is shown once and must reach
    /// the user by another channel than email; they enter it with their username on the
    /// activation page, scan the QR code and confirm with a first code.
    ///
    /// # Errors
    /// As [`Provider::assign_token`].
    pub async fn add_soft_token(
        &self,
        username: &str,
        pin: Option<String>,
        replace: bool,
    ) -> Result<SoftTokenEnrolment, Error> {
        self.inner.tokens.add_soft(username, pin, replace).await
    }

    /// Every token, by serial.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        self.inner.tokens.list().await
    }

    /// Disables a token, marks it lost, or (with [`TokenState::Unassigned`]) takes it back.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown serial; [`Error::InvalidInput`] for a state that only
    /// assignment or a first passcode can set.
    pub async fn set_token_state(
        &self,
        serial: &str,
        state: TokenState,
    ) -> Result<TokenInfo, Error> {
        self.inner.tokens.set_state(serial, state).await
    }

    /// The current tokencode of a token whose seed the provider holds: a support and demo aid,
    /// refused unless the database is a demo database or `i_am_support` is set.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when refused, [`Error::NotFound`] for an unknown serial.
    pub async fn current_tokencode(
        &self,
        serial: &str,
        i_am_support: bool,
    ) -> Result<String, Error> {
        self.inner.tokens.current_code(serial, i_am_support).await
    }

    /// Activates a soft token as the activation page does: the one-time activation code the
    /// user was given, and a first code from their authenticator app (proof that the app holds
    /// the secret). Returns false, changing nothing, when either is wrong or expired.
    ///
    /// # Errors
    /// [`Error::Database`] when the database fails.
    pub async fn activate_soft_token(
        &self,
        username: &str,
        activation_code: &str,
        code: &str,
    ) -> Result<bool, Error> {
        self.inner
            .tokens
            .complete_activation(username, activation_code, code)
            .await
    }

    /// Marks a new, empty database as a demo database (tokencodes may then be printed).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the database already holds accounts.
    pub async fn mark_demo_database(&self) -> Result<(), Error> {
        self.inner.tokens.mark_demo().await
    }
}

/// The mailer when none is configured: says in the log what was not sent (never the body, which
/// may hold a code).
struct NoMailer;

impl Mailer for NoMailer {
    fn send<'a>(&'a self, email: &'a Email) -> crate::mfa::BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            tracing::warn!(subject = %email.subject, "no mailer is configured: a message was not sent");
            Ok(())
        })
    }
}

/// Keys and housekeeping.
impl Provider {
    /// Publishes a new signing key for `alg` (or for every configured algorithm): it is in JWKS
    /// at once and signs after the [publish delay](crate::ProviderConfigBuilder::key_publish_delay);
    /// the key it succeeds then retires and stays in JWKS for the
    /// [retire period](crate::ProviderConfigBuilder::key_retire_after). An algorithm whose new
    /// key is still waiting to sign is left alone, so two calls (on any replicas) at once make
    /// one key per algorithm. Returns the keys this call published; each is in the audit log
    /// (`keys.rotated`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an algorithm the provider is not configured for;
    /// [`Error::Database`] or [`Error::Crypto`] when the key cannot be made or stored.
    pub async fn rotate_keys(&self, alg: Option<SigningAlg>) -> Result<Vec<KeyInfo>, Error> {
        let published = rotate(&self.inner, alg, RotationCause::Request).await?;
        self.published_infos(&published).await
    }

    /// The scheduled rotation, as the background task runs it: publishes a successor for every
    /// algorithm whose active key will have signed for the
    /// [rotation interval](crate::ProviderConfigBuilder::key_rotation_interval) once the publish
    /// delay has passed. Nothing when scheduled rotation is off.
    ///
    /// # Errors
    /// As [`Provider::rotate_keys`].
    pub async fn rotate_due_keys(&self) -> Result<Vec<KeyInfo>, Error> {
        let published = rotate(&self.inner, None, RotationCause::Schedule).await?;
        self.published_infos(&published).await
    }

    async fn published_infos(
        &self,
        published: &[crate::keys::Published],
    ) -> Result<Vec<KeyInfo>, Error> {
        if published.is_empty() {
            return Ok(Vec::new());
        }
        let all = self.inner.keys.list().await?;
        Ok(all
            .into_iter()
            .filter(|k| published.iter().any(|p| p.kid == k.kid))
            .collect())
    }

    /// Every signing key with its state now (published, active, retired, or removed and not yet
    /// purged), by algorithm, newest first.
    ///
    /// # Errors
    /// [`Error::Database`] when the database fails.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, Error> {
        self.inner.keys.list().await
    }

    /// Reloads the signing keys if they changed in the database (a rotation by another
    /// replica); returns whether they did. The background task does this every
    /// [`key_refresh_interval`](crate::ProviderConfigBuilder::key_refresh_interval); a rotation on
    /// this replica reloads at once.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Crypto`] when the keys cannot be read or opened.
    pub async fn refresh_keys(&self) -> Result<bool, Error> {
        self.inner.keys.refresh().await
    }

    /// Deletes expired rows now, in batches: authorization codes (a used one only once every
    /// token it issued has expired), grants nothing refers to any more, ended or expired
    /// sessions, expired journeys, stale throttle counters, removed signing keys. Returns the
    /// count per table. The background task does this every
    /// [`housekeeping_interval`](crate::ProviderConfigBuilder::housekeeping_interval).
    ///
    /// # Errors
    /// [`Error::Database`] when the database fails (what was deleted before stays deleted).
    pub async fn purge_expired(&self) -> Result<PurgeReport, Error> {
        crate::housekeeping::purge_expired(&self.inner.db, &self.inner.config, self.inner.now())
            .await
    }

    /// Delivers the back-channel logout tokens that are due now (at most a batch of 20), as the
    /// background task does every
    /// [`backchannel_logout_poll_interval`](crate::ProviderConfigBuilder::backchannel_logout_poll_interval).
    /// Returns how many were delivered.
    ///
    /// # Errors
    /// [`Error::Database`] when the outbox cannot be read or updated.
    pub async fn deliver_backchannel_logouts(&self) -> Result<usize, Error> {
        crate::sessions::backchannel::deliver_due(&self.inner).await
    }

    /// The back-channel logout deliveries recorded (pending, delivered and given up; newest
    /// first, at most 1000).
    ///
    /// # Errors
    /// [`Error::Database`] when the outbox cannot be read.
    pub async fn backchannel_logout_deliveries(
        &self,
    ) -> Result<Vec<crate::sessions::backchannel::DeliveryInfo>, Error> {
        crate::sessions::backchannel::list(&self.inner).await
    }

    /// Stops the background tasks (key refresh, scheduled rotation, purge) of this provider and
    /// its clones. They stop by themselves when the provider is dropped.
    pub fn stop_background_tasks(&self) {
        self.inner.background.send_replace(true);
    }
}
