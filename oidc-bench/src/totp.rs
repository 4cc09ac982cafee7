//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) for the
//! passcode step of a provider's sign-in form, and the users that sign in with them.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// The step length (RFC 6238 §4.1 default).
pub const PERIOD: u64 = 30;

/// RFC 4226 §5.3: the `digits`-digit HOTP value of `secret` at `counter`.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> Result<String, String> {
    let mac = (|| {
        let key = PKey::hmac(secret)?;
        let mut signer = Signer::new(MessageDigest::sha1(), &key)?;
        signer.update(&counter.to_be_bytes())?;
        signer.sign_to_vec()
    })()
    .map_err(|e| format!("HMAC-SHA1: {e}"))?;
    let last = mac.last().ok_or("HMAC-SHA1 gave no bytes")?;
    let offset = usize::from(last & 0x0f);
    let bytes: [u8; 4] = mac
        .get(offset..offset + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or("HMAC-SHA1 output too short")?;
    let bin = u32::from_be_bytes(bytes) & 0x7fff_ffff;
    let code = u64::from(bin) % 10u64.pow(digits);
    Ok(format!("{code:0width$}", width = digits as usize))
}

/// The current Unix time in seconds.
///
/// The workspace bans reading the wall clock outside a Clock plug-in (clippy.toml), for the
/// provider's sake. A load tool that computes TOTP codes and checks `exp` must read it by nature;
/// this is the one place it does. Durations are measured with `Instant` everywhere else.
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The seconds left in the current step.
pub fn secs_to_next_step() -> u64 {
    PERIOD - unix_now() % PERIOD
}

/// Decodes a base32 secret as authenticator apps take it: any case, spaces and `=` padding
/// ignored (RFC 4648 §6 alphabet).
pub fn decode_base32(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .map_err(|e| format!("not base32: {e}"))
}

/// One account that signs in through forms: one per flow worker, since a tokencode works once
/// per time step.
#[derive(Clone)]
pub struct User {
    pub username: String,
    pub password: String,
    /// The TOTP secret (raw bytes); empty when the provider asks for no passcode.
    pub secret: Vec<u8>,
    /// The last step whose code was submitted (never submit one twice).
    pub last_step: Option<u64>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl User {
    /// A code for a step not used before by this run: waits for the next step when the current
    /// one was used already.
    pub async fn next_code(&mut self) -> Result<String, String> {
        if self.secret.is_empty() {
            return Err(format!(
                "the provider asks {} for a passcode, but no TOTP secret was given",
                self.username
            ));
        }
        let mut step = unix_now() / PERIOD;
        if self.last_step.is_some_and(|last| step <= last) {
            // 200 ms into the next step, so that the server's clock is surely there too.
            let wait = secs_to_next_step();
            tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 200)).await;
            step = unix_now() / PERIOD;
        }
        self.last_step = Some(step);
        hotp(&self.secret, step, 6)
    }
}

/// Where the last submitted step of each user is remembered between runs: a provider accepts a
/// tokencode once, so a run that starts in the step of the previous run's sign-in must wait for
/// the next step instead of failing a sign-in (failures count towards the account's lockout).
fn steps_file() -> std::path::PathBuf {
    std::env::temp_dir().join("oidc-bench-totp-steps")
}

/// The remembered last steps of users of `issuer`, by username.
pub fn load_steps(issuer: &str) -> std::collections::HashMap<String, u64> {
    let text = std::fs::read_to_string(steps_file()).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            let (i, u, s) = (it.next()?, it.next()?, it.next()?.parse().ok()?);
            (i == issuer).then(|| (u.to_string(), s))
        })
        .collect()
}

/// Remembers the last steps of these users of `issuer` (best effort: a load tool carries on
/// without it). Entries older than five minutes are dropped.
pub fn save_steps(issuer: &str, users: &[(String, u64)]) -> Result<(), String> {
    if users.is_empty() {
        return Ok(());
    }
    let now_step = unix_now() / PERIOD;
    let old = std::fs::read_to_string(steps_file()).unwrap_or_default();
    let mut out = String::new();
    for l in old.lines() {
        let mut it = l.split('\t');
        let (Some(i), Some(u), Some(Ok(s))) =
            (it.next(), it.next(), it.next().map(str::parse::<u64>))
        else {
            continue;
        };
        let replaced = i == issuer && users.iter().any(|(n, _)| n == u);
        if !replaced && s + 10 >= now_step {
            out.push_str(l);
            out.push('\n');
        }
    }
    for (u, s) in users {
        out.push_str(&format!("{issuer}\t{u}\t{s}\n"));
    }
    let path = steps_file();
    let tmp = path.with_extension(format!("{}", std::process::id()));
    std::fs::write(&tmp, out)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a users file: one `username,password,base32secret` a line (the password may contain
/// commas; the secret may be empty for password-only sign-ins); blank lines and `#` comments are
/// skipped.
pub fn parse_users(text: &str) -> Result<Vec<User>, String> {
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (username, rest) = line
            .split_once(',')
            .ok_or_else(|| format!("line {}: expected username,password,base32secret", n + 1))?;
        let (password, secret) = rest
            .rsplit_once(',')
            .ok_or_else(|| format!("line {}: expected username,password,base32secret", n + 1))?;
        let secret = decode_base32(secret).map_err(|e| format!("line {}: {e}", n + 1))?;
        users.push(User {
            username: username.to_string(),
            password: password.to_string(),
            secret,
            last_step: None,
        });
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits).
    #[test]
    fn rfc6238_vectors() {
        let seed = b"12345678901234567890";
        for (t, want) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(seed, t / 30, 8).unwrap(), want, "T={t}");
        }
        // RFC 4226 Appendix D, 6 digits.
        assert_eq!(hotp(seed, 0, 6).unwrap(), "755224");
        assert_eq!(hotp(seed, 9, 6).unwrap(), "520489");
    }

    #[test]
    fn base32_and_users_file() {
        // "12345678901234567890" in base32.
        let b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(decode_base32(b32).unwrap(), b"12345678901234567890");
        assert_eq!(
            decode_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            b"12345678901234567890"
        );
        let users =
            parse_users("# bench users\nalice,pa,ss,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n\nbob,pw,\n")
                .unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].username, "alice");
        assert_eq!(users[0].password, "pa,ss");
        assert_eq!(users[0].secret, b"12345678901234567890");
        assert!(users[1].secret.is_empty());
        assert!(parse_users("nocomma\n").is_err());
        assert!(parse_users("a,b,!!!\n").is_err());
    }
}
