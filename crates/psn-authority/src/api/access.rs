//! Access requests and members' webhooks (docs/access.md). A consumer member's gateway asks for
//! access to another member's service; the provider's gateway approves (the grants are made
//! here, as `/v1/gateway/grants` makes them, and published) or declines. The checks and changes
//! live in the `pub(crate)` functions below so the web UI's forms apply exactly the same rules.

use super::{ApiError, ApiResult, Body, Gateway, Operator, Query};
use crate::store::{RequestChange, RequestFilter};
use crate::Authority;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use psn_api::{
    AccessApproval, AccessDecline, AccessRequestList, AccessRequestQuery, AccessRequestView,
    NewAccessRequest, WebhookSet, WebhookView,
};
use psn_core::access::{validate_method, validate_path_pattern, Grant, Grantee};
use psn_core::names::MemberId;
use psn_core::problem::ProblemType;
use std::sync::Arc;

/// Longest purpose or reason, in characters.
pub const MAX_WORDS: usize = 2000;
/// Most methods one request may name.
pub const MAX_METHODS: usize = 16;

/// The routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route(
            "/v1/gateway/access-requests",
            get(list_own).post(create_request),
        )
        .route(
            "/v1/gateway/access-requests/{id}/approve",
            post(approve_request),
        )
        .route(
            "/v1/gateway/access-requests/{id}/decline",
            post(decline_request),
        )
        .route(
            "/v1/gateway/access-requests/{id}/withdraw",
            post(withdraw_request),
        )
        .route("/v1/access-requests", get(list_all))
        .route(
            "/v1/gateway/webhook",
            put(set_webhook).delete(remove_webhook),
        )
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ProblemType::InvalidRequest, detail)
}

/// Free text a person reads: trimmed, 1 to [`MAX_WORDS`] characters, no control characters but
/// line breaks (which a form's text area sends as CR LF).
pub(crate) fn check_words(what: &str, text: &str) -> ApiResult<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_WORDS {
        return Err(invalid(format!(
            "the {what} must be 1 to {MAX_WORDS} characters"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(invalid(format!(
            "the {what} must not contain control characters"
        )));
    }
    Ok(text.to_owned())
}

/// Checks and normalises methods: each valid, at most [`MAX_METHODS`], sorted, no repeats.
pub(crate) fn check_methods(methods: &[String]) -> ApiResult<Vec<String>> {
    if methods.len() > MAX_METHODS {
        return Err(invalid(format!("at most {MAX_METHODS} methods")));
    }
    for m in methods {
        validate_method(m).map_err(invalid)?;
    }
    let mut out = methods.to_vec();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Whether `id` has the shape request ids are given: `ar-` and 16 lowercase hex digits.
pub(crate) fn check_request_id(id: &str) -> ApiResult<()> {
    let ok = id.strip_prefix("ar-").is_some_and(|hex| {
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "an access request id is ar- followed by 16 lowercase hexadecimal digits",
        ))
    }
}

fn random_id(prefix: &str) -> ApiResult<String> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| ApiError::new(ProblemType::Internal, "random number generator failed"))?;
    Ok(format!("{prefix}{}", psn_core::encoding::hex(&bytes)))
}

/// Records a request by `member`'s `actor` after checking every field; changes nothing if one
/// is wrong.
pub(crate) async fn create(
    a: &Authority,
    actor: &str,
    member: &MemberId,
    new: NewAccessRequest,
) -> ApiResult<AccessRequestView> {
    if new.subsystem.member() != member {
        return Err(ApiError::new(
            ProblemType::Forbidden,
            format!("{} is not a subsystem of {member}", new.subsystem),
        ));
    }
    let purpose = check_words("purpose", &new.purpose)?;
    let methods = check_methods(&new.methods)?;
    if let Some(path) = &new.path {
        validate_path_pattern(path).map_err(invalid)?;
    }
    let new = NewAccessRequest {
        purpose,
        methods,
        ..new
    };
    let id = random_id("ar-")?;
    let created = a.store.create_access_request(actor, &id, &new).await?;
    a.webhooks.wake();
    Ok(created)
}

/// What an approval grants: the requested methods and path, or narrower ones. Refuses, as
/// `invalid-request`, an approval that would allow more than was asked for.
pub(crate) fn narrow(
    request: &AccessRequestView,
    approval: &AccessApproval,
) -> ApiResult<(Vec<String>, Option<String>)> {
    let methods = match &approval.methods {
        None => request.methods.clone(),
        Some(list) => {
            let list = check_methods(list)?;
            let widens = if request.methods.is_empty() {
                false
            } else {
                list.is_empty() || list.iter().any(|m| !request.methods.contains(m))
            };
            if widens {
                return Err(invalid(format!(
                    "an approval may narrow a request, not widen it: {} asked for {} only",
                    request.id,
                    request.methods.join(", ")
                )));
            }
            list
        }
    };
    let path = match (&approval.path, &request.path) {
        (None, asked) => asked.clone(),
        (Some(p), asked) => {
            validate_path_pattern(p).map_err(invalid)?;
            if let Some(asked) = asked {
                if !within(p, asked) {
                    return Err(invalid(format!(
                        "an approval may narrow a request, not widen it: path {p} is not within the requested {asked}"
                    )));
                }
            }
            Some(p.clone())
        }
    };
    Ok((methods, path))
}

/// Whether every path pattern `p` matches is also matched by `outer`.
fn within(p: &str, outer: &str) -> bool {
    match outer.strip_suffix('*') {
        None => p == outer,
        Some(prefix) => p.strip_suffix('*').unwrap_or(p).starts_with(prefix),
    }
}

/// The request `id` if `member` may decide it (it is on one of `member`'s services); otherwise
/// `not-found`, so other members learn nothing of it.
async fn incoming(a: &Authority, member: &MemberId, id: &str) -> ApiResult<AccessRequestView> {
    check_request_id(id)?;
    match a.store.access_request(id).await? {
        Some(r) if &r.provider == member => Ok(r),
        _ => Err(ApiError::new(
            ProblemType::NotFound,
            format!("no access request {id} on {member}'s services"),
        )),
    }
}

/// Approves request `id` on `member`'s service: one grant to the requesting subsystem per
/// approved method (one for every method if none), then a new configuration.
pub(crate) async fn approve(
    a: &Authority,
    actor: &str,
    member: &MemberId,
    id: &str,
    approval: &AccessApproval,
) -> ApiResult<AccessRequestView> {
    let request = incoming(a, member, id).await?;
    let (methods, path) = narrow(&request, approval)?;
    let each: Vec<Option<String>> = if methods.is_empty() {
        vec![None]
    } else {
        methods.iter().cloned().map(Some).collect()
    };
    let mut grants = Vec::with_capacity(each.len());
    for method in each {
        grants.push(Grant {
            id: random_id("g-")?,
            service: request.service.clone(),
            grantee: Grantee::Subsystem(request.subsystem.clone()),
            method,
            path: path.clone(),
        });
    }
    let change = RequestChange::Approve {
        provider: member.clone(),
        methods,
        path,
        grants,
    };
    let approved = a.store.change_access_request(actor, id, &change).await?;
    a.webhooks.wake();
    a.publisher.publish().await?;
    Ok(approved)
}

/// Declines request `id` on `member`'s service, with a reason the requester reads.
pub(crate) async fn decline(
    a: &Authority,
    actor: &str,
    member: &MemberId,
    id: &str,
    reason: &str,
) -> ApiResult<AccessRequestView> {
    let reason = check_words("reason", reason)?;
    incoming(a, member, id).await?;
    let change = RequestChange::Decline {
        provider: member.clone(),
        reason,
    };
    let declined = a.store.change_access_request(actor, id, &change).await?;
    a.webhooks.wake();
    Ok(declined)
}

/// Withdraws `member`'s own pending request `id`.
pub(crate) async fn withdraw(
    a: &Authority,
    actor: &str,
    member: &MemberId,
    id: &str,
) -> ApiResult<AccessRequestView> {
    check_request_id(id)?;
    let change = RequestChange::Withdraw {
        requester: member.clone(),
    };
    let withdrawn = a.store.change_access_request(actor, id, &change).await?;
    a.webhooks.wake();
    Ok(withdrawn)
}

/// Sets `member`'s webhook with a fresh signing secret, returned once.
pub(crate) async fn put_webhook(
    a: &Authority,
    actor: &str,
    member: &MemberId,
    url: &str,
) -> ApiResult<WebhookView> {
    crate::webhook::validate_url(url).map_err(invalid)?;
    let secret =
        crate::webhook::new_secret().map_err(|e| ApiError::new(ProblemType::Internal, e))?;
    a.store.set_webhook(actor, member, url, &secret).await?;
    Ok(WebhookView {
        member: member.clone(),
        url: url.to_owned(),
        secret: Some(secret),
    })
}

fn actor(gateway: &psn_core::names::GatewayId) -> String {
    format!("gateway:{gateway}")
}

async fn create_request(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(new): Body<NewAccessRequest>,
) -> ApiResult<(StatusCode, axum::Json<AccessRequestView>)> {
    let created = create(&a, &actor(&gateway), gateway.member(), new).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

async fn list_own(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Query(q): Query<AccessRequestQuery>,
) -> ApiResult<axum::Json<AccessRequestList>> {
    let filter = RequestFilter {
        member: Some(gateway.member().clone()),
        direction: q.direction,
        state: q.state,
    };
    let items = a.store.access_requests(&filter).await?;
    Ok(axum::Json(AccessRequestList { items }))
}

async fn list_all(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Query(q): Query<AccessRequestQuery>,
) -> ApiResult<axum::Json<AccessRequestList>> {
    if q.direction.is_some() {
        return Err(invalid(
            "direction applies to a member's own listing (/v1/gateway/access-requests)",
        ));
    }
    let filter = RequestFilter {
        member: None,
        direction: None,
        state: q.state,
    };
    let items = a.store.access_requests(&filter).await?;
    Ok(axum::Json(AccessRequestList { items }))
}

/// A JSON body that may be left out (an approval without narrowing): empty is the default.
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<T> {
    if body.is_empty() {
        return Ok(T::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(ApiError::new(
            ProblemType::UnsupportedMediaType,
            "send the body as application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| invalid(format!("the body: {e}")))
}

async fn approve_request(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<AccessRequestView>> {
    let approval: AccessApproval = optional_body(&headers, &body)?;
    let approved = approve(&a, &actor(&gateway), gateway.member(), &id, &approval).await?;
    Ok(axum::Json(approved))
}

async fn decline_request(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Path(id): Path<String>,
    Body(d): Body<AccessDecline>,
) -> ApiResult<axum::Json<AccessRequestView>> {
    let declined = decline(&a, &actor(&gateway), gateway.member(), &id, &d.reason).await?;
    Ok(axum::Json(declined))
}

async fn withdraw_request(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AccessRequestView>> {
    let withdrawn = withdraw(&a, &actor(&gateway), gateway.member(), &id).await?;
    Ok(axum::Json(withdrawn))
}

async fn set_webhook(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(w): Body<WebhookSet>,
) -> ApiResult<axum::Json<WebhookView>> {
    Ok(axum::Json(
        put_webhook(&a, &actor(&gateway), gateway.member(), &w.url).await?,
    ))
}

async fn remove_webhook(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
) -> ApiResult<axum::Json<WebhookView>> {
    let url = a
        .store
        .remove_webhook(&actor(&gateway), gateway.member())
        .await?;
    Ok(axum::Json(WebhookView {
        member: gateway.member().clone(),
        url,
        secret: None,
    }))
}
