//! The command line's arguments: the commands and their options.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// AHS IAM, the OpenID Connect provider.
#[derive(Debug, Parser)]
#[command(name = "oidc-server", version, about)]
pub struct Cli {
    /// A TOML settings file; every value can be overridden by an IAM_* environment variable.
    #[arg(long, global = true, env = "IAM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is acting: every command that changes IAM is recorded in the audit log as this user.
    #[arg(
        long = "as",
        global = true,
        value_name = "USERNAME",
        conflicts_with = "break_glass"
    )]
    pub as_user: Option<String>,
    /// Act without a named user (first set-up, emergencies); recorded as break-glass.
    #[arg(long, global = true)]
    pub break_glass: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider.
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate {
        /// Mark a new, empty database as a demo database (`token code` then works without
        /// --i-am-support).
        #[arg(long)]
        demo: bool,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage OATH tokens (hardware and soft).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read and check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// CPAR Panel Administrator User Registration Forms (URF): submit, list, approve, reject.
    #[command(subcommand)]
    Urf(UrfCommand),
    /// Signing keys: list them, or rotate now (needs iam_admin).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Delete expired codes, grants, sessions, journeys, throttle counters and removed keys now
    /// (the server also does it every `[housekeeping] interval_secs`); prints counts per table.
    Purge,
}

/// Signing key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new key per algorithm (or for --alg only). It is in JWKS at once, signs after
    /// the publish delay, and the key it succeeds stays published for the retire period. An
    /// algorithm whose new key is still waiting to sign is left alone.
    Rotate {
        /// RS256, ES256 or EdDSA (default: every configured algorithm).
        #[arg(long)]
        alg: Option<String>,
    },
    /// List keys with their state (published, active, retired, removed) and times.
    List,
    /// Re-seal every secret at rest (signing keys, token seeds, the audit key) under the
    /// configured key_encryption_key, opening them with it or a previous_key_encryption_keys
    /// entry, in one transaction (see docs/configuration.md, "Rotating the key-encryption key").
    RotateKek,
}

/// User Registration Form commands (Access Administrators; an approval needs a second one).
#[derive(Debug, Subcommand)]
pub enum UrfCommand {
    /// Enter a registration (status pending).
    Submit {
        /// The person's legal name.
        #[arg(long)]
        legal_name: String,
        /// Their email address (the Welcome email goes there).
        #[arg(long)]
        email: String,
        /// The clinic or panel.
        #[arg(long)]
        clinic: String,
        /// The practitioner or clinic identifier.
        #[arg(long)]
        practitioner_id: String,
        /// The role requested (default cpar_panel_admin).
        #[arg(long)]
        role: Option<String>,
    },
    /// List registrations, oldest first.
    List {
        /// Only those with this status: pending, approving, approved or rejected.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a registration (not one you submitted): creates the account, assigns the token
    /// and mails the Welcome email. For a soft token, prints the activation code to pass on by
    /// phone.
    Approve {
        /// The registration's id.
        #[arg(long)]
        id: String,
        /// The username (AHS Network ID) of the new account.
        #[arg(long)]
        username: String,
        /// Assign this imported hardware token.
        #[arg(long, required_unless_present = "soft", conflicts_with = "soft")]
        serial: Option<String>,
        /// Create a soft token instead.
        #[arg(long)]
        soft: bool,
    },
    /// Reject a registration with a reason.
    Reject {
        /// The registration's id.
        #[arg(long)]
        id: String,
        /// Why (1 to 500 characters).
        #[arg(long)]
        reason: String,
    },
    /// Settle a registration left "approving" by an interrupted approval: back to pending when
    /// no account was made, or completed (Welcome email) when it was.
    ResetStuck {
        /// The registration's id.
        #[arg(long)]
        id: String,
        /// Only when the approval started at least this many minutes ago.
        #[arg(long, default_value_t = 15)]
        older_than_minutes: u64,
    },
}

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List entries in order.
    List {
        /// Only entries after this sequence number.
        #[arg(long)]
        since: Option<i64>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Recompute the MAC chain and report the first broken link (exit code 1 if any).
    Verify,
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Import hardware tokens from a seed file (CSV `serial,seed_hex[,digits,period,algorithm]`
    /// or PSKC, RFC 6030).
    Import {
        /// The seed file.
        file: PathBuf,
        /// Import the good rows even when some are bad (each bad row is reported).
        #[arg(long)]
        partial: bool,
        /// The PSKC pre-shared key, in hex (for an encrypted PSKC file).
        #[arg(long)]
        psk_hex: Option<String>,
    },
    /// Assign an imported hardware token to a user.
    Assign {
        /// The user.
        #[arg(long)]
        username: String,
        /// The token's serial.
        #[arg(long)]
        serial: String,
        /// Read a PIN (4 to 8 digits, typed before each tokencode) from standard input.
        #[arg(long)]
        pin_stdin: bool,
        /// Disable the token the user holds now.
        #[arg(long)]
        replace: bool,
    },
    /// Create a soft token for a user: prints its serial, one-time activation code and otpauth URI.
    AddSoft {
        /// The user.
        #[arg(long)]
        username: String,
        /// Read a PIN (4 to 8 digits) from standard input.
        #[arg(long)]
        pin_stdin: bool,
        /// Disable the token the user holds now.
        #[arg(long)]
        replace: bool,
    },
    /// List tokens.
    List,
    /// Disable a token.
    Disable {
        /// The token's serial.
        #[arg(long)]
        serial: String,
    },
    /// Mark a token lost.
    Lost {
        /// The token's serial.
        #[arg(long)]
        serial: String,
    },
    /// Take a hardware token back from its user (a soft token is disabled instead).
    Unassign {
        /// The token's serial.
        #[arg(long)]
        serial: String,
    },
    /// Print the current tokencode of a token (demo databases, or support staff).
    Code {
        /// The token's serial.
        #[arg(long)]
        serial: String,
        /// Confirms a support engineer is asking, on a real database.
        #[arg(long)]
        i_am_support: bool,
    },
}

/// Account commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        /// The sign-in name (AHS network ID).
        #[arg(long)]
        username: String,
        /// The registered email address.
        #[arg(long)]
        email: String,
        /// The display name.
        #[arg(long)]
        name: Option<String>,
        /// A role; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Read the initial password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Issue a temporary password (service desk): shown once, valid 72 h, only to set a new one.
    TempPassword {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Unlock an account locked by failed sign-ins.
    Unlock {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Verify a caller (service desk) before acting: the secret word they say (read from
    /// standard input), or a one-time code mailed to their registered address (--send-code, then
    /// --code CODE). Match or no match; the word is never shown.
    VerifyCaller {
        /// The user.
        #[arg(long)]
        username: String,
        /// Read the secret word the caller says from standard input.
        #[arg(long)]
        secret_word_stdin: bool,
        /// Mail a one-time code to the user's registered address.
        #[arg(long)]
        send_code: bool,
        /// The code the caller reads back.
        #[arg(long)]
        code: Option<String>,
    },
    /// Disable an account (its sessions end at once).
    Disable {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Re-enable an account.
    Enable {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Set an account's roles (removing one ends its sessions).
    Roles {
        /// The user.
        #[arg(long)]
        username: String,
        /// A role; repeat for several; none removes all.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// A lost token: marks the user's tokens lost, ends their sessions and prints an emergency
    /// passcode (shown once) that works instead of the token for some hours.
    LostToken {
        /// The user.
        #[arg(long)]
        username: String,
        /// How long the emergency passcode works (default 24, at most 168).
        #[arg(long)]
        hours: Option<u32>,
    },
    /// Clear the secret word and challenge questions (after caller verification); the next
    /// sign-in asks for new ones. The user is told by email.
    ResetRecovery {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Deprovision: remove the password, temporary password, history, recovery data and tokens,
    /// and end every session and grant. The account row and its audit trail stay.
    DeleteCredentials {
        /// The user.
        #[arg(long)]
        username: String,
    },
}

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and (once) its client_secret.
    Add {
        /// The name people see.
        #[arg(long)]
        name: String,
        /// A redirect URI; repeat for several (required unless --service).
        #[arg(long = "redirect-uri", required_unless_present = "service")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only).
        #[arg(long)]
        public: bool,
        /// A first-party client (no consent page): the default, accepted for older scripts.
        #[arg(long, conflicts_with = "third_party")]
        first_party: bool,
        /// A third-party client: people see a consent page listing what it asks for, and can
        /// withdraw their consent at the portal (/account/apps).
        #[arg(long)]
        third_party: bool,
        /// Let this confidential client omit PKCE (only for older certified clients).
        #[arg(long, conflicts_with = "public")]
        pkce_optional: bool,
        /// The `aud` of this client's access tokens (default: the provider's userinfo resource).
        #[arg(long)]
        access_token_audience: Option<String>,
        /// Sign-ins to this client need only a password (default: password and token passcode).
        #[arg(long)]
        no_mfa: bool,
        /// A service client: client_credentials only, no people, no redirect URIs; it may also
        /// introspect and revoke.
        #[arg(long, conflicts_with_all = ["public", "grant_types"])]
        service: bool,
        /// A grant type (authorization_code, refresh_token, client_credentials); repeat for
        /// several. Default: authorization_code and refresh_token.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// A scope the client may ask for with client_credentials; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// When the client gets refresh tokens: never, offline_access (when it asks for that
        /// scope; the default) or always.
        #[arg(long)]
        refresh: Option<String>,
        /// The ID token signing algorithm for this client (RS256, ES256 or EdDSA).
        #[arg(long)]
        id_token_alg: Option<String>,
    },
    /// List clients.
    List,
    /// Show one client's registration (never its secret).
    Show {
        /// The client's id.
        #[arg(long)]
        client_id: String,
    },
    /// Change a client (needs iam_admin); only the options given change.
    Update {
        /// The client's id.
        #[arg(long)]
        client_id: String,
        /// The name people see.
        #[arg(long)]
        name: Option<String>,
        /// Replaces the redirect URIs; repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Replaces the post-logout redirect URIs; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// true: no consent page; false: people consent to what the client asks for.
        #[arg(long)]
        first_party: Option<bool>,
        /// Whether sign-ins to this client need the token passcode.
        #[arg(long)]
        mfa_required: Option<bool>,
        /// Replaces the grant types; repeat for several.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Replaces the client_credentials scopes; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Where logout tokens go (OpenID Connect Back-Channel Logout); "" removes it.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Whether this client's authorization requests must come through PAR (RFC 9126).
        #[arg(long)]
        require_par: Option<bool>,
        /// Disable (true) or enable (false) the client.
        #[arg(long)]
        disabled: Option<bool>,
    },
    /// Issue a confidential client a new secret (shown once); the old one stops working.
    RotateSecret {
        /// The client's id.
        #[arg(long)]
        client_id: String,
    },
    /// Delete a client: its grants, codes and refresh tokens go with it.
    Delete {
        /// The client's id.
        #[arg(long)]
        client_id: String,
    },
    /// Create an initial access token for dynamic client registration (RFC 7591), shown once.
    InitialToken {
        /// Hours until it expires (default 24).
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Let it register any number of clients until it expires (default: one).
        #[arg(long)]
        multi_use: bool,
    },
}
