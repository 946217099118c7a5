//! `/v1/accounts/{account}/credits`: what each account may still send, and its ledger.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::credit::{CHANNELS, LedgerEntry};
use switchyard_core::time::{now_ms, rfc3339};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery, List, PageQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// Balances by channel; `null` for a channel the account is not metered on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credits {
    pub account: String,
    pub email: Option<i64>,
    pub sms: Option<i64>,
}

pub(crate) fn check_account(account: &str) -> Result<(), ApiError> {
    let valid = (1..=100).contains(&account.len())
        && account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_account",
            "an account is 1 to 100 letters, digits or _ - . : @",
        ))
    }
}

async fn credits_of(state: &AppState, account: &str) -> Result<Credits, ApiError> {
    let balances = state.store.credit_balances(account).await?;
    let of = |channel: &str| balances.iter().find(|(c, _)| c == channel).map(|(_, b)| *b);
    Ok(Credits {
        account: account.to_string(),
        email: of("email"),
        sms: of("sms"),
    })
}

/// An account's credit balances.
#[utoipa::path(get, path = "/v1/accounts/{account}/credits", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Credits)))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(account): Path<String>,
) -> ApiResult<axum::Json<Credits>> {
    principal.require(Scope::Accounts, false)?;
    check_account(&account)?;
    Ok(axum::Json(credits_of(&state, &account).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `email` or `sms`.
    pub channel: String,
    /// Credits to add; negative takes some back (never below zero).
    pub amount: i64,
    pub reason: Option<String>,
}

/// Grant credits to an account (its channel becomes metered).
#[utoipa::path(post, path = "/v1/accounts/{account}/credits", tag = "accounts", request_body = Grant, security(("bearer" = [])),
    responses((status = 200, body = Credits), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn grant(
    State(state): State<AppState>,
    principal: Principal,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<Grant>,
) -> ApiResult<axum::Json<Credits>> {
    principal.require(Scope::Accounts, true)?;
    check_account(&account)?;
    let mut errors = Vec::new();
    if !CHANNELS.contains(&body.channel.as_str()) {
        errors.push(FieldError {
            field: "channel".into(),
            message: format!("expected one of {}", CHANNELS.join(", ")),
        });
    }
    if body.amount == 0 || body.amount.abs() > 1_000_000_000 {
        errors.push(FieldError {
            field: "amount".into(),
            message: "expected a non-zero whole number of credits, at most 10^9".into(),
        });
    }
    if body.reason.as_ref().is_some_and(|r| r.len() > 500) {
        errors.push(FieldError {
            field: "reason".into(),
            message: "expected at most 500 characters".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let granted = state
        .store
        .grant_credits(
            &account,
            &body.channel,
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
                "taking {} {} credits would leave a negative balance",
                -body.amount, body.channel
            ),
        ));
    }
    tracing::info!(account, channel = %body.channel, amount = body.amount, by = %principal.key_id, "credits granted");
    Ok(axum::Json(credits_of(&state, &account).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerView {
    pub id: String,
    pub channel: String,
    pub delta: i64,
    /// `grant`, `reserve`, `commit` or `refund`.
    pub kind: String,
    pub reason: Option<String>,
    pub message_id: Option<String>,
    pub created_at: String,
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
#[utoipa::path(get, path = "/v1/accounts/{account}/credits/ledger", tag = "accounts", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<LedgerView>))))]
pub async fn ledger(
    State(state): State<AppState>,
    principal: Principal,
    Path(account): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<LedgerView>>> {
    principal.require(Scope::Accounts, false)?;
    check_account(&account)?;
    let (limit, page) = query.page()?;
    let entries = state.store.credit_ledger(&account, &page).await?;
    let views = entries.into_iter().map(LedgerView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |e: &LedgerView| e.id.clone(),
    )))
}
