//! `audit …`: reading and verifying the audit log.

use oidc_core::Provider;

use super::{AuditCommand, CliError, print};

pub(super) async fn audit(
    provider: &Provider,
    json_out: bool,
    cmd: AuditCommand,
) -> Result<(), CliError> {
    match cmd {
        AuditCommand::List { since, limit } => {
            let events = provider.audit_events(since, limit.clamp(1, 10_000)).await?;
            let text = events
                .iter()
                .map(|e| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}",
                        e.seq,
                        e.at.to_rfc3339(),
                        e.actor,
                        e.event,
                        e.subject.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&events).unwrap_or_default(),
                text,
            )
        }
        AuditCommand::Verify => {
            let report = provider.verify_audit_log().await?;
            let text = match report.first_broken {
                None => format!("The audit log is intact ({} entries).", report.entries),
                Some(seq) => format!(
                    "The audit log is BROKEN at entry {seq}: {}",
                    report.reason.clone().unwrap_or_default()
                ),
            };
            print(
                json_out,
                serde_json::to_value(&report).unwrap_or_default(),
                text,
            )?;
            if report.first_broken.is_some() {
                return Err(CliError::Io("audit log verification failed".into()));
            }
            Ok(())
        }
    }
}
