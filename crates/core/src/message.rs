//! Messages: email and SMS accepted by the hub, sent through providers, and followed
//! through their provider's status reports.

use serde_json::Value;

mod content;
pub use content::{EmailContent, MessageContent, SmsContent, StoredAttachment};

crate::text_enum! {
    /// The channel a message is sent on. Credits are kept per channel.
    pub enum Channel { Email = "email", Sms = "sms" }
}

crate::text_enum! {
    /// What a message is for; recorded in the log and passed to providers that categorize.
    #[derive(Default)]
    pub enum Category {
        #[default]
        Transactional = "transactional",
        Marketing = "marketing",
        Educational = "educational",
        Administrative = "administrative",
    }
}

crate::text_enum! {
    /// A status in a message's history. The current status only moves to a higher
    /// [`Status::rank`], so reports that arrive out of order (a late `sent` after
    /// `delivered`) are recorded in the history without moving the message back.
    pub enum Status {
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Deferred = "deferred",
        Delivered = "delivered",
        Bounced = "bounced",
        Failed = "failed",
        Opened = "opened",
        Clicked = "clicked",
        Complained = "complained",
        Unsubscribed = "unsubscribed",
    }
}

impl Status {
    /// The order in which statuses replace each other. Outcomes of delivery share a
    /// rank, so the first one reported stands. `deferred`, `complained` and
    /// `unsubscribed` are kept in the history only (rank 0).
    pub fn rank(self) -> i64 {
        match self {
            Status::Deferred | Status::Complained | Status::Unsubscribed => 0,
            Status::Queued => 1,
            Status::Sending => 2,
            Status::Sent => 3,
            Status::Delivered | Status::Bounced | Status::Failed => 4,
            Status::Opened => 5,
            Status::Clicked => 6,
        }
    }

    /// Whether the hub is done sending: no further attempt will be made.
    pub fn is_sent_or_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Sending)
    }

    /// The status a normalized provider event reports (`message.delivered` →
    /// `delivered`), if it reports one.
    pub fn from_event_type(event_type: &str) -> Option<Status> {
        Some(match event_type.strip_prefix("message.")? {
            "accepted" | "sent" => Status::Sent,
            "deferred" => Status::Deferred,
            "delivered" => Status::Delivered,
            "bounced" => Status::Bounced,
            "failed" => Status::Failed,
            "opened" | "read" => Status::Opened,
            "clicked" => Status::Clicked,
            "complained" => Status::Complained,
            "unsubscribed" => Status::Unsubscribed,
            _ => return None,
        })
    }
}

crate::text_enum! {
    /// How one call to a provider ended.
    pub enum AttemptOutcome {
        Sent = "sent",
        /// A failure worth retrying (on this provider or the next).
        Retryable = "retryable",
        /// The provider refused the message itself; no retry helps.
        Rejected = "rejected",
    }
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub channel: Channel,
    pub category: Category,
    pub account: Option<String>,
    pub status: Status,
    /// The configured name of the provider that took the message.
    pub provider: Option<String>,
    /// The provider's id for the message, which its status reports name.
    pub provider_message_id: Option<String>,
    /// Every recipient: email `to`, `cc` and `bcc`; the SMS number.
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    /// The request as accepted (bodies removed once sent when bodies are not kept).
    pub content: MessageContent,
    pub metadata: Option<Value>,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request, to tell a repeated request from a different one that
    /// reuses an idempotency key.
    pub request_digest: Option<String>,
    /// Credits reserved for the message (0 when the account is not metered).
    pub credits: i64,
    /// How many times the message was claimed for sending.
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One entry of a message's status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    pub status: Status,
    pub at: i64,
    pub detail: Option<String>,
    /// The event that reported it, for statuses from provider webhooks.
    pub event_id: Option<String>,
}

/// One call to a provider while sending a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAttempt {
    pub provider: String,
    pub at: i64,
    pub duration_ms: i64,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
}

/// Where a claimed message ended up after its providers were tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent {
        provider: String,
        provider_message_id: Option<String>,
    },
    /// Try again at this time (milliseconds since the epoch).
    Retry { at: i64, error: String },
    /// Final failure: credits are refunded.
    Failed { reason: String },
}

/// What the sender reports for one claimed message.
#[derive(Debug, Clone, PartialEq)]
pub struct SendResult {
    pub message_id: String,
    /// The message's `attempts` when it was claimed; an outcome for an older claim is
    /// ignored.
    pub attempt: i64,
    pub tries: Vec<SendAttempt>,
    pub outcome: SendOutcome,
    /// When set, replaces the stored content once the message is sent or failed (bodies
    /// dropped for privacy).
    pub keep_content: Option<MessageContent>,
}

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The body of the `message.*` event the hub publishes about one of its messages.
pub fn event_payload(message: &Message, status: Status, detail: Option<&str>) -> Value {
    serde_json::json!({
        "message_id": message.id,
        "channel": message.channel.as_str(),
        "category": message.category.as_str(),
        "account": message.account,
        "status": status.as_str(),
        "provider": message.provider,
        "provider_message_id": message.provider_message_id,
        "recipients": message.recipients,
        "detail": detail,
        "metadata": message.metadata,
    })
}

/// Checks an email address, bare (`a@example.com`) or with a display name
/// (`Ada <a@example.com>`). Says what is wrong when it is not one.
pub fn check_email_address(s: &str) -> Result<(), &'static str> {
    if s.contains(['\r', '\n']) {
        return Err("must not contain line breaks");
    }
    let addr = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => {
            if s[..open].contains(['<', '>']) {
                return Err("expected an address like a@example.com or Name <a@example.com>");
            }
            &inner[open + 1..]
        }
        (None, None) => s.trim(),
        _ => return Err("unbalanced <…> around the address"),
    };
    if addr.len() > 254 {
        return Err("an address is at most 254 characters");
    }
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err("expected an address like a@example.com");
    };
    let local_ok = (1..=64).contains(&local.len())
        && local.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']' | '@'
                )
        })
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err("the part before @ is not a valid mailbox name");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return Err("the domain after @ is not a valid host name");
    }
    Ok(())
}

/// Checks a phone number in E.164 form: `+` then 2 to 15 digits, not starting with 0.
pub fn check_e164(s: &str) -> Result<(), &'static str> {
    let digits = s
        .strip_prefix('+')
        .ok_or("expected E.164: + followed by the country code and number, e.g. +14155550123")?;
    if !(2..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err("expected E.164: + followed by 2 to 15 digits, e.g. +14155550123");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_reports_never_move_a_message_back() {
        assert!(Status::Delivered.rank() > Status::Sent.rank());
        assert!(Status::Opened.rank() > Status::Delivered.rank());
        assert!(Status::Clicked.rank() > Status::Opened.rank());
        assert_eq!(Status::Bounced.rank(), Status::Delivered.rank());
        assert!(Status::Deferred.rank() < Status::Queued.rank());
    }

    #[test]
    fn statuses_round_trip_and_map_from_event_types() {
        for s in [
            Status::Queued,
            Status::Sent,
            Status::Delivered,
            Status::Clicked,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            Status::from_event_type("message.delivered"),
            Some(Status::Delivered)
        );
        assert_eq!(
            Status::from_event_type("message.read"),
            Some(Status::Opened)
        );
        assert_eq!(Status::from_event_type("message.received"), None);
        assert_eq!(Status::from_event_type("payment.delivered"), None);
    }

    #[test]
    fn addresses_and_numbers_are_checked() {
        for ok in [
            "a@example.com",
            "Ada Lovelace <ada@example.org>",
            "a.b+tag@sub.example.co.uk",
            "<x@y.io>",
        ] {
            assert_eq!(check_email_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@example.com",
            "a@example",
            "a b@example.com",
            "a@exa mple.com",
            "a@example.com\r\nBcc: x@y.z",
            "Ada <a@example.com",
            "a..b@example.com",
            "a@-x.com",
        ] {
            assert!(check_email_address(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_e164("+14155550123"), Ok(()));
        for bad in [
            "14155550123",
            "+0123",
            "+1",
            "+1415555012345678",
            "+1 415 555",
            "+1a",
        ] {
            assert!(check_e164(bad).is_err(), "{bad}");
        }
    }
}
