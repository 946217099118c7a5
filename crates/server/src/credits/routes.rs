//! `/v1/accounts/{account}/credits`: what each account may still send, and its ledger.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::credit::{LedgerEntry, LedgerKind, valid_account};
use switchyard_core::message::Channel;
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_store::Store;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, Principal,
    Problems, require, validate,
};

type Ctx = State<Arc<dyn Store>>;

pub(super) fn router() -> OpenApiRouter<Arc<dyn Store>> {
    OpenApiRouter::new()
        .routes(require(Need::Read(Scope::Accounts), routes!(get)))
        .routes(require(Need::Write(Scope::Accounts), routes!(grant)))
        .routes(require(Need::Read(Scope::Accounts), routes!(ledger)))
}

/// Balances by channel; `null` for a channel the account is not metered on.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Credits {
    pub(crate) account: String,
    pub(crate) email: Option<i64>,
    pub(crate) sms: Option<i64>,
}

fn check_account(account: &str) -> Result<(), ApiError> {
    if valid_account(account) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_account",
            "an account is 1 to 100 letters, digits or _ - . : @",
        ))
    }
}

async fn credits_of(store: &Arc<dyn Store>, account: &str) -> Result<Credits, ApiError> {
    let balances = store.credit_balances(account).await?;
    let of = |channel: Channel| {
        balances
            .iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, b)| *b)
    };
    Ok(Credits {
        account: account.to_string(),
        email: of(Channel::Email),
        sms: of(Channel::Sms),
    })
}

const ACCOUNT: &str = "An account: 1 to 100 letters, digits or `_ - . : @`";

/// An account's credit balances.
#[utoipa::path(get, path = "/v1/accounts/{account}/credits", tag = "accounts", operation_id = "credits.get",
    params(("account" = String, Path, description = ACCOUNT)),
    responses((status = 200, body = Credits), (status = 400, description = "Not an account name (`invalid_account`)")))]
async fn get(
    State(store): Ctx,
    ApiPath(account): ApiPath<String>,
) -> ApiResult<axum::Json<Credits>> {
    check_account(&account)?;
    Ok(axum::Json(credits_of(&store, &account).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Grant {
    #[schema(value_type = Channel)]
    pub(crate) channel: String,
    /// Credits to add; negative takes some back (never below zero).
    #[schema(minimum = -1_000_000_000, maximum = 1_000_000_000)]
    pub(crate) amount: i64,
    /// At most 500 characters.
    pub(crate) reason: Option<String>,
}

/// Grant credits to an account (its channel becomes metered).
#[utoipa::path(post, path = "/v1/accounts/{account}/credits", tag = "accounts", operation_id = "credits.grant",
    params(("account" = String, Path, description = ACCOUNT)),
    request_body = Grant,
    responses((status = 200, body = Credits),
        (status = 400, description = "Not an account name (`invalid_account`)"),
        (status = 409, description = "Taking back more than the balance (`insufficient_credits`)")))]
async fn grant(
    State(store): Ctx,
    principal: Principal,
    ApiPath(account): ApiPath<String>,
    ApiJson(body): ApiJson<Grant>,
) -> ApiResult<axum::Json<Credits>> {
    check_account(&account)?;
    let mut p = Problems::default();
    let channel = Channel::parse(&body.channel);
    if channel.is_none() {
        p.add("channel", format!("expected one of {}", Channel::names()));
    }
    if body.amount == 0 || body.amount.abs() > 1_000_000_000 {
        p.add(
            "amount",
            "expected a non-zero whole number of credits, at most 10^9",
        );
    }
    if let Some(reason) = &body.reason {
        validate::text(&mut p, "reason", reason, 500);
    }
    p.finish()?;
    let Some(channel) = channel else {
        return Err(ApiError::internal("a validated channel is missing"));
    };
    let granted = store
        .grant_credits(
            &account,
            channel,
            body.amount,
            body.reason.as_deref(),
            now_ms(),
        )
        .await?;
    if granted.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "insufficient_credits",
            format!(
                "taking {} {channel} credits would leave a negative balance",
                -body.amount
            ),
        ));
    }
    tracing::info!(account, channel = %channel, amount = body.amount, by = %principal.key_id, "credits granted");
    Ok(axum::Json(credits_of(&store, &account).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LedgerView {
    pub(crate) id: String,
    pub(crate) channel: Channel,
    pub(crate) delta: i64,
    pub(crate) kind: LedgerKind,
    pub(crate) reason: Option<String>,
    pub(crate) message_id: Option<String>,
    pub(crate) created_at: String,
}

impl From<LedgerEntry> for LedgerView {
    fn from(e: LedgerEntry) -> Self {
        LedgerView {
            id: e.id,
            channel: e.channel,
            delta: e.delta,
            kind: e.kind,
            reason: e.reason,
            message_id: e.message_id,
            created_at: rfc3339(e.created_at),
        }
    }
}

/// An account's credit ledger, newest first; its deltas sum to the balances.
#[utoipa::path(get, path = "/v1/accounts/{account}/credits/ledger", tag = "accounts", operation_id = "credits.ledger",
    params(("account" = String, Path, description = ACCOUNT), PageQuery),
    responses((status = 200, body = inline(List<LedgerView>)), (status = 400, description = "Not an account name (`invalid_account`)")))]
async fn ledger(
    State(store): Ctx,
    ApiPath(account): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<LedgerView>>> {
    check_account(&account)?;
    let (limit, page) = query.page(Cursor::Id("cl"))?;
    let entries = store.credit_ledger(&account, &page).await?;
    let views = entries.into_iter().map(LedgerView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |e: &LedgerView| e.id.clone(),
    )))
}
