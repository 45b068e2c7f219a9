//! The demo's people: an operator, Kent County Council's member-admin and an assessor, each
//! with a generated password, so the web UI can be tried as each role at once.

use crate::{setup, DemoError};
use psn_api::{AuthorityClient, NewPerson, PersonRole};
use psn_core::names::MemberId;
use serde::Serialize;

/// Someone who can sign in to the demo's web UI.
#[derive(Debug, Clone, Serialize)]
pub struct DemoPerson {
    /// Username.
    pub username: String,
    /// Role.
    pub role: PersonRole,
    /// The member they act for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    /// Their password (a demo's: it is printed and written to demo.json).
    pub password: String,
}

const PEOPLE: [(&str, PersonRole, Option<&str>); 3] = [
    ("operator@psn-demo.example", PersonRole::Operator, None),
    (
        "kent-admin@psn-demo.example",
        PersonRole::MemberAdmin,
        Some("GB/LA/E10000016"),
    ),
    ("assessor@psn-demo.example", PersonRole::Assessor, None),
];

/// Adds the demo's people through the operator API.
pub(crate) async fn add(operator: &AuthorityClient) -> Result<Vec<DemoPerson>, DemoError> {
    let mut people = Vec::new();
    for (username, role, member) in PEOPLE {
        let member: Option<MemberId> = member
            .map(str::parse)
            .transpose()
            .map_err(setup("member"))?;
        let issued = operator
            .add_person(&NewPerson {
                username: username.to_owned(),
                member: member.clone(),
                role,
            })
            .await
            .map_err(setup("adding a person"))?;
        people.push(DemoPerson {
            username: username.to_owned(),
            role,
            member,
            password: issued.password,
        });
    }
    Ok(people)
}
