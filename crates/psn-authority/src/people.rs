//! The operator's API for people who sign in to the web UI (`/v1/people`, docs/ui.md). Like the
//! rest of the API it takes the operator token and answers problems; each change is one
//! transaction with its event in the audit trail. Passwords are generated here, returned once,
//! and stored only as argon2id hashes.

use crate::api::{ApiError, Body, Operator};
use crate::store::NewPersonRecord;
use crate::ui::password;
use crate::Authority;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use psn_api::{check_username, NewPerson, PersonList, PersonPassword, PersonView, RoleChange};
use psn_core::problem::{Problem, ProblemType};
use serde::Deserialize;
use std::sync::Arc;

type ApiResult<T> = Result<T, ApiError>;

fn problem(kind: ProblemType, detail: impl Into<String>) -> ApiError {
    ApiError(Box::new(Problem::new(kind, detail).with_hop("authority")))
}

fn invalid(detail: impl Into<String>) -> ApiError {
    problem(ProblemType::InvalidRequest, detail)
}

/// The routes, merged into the authority's router.
pub fn router(authority: Arc<Authority>) -> Router {
    Router::new()
        .route("/v1/people", get(list).post(add))
        .route("/v1/people/{username}/disable", post(disable))
        .route("/v1/people/{username}/enable", post(enable))
        .route("/v1/people/{username}/role", post(set_role))
        .route("/v1/people/{username}/password", post(reset_password))
        .with_state(authority)
}

/// A body with no fields (the action is in the path).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn checked_username(username: &str) -> ApiResult<()> {
    check_username(username).map_err(invalid)
}

async fn new_password() -> ApiResult<(String, String)> {
    tokio::task::spawn_blocking(|| {
        let password = password::generate()?;
        let hash = password::hash(&password)?;
        Ok::<_, String>((password, hash))
    })
    .await
    .map_err(|e| problem(ProblemType::Internal, e.to_string()))?
    .map_err(|e| problem(ProblemType::Internal, e))
}

/// A person's generated id: `p-` and 24 random hex digits.
pub(crate) fn new_person_id() -> Result<String, String> {
    let mut id = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| "random number generator failed".to_owned())?;
    Ok(format!("p-{}", psn_core::encoding::hex(&id)))
}

async fn list(State(a): State<Arc<Authority>>, _op: Operator) -> ApiResult<Json<PersonList>> {
    Ok(Json(PersonList {
        items: a.store.people(None).await?,
    }))
}

async fn add(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Body(new): Body<NewPerson>,
) -> ApiResult<Json<PersonPassword>> {
    checked_username(&new.username)?;
    new.role
        .check_member(new.member.as_ref())
        .map_err(invalid)?;
    let (password, hash) = new_password().await?;
    let id = new_person_id().map_err(|e| problem(ProblemType::Internal, e))?;
    let record = NewPersonRecord {
        id: &id,
        username: &new.username,
        member: new.member.as_ref(),
        role: new.role,
        password_hash: &hash,
    };
    let person = a.store.add_person(&actor, &record).await?;
    Ok(Json(PersonPassword { person, password }))
}

async fn disable(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(username): Path<String>,
    Body(Empty {}): Body<Empty>,
) -> ApiResult<Json<PersonView>> {
    checked_username(&username)?;
    Ok(Json(a.store.disable_person(&actor, &username).await?))
}

async fn enable(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(username): Path<String>,
    Body(Empty {}): Body<Empty>,
) -> ApiResult<Json<PersonView>> {
    checked_username(&username)?;
    Ok(Json(a.store.enable_person(&actor, &username).await?))
}

async fn set_role(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(username): Path<String>,
    Body(change): Body<RoleChange>,
) -> ApiResult<Json<PersonView>> {
    checked_username(&username)?;
    change
        .role
        .check_member(change.member.as_ref())
        .map_err(invalid)?;
    let person = a
        .store
        .set_person_role(&actor, &username, change.role, change.member.as_ref())
        .await?;
    Ok(Json(person))
}

async fn reset_password(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(username): Path<String>,
    Body(Empty {}): Body<Empty>,
) -> ApiResult<Json<PersonPassword>> {
    checked_username(&username)?;
    let (password, hash) = new_password().await?;
    let person = a
        .store
        .reset_person_password(&actor, &username, &hash)
        .await?;
    Ok(Json(PersonPassword { person, password }))
}
