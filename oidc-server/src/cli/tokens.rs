//! `token …`: hardware and soft tokens.

use serde_json::json;

use oidc_core::Provider;

use super::{CliError, TokenCommand, print, read_stdin_line};

fn token_line(t: &oidc_core::mfa::TokenInfo) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        t.serial,
        t.kind,
        t.state.as_str(),
        t.username.as_deref().unwrap_or("-"),
        if t.next_tokencode_mode {
            "next-tokencode"
        } else {
            ""
        }
    )
}

pub(super) async fn token(
    provider: &Provider,
    json_out: bool,
    cmd: TokenCommand,
) -> Result<(), CliError> {
    use oidc_core::mfa::TokenState;
    let show = |t: oidc_core::mfa::TokenInfo| {
        let text = token_line(&t);
        print(json_out, serde_json::to_value(&t).unwrap_or_default(), text)
    };
    match cmd {
        TokenCommand::Import {
            file,
            partial,
            psk_hex,
        } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::Io(format!("{}: {e}", file.display())))?;
            let psk = match psk_hex {
                Some(h) => Some(
                    decode_hex(&h).ok_or_else(|| CliError::Io("--psk-hex is not hex".into()))?,
                ),
                None => None,
            };
            let report = provider
                .import_tokens(&bytes, psk.as_deref(), partial)
                .await?;
            let mut text = format!("Imported {} token(s).", report.imported.len());
            for (line, msg) in &report.errors {
                text.push_str(&format!("\nline {line}: {msg}"));
            }
            print(
                json_out,
                serde_json::to_value(&report).unwrap_or_default(),
                text,
            )
        }
        TokenCommand::Assign {
            username,
            serial,
            pin_stdin,
            replace,
        } => {
            let pin = read_stdin_line(pin_stdin)?;
            show(
                provider
                    .assign_token(&username, &serial, pin, replace)
                    .await?,
            )
        }
        TokenCommand::AddSoft {
            username,
            pin_stdin,
            replace,
        } => {
            let pin = read_stdin_line(pin_stdin)?;
            let e = provider.add_soft_token(&username, pin, replace).await?;
            let value = json!({
                "serial": e.serial,
                "activation_code": e.activation_code.secret(),
                "activation_expires_at": e.activation_expires_at.to_rfc3339(),
                "otpauth_uri": e.otpauth_uri.secret(),
                "secret_base32": e.secret_base32.secret(),
            });
            let text = format!(
                "serial: {}\nactivation code: {} (give it to the user by phone or in person, not by email; \
                 valid until {})\notpauth URI: {}",
                e.serial,
                e.activation_code.secret(),
                e.activation_expires_at.to_rfc3339(),
                e.otpauth_uri.secret()
            );
            print(json_out, value, text)
        }
        TokenCommand::List => {
            let tokens = provider.list_tokens().await?;
            let text = tokens.iter().map(token_line).collect::<Vec<_>>().join("\n");
            print(
                json_out,
                serde_json::to_value(&tokens).unwrap_or_default(),
                text,
            )
        }
        TokenCommand::Disable { serial } => show(
            provider
                .set_token_state(&serial, TokenState::Disabled)
                .await?,
        ),
        TokenCommand::Lost { serial } => {
            show(provider.set_token_state(&serial, TokenState::Lost).await?)
        }
        TokenCommand::Unassign { serial } => show(
            provider
                .set_token_state(&serial, TokenState::Unassigned)
                .await?,
        ),
        TokenCommand::Code {
            serial,
            i_am_support,
        } => {
            let code = provider.current_tokencode(&serial, i_am_support).await?;
            print(
                json_out,
                json!({ "serial": serial, "tokencode": code }),
                code,
            )
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}
