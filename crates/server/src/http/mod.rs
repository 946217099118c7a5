//! HTTP plumbing every capability uses and that uses none of them: problem documents,
//! extractors, request ids, the request pipeline (logging, metrics, timeout, running
//! requests to completion), access rules, body limits, the idempotency layer and the
//! OpenAPI document.

pub(crate) mod access;
pub(crate) mod extract;
pub(crate) mod idempotency;
pub(crate) mod limits;
pub(crate) mod listener;
pub(crate) mod observe;
pub(crate) mod openapi;
pub(crate) mod problem;
pub(crate) mod request_id;
pub(crate) mod validate;

pub(crate) use access::{Need, Principal, require};
pub(crate) use extract::{ApiBody, ApiJson, ApiPath, ApiQuery, Cursor, List, PageQuery};
pub(crate) use problem::{ApiError, ApiResult, FieldError, Problems};
