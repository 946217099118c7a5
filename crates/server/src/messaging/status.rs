//! The status loop: providers' webhooks about messages the hub sent (SendGrid, Twilio,
//! Telnyx, Resend), taken in like any other event, become status reports in the
//! processing transaction. Each joins its message's history and may move the message
//! forward (see the store's messaging SQL).

use std::collections::HashMap;

use async_trait::async_trait;
use switchyard_core::message::Status;
use switchyard_store::{ProcessTx, ReceivedEvent, Stage, StatusReport, StoreError};

#[derive(Debug)]
pub(super) struct StatusReports;

#[async_trait]
impl Stage for StatusReports {
    fn name(&self) -> &'static str {
        "message status reports"
    }

    async fn run(
        &self,
        tx: &mut dyn ProcessTx,
        events: &[ReceivedEvent],
        at: i64,
    ) -> Result<(), StoreError> {
        let candidates: Vec<&str> = events
            .iter()
            .filter(|e| e.source_kind.is_some() && Status::from_event_type(&e.event_type).is_some())
            .map(|e| e.id.as_str())
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let payloads = tx.payloads(&candidates).await?;
        let found = reports(events, &payloads);
        tx.apply_status_reports(&found, at).await
    }
}

/// The status reports among `events`, in event order: message events of the providers
/// the hub sends through that name a message.
fn reports(events: &[ReceivedEvent], payloads: &HashMap<String, Vec<u8>>) -> Vec<StatusReport> {
    let mut found: Vec<StatusReport> = events
        .iter()
        .filter_map(|e| {
            let status = Status::from_event_type(&e.event_type)?;
            let payload = payloads.get(&e.id)?;
            let provider_message_id = crate::intake::message_ref(e.source_kind?, payload)?;
            Some(StatusReport {
                event_id: e.id.clone(),
                provider_message_id,
                status,
                at: e.received_at,
            })
        })
        .collect();
    found.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::source::SourceKind;

    #[test]
    fn reports_come_from_message_events_of_sending_providers() {
        let mut payloads = HashMap::new();
        let mut event = |id: &str, event_type: &str, kind: Option<SourceKind>, payload: &[u8]| {
            payloads.insert(id.to_string(), payload.to_vec());
            ReceivedEvent {
                id: id.to_string(),
                event_type: event_type.to_string(),
                source_kind: kind,
                source_id: None,
                received_at: 7,
            }
        };
        let events = vec![
            event(
                "evt_2",
                "message.delivered",
                Some(SourceKind::Twilio),
                b"MessageSid=SM1",
            ),
            event(
                "evt_1",
                "message.opened",
                Some(SourceKind::Sendgrid),
                br#"{"sg_message_id":"abc.filter1"}"#,
            ),
            event(
                "evt_3",
                "message.received",
                Some(SourceKind::Twilio),
                b"MessageSid=SM1",
            ),
            event(
                "evt_4",
                "message.delivered",
                Some(SourceKind::Stripe),
                br#"{"sg_message_id":"x"}"#,
            ),
            event(
                "evt_5",
                "message.delivered",
                Some(SourceKind::Telnyx),
                b"{}",
            ),
            event(
                "evt_6",
                "message.delivered",
                None,
                br#"{"sg_message_id":"x"}"#,
            ),
        ];
        assert_eq!(
            reports(&events, &payloads),
            [
                StatusReport {
                    event_id: "evt_1".into(),
                    provider_message_id: "abc".into(),
                    status: Status::Opened,
                    at: 7
                },
                StatusReport {
                    event_id: "evt_2".into(),
                    provider_message_id: "SM1".into(),
                    status: Status::Delivered,
                    at: 7
                },
            ]
        );
    }
}
