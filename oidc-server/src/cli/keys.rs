//! `keys …`: signing keys and the key-encryption key.

use oidc_core::Provider;

use super::{CliError, KeysCommand, print};

fn key_line(k: &oidc_core::KeyInfo) -> String {
    let or_dash = |t: Option<String>| t.unwrap_or_else(|| "-".into());
    format!(
        "{}\t{}\t{}\tpublished {}\tsigns from {}\tretired {}\tremoved {}",
        k.kid,
        k.alg,
        k.state.as_str(),
        k.published_at.to_rfc3339(),
        k.activates_at.to_rfc3339(),
        or_dash(k.retired_at.map(|t| t.to_rfc3339())),
        or_dash(k.removed_at.map(|t| t.to_rfc3339())),
    )
}

pub(super) async fn keys(
    provider: &Provider,
    json_out: bool,
    cmd: KeysCommand,
) -> Result<(), CliError> {
    match cmd {
        KeysCommand::List => {
            let keys = provider.list_keys().await?;
            let text = keys.iter().map(key_line).collect::<Vec<_>>().join("\n");
            print(
                json_out,
                serde_json::to_value(&keys).unwrap_or_default(),
                text,
            )
        }
        KeysCommand::Rotate { alg } => {
            let alg = match alg {
                Some(name) => Some(oidc_core::SigningAlg::parse(name.trim()).ok_or_else(|| {
                    CliError::Io(format!("--alg {name}: use RS256, ES256 or EdDSA"))
                })?),
                None => None,
            };
            let published = provider.rotate_keys(alg).await?;
            let text = if published.is_empty() {
                "Nothing rotated: a new key is already waiting to sign for each algorithm asked \
                 (see `keys list`)."
                    .to_string()
            } else {
                published
                    .iter()
                    .map(key_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            print(
                json_out,
                serde_json::to_value(&published).unwrap_or_default(),
                text,
            )
        }
        KeysCommand::RotateKek => {
            let done = provider.rotate_key_encryption_key().await?;
            let text = done
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "{}\t{} re-sealed ({} from a previous key)",
                        c.column, c.values, c.from_previous
                    )
                })
                .chain(std::iter::once(
                    "Everything is sealed under the current key-encryption key: remove \
                     previous_key_encryption_keys from every replica's configuration."
                        .to_string(),
                ))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&done).unwrap_or_default(),
                text,
            )
        }
    }
}
