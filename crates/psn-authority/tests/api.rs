//! The authority API end to end over real TLS, on SQLite and (when configured) PostgreSQL:
//! every refusal with hostile input, and that refused requests change nothing.

mod common;

use common::{backends, TestAuthority};
use psn_api::*;
use psn_core::config::MemberStatus;
use psn_core::names::{GatewayId, MemberId};
use psn_core::problem::{Problem, ProblemType};
use psn_core::token::EnrolmentToken;
use psn_gateway::{EnrolOptions, GatewayDir};
use std::time::Duration;

fn kent() -> MemberId {
    "GB/LA/E10000016".parse().expect("id")
}

async fn add_kent(a: &TestAuthority) {
    a.operator()
        .add_member(&NewMember {
            id: kent(),
            name: "Kent County Council".into(),
            sector: Some("local-government".into()),
            region: Some("South East".into()),
        })
        .await
        .expect("add member");
}

fn problem_type(e: &ClientError) -> ProblemType {
    e.problem_type()
        .unwrap_or_else(|| panic!("expected a problem, got {e}"))
}

async fn token_for(a: &TestAuthority, gateway: &str) -> String {
    a.operator()
        .create_token(&TokenRequest {
            member: kent(),
            gateway: gateway.parse().expect("code"),
            ttl_seconds: None,
        })
        .await
        .expect("token")
        .token
}

async fn member_count(a: &TestAuthority) -> u64 {
    a.operator()
        .list_members(&MemberQuery::default())
        .await
        .expect("list")
        .total
}

#[tokio::test]
async fn members_are_registered_listed_and_refused_when_invalid() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        add_kent(&a).await;
        let op = a.operator();
        let dup = op
            .add_member(&NewMember {
                id: kent(),
                name: "Kent again".into(),
                sector: None,
                region: None,
            })
            .await
            .expect_err("duplicate");
        assert_eq!(problem_type(&dup), ProblemType::Conflict, "{backend:?}");

        for (id, why) in [
            ("GB/LA/E1000001", "code does not match the LA scheme"),
            ("GB/XX/E10000016", "unknown class"),
            ("GB-KENT/LA/E10000016", "another network"),
        ] {
            let err = op
                .add_member(&NewMember {
                    id: id.parse().expect("syntactically valid"),
                    name: "x".into(),
                    sector: None,
                    region: None,
                })
                .await
                .expect_err(why);
            assert_eq!(
                problem_type(&err),
                ProblemType::InvalidRequest,
                "{id}: {why}"
            );
        }
        let raw = a.raw();
        let post = |body: &'static str| {
            raw.post(format!("{}/v1/members", a.url))
                .bearer_auth(&a.operator_token)
                .header("content-type", "application/json")
                .body(body)
        };
        for body in [
            r#"{"id":"GB/la/E10000016","name":"x"}"#,
            r#"{"id":"GB/LA/../E10000016","name":"x"}"#,
            r#"{"id":"GB/LA/E10000019","name":""}"#,
            r#"{"id":"GB/LA/E10000019","name":"a\u0000b"}"#,
            r#"{"id":"GB/LA/E10000019","name":"x","admin":true}"#,
            r#"{"id":"GB/LA/E10000019""#,
            "not json",
        ] {
            let resp = post(body).send().await.expect("send");
            assert_eq!(resp.status(), 400, "{body}");
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            let problem: Problem = resp.json().await.expect("problem body");
            assert_eq!(problem.kind(), Some(ProblemType::InvalidRequest), "{body}");
            assert_eq!(problem.hop.as_deref(), Some("authority"));
        }
        let huge = format!(
            r#"{{"id":"GB/LA/E10000019","name":"{}"}}"#,
            "x".repeat(400_000)
        );
        let resp = raw
            .post(format!("{}/v1/members", a.url))
            .bearer_auth(&a.operator_token)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 413);
        let resp = raw
            .post(format!("{}/v1/members", a.url))
            .bearer_auth(&a.operator_token)
            .header("content-type", "text/plain")
            .body(r#"{"id":"GB/LA/E10000019","name":"x"}"#)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 415);
        assert_eq!(
            member_count(&a).await,
            1,
            "refused requests must change nothing ({backend:?})"
        );

        let listed = op
            .list_members(&MemberQuery {
                q: Some("kent".into()),
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(
            listed
                .items
                .iter()
                .map(|m| m.id.clone())
                .collect::<Vec<_>>(),
            vec![kent()]
        );
        let none = op
            .list_members(&MemberQuery {
                class: Some("NHS".into()),
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(none.total, 0);
        let missing = op
            .member(&"GB/LA/E10000019".parse().expect("id"))
            .await
            .expect_err("missing");
        assert_eq!(problem_type(&missing), ProblemType::NotFound);
        a.stop().await;
    }
}

#[tokio::test]
async fn operators_must_authenticate() {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    let raw = a.raw();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic YWRtaW46YWRtaW4="),
        Some("Bearer "),
        Some("Bearer"),
    ] {
        let mut req = raw.get(format!("{}/v1/members", a.url));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), 401, "{auth:?}");
        let problem: Problem = resp.json().await.expect("problem");
        assert_eq!(problem.kind(), Some(ProblemType::Unauthenticated));
    }
    let resp = raw
        .get(format!("{}/v1/nope", a.url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    let resp = raw
        .delete(format!("{}/v1/members", a.url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 405);
    let health: Health = raw
        .get(format!("{}/v1/health", a.url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(health.network, "GB");
    let openapi: serde_json::Value = raw
        .get(format!("{}/openapi.json", a.url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(openapi["openapi"], "3.1.0");
    a.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let doc: serde_json::Value =
        serde_json::from_str(psn_authority::api::OPENAPI).expect("valid JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let source = concat!(
        include_str!("../src/api.rs"),
        include_str!("../src/people.rs")
    );
    let routes: Vec<&str> = source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.split('"').nth(1))
        .collect();
    assert!(routes.len() >= 15, "found {routes:?}");
    for route in routes {
        assert!(
            paths.contains_key(route),
            "{route} missing from openapi.json"
        );
    }
}

#[tokio::test]
async fn enrolment_works_once_and_refuses_every_bad_token_or_csr() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        add_kent(&a).await;
        let token = token_for(&a, "gw1").await;
        let decoded = EnrolmentToken::decode(&token).expect("decode");
        assert_eq!(decoded.ca_pin, a.ca_pin);

        let enrol_client = AuthorityClient::enrolment(&a.url, &a.ca_pin).expect("client");
        let gateway: GatewayId = "GB/LA/E10000016@gw1".parse().expect("gw");
        let other: GatewayId = "GB/LA/E10000016@gw2".parse().expect("gw");
        let key = psn_pki::GatewayKey::generate().expect("key");

        // A CSR naming another identity is refused and does not consume the token.
        let err = enrol_client
            .enrol(&EnrolRequest {
                token: token.clone(),
                csr: key.csr_pem(&other).expect("csr"),
                address: None,
            })
            .await
            .expect_err("wrong identity");
        assert_eq!(problem_type(&err), ProblemType::CsrInvalid);
        for csr in [
            "",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            &"A".repeat(20_000),
        ] {
            let err = enrol_client
                .enrol(&EnrolRequest {
                    token: token.clone(),
                    csr: csr.into(),
                    address: None,
                })
                .await
                .expect_err("garbage csr");
            assert_eq!(problem_type(&err), ProblemType::CsrInvalid);
        }
        let err = enrol_client
            .enrol(&EnrolRequest {
                token: token.clone(),
                csr: key.csr_pem(&gateway).expect("csr"),
                address: Some("no port".into()),
            })
            .await
            .expect_err("bad address");
        assert_eq!(problem_type(&err), ProblemType::InvalidRequest);

        // Tampered tokens: another member, another gateway code, another pin, garbage.
        let mut forged = decoded.clone();
        forged.member = "GB/LA/E10000019".parse().expect("id");
        let mut forged_code = decoded.clone();
        forged_code.gateway = "gw9".parse().expect("code");
        let mut forged_secret = decoded.clone();
        forged_secret.secret = psn_core::encoding::b64url(&[1u8; 32]);
        for bad in [
            forged.encode(),
            forged_code.encode(),
            forged_secret.encode(),
            "psn-enrol-1.AAAA".into(),
            "hello".into(),
        ] {
            let err = enrol_client
                .enrol(&EnrolRequest {
                    token: bad,
                    csr: key.csr_pem(&gateway).expect("csr"),
                    address: None,
                })
                .await
                .expect_err("tampered");
            assert_eq!(problem_type(&err), ProblemType::TokenInvalid);
        }
        assert!(
            a.store()
                .gateways_of(&kent())
                .await
                .expect("gateways")
                .is_empty(),
            "refusals left a gateway behind"
        );

        // The genuine enrolment succeeds, through the real gateway code path.
        let dir = GatewayDir::new(a.gateway_dir("gw1"));
        let enrolled = psn_gateway::enrol(
            &dir,
            EnrolOptions {
                token: token.clone(),
                address: Some("127.0.0.1:9443".into()),
            },
        )
        .await
        .expect("enrol");
        assert_eq!(enrolled.gateway, gateway);
        assert!(enrolled.not_after > time::OffsetDateTime::now_utc() + time::Duration::days(6));

        // Reuse is refused and leaves the second directory empty.
        let dir2 = GatewayDir::new(a.gateway_dir("gw1-again"));
        let err = psn_gateway::enrol(
            &dir2,
            EnrolOptions {
                token: token.clone(),
                address: None,
            },
        )
        .await
        .expect_err("reuse");
        assert!(err.to_string().contains("already been used"), "{err}");
        assert!(!dir2.settings().exists() && !dir2.identity().exists());

        // Expired token.
        let expired = EnrolmentToken {
            gateway: "gw3".parse().expect("code"),
            secret: psn_core::encoding::b64url(&[3u8; 32]),
            ..decoded.clone()
        };
        a.store()
            .create_token(
                "operator:test",
                &expired.secret_hash(),
                &GatewayId::new(kent(), expired.gateway.clone()),
                time::OffsetDateTime::now_utc() - time::Duration::hours(1),
            )
            .await
            .expect("store token");
        let err = enrol_client
            .enrol(&EnrolRequest {
                token: expired.encode(),
                csr: key
                    .csr_pem(&"GB/LA/E10000016@gw3".parse().expect("gw"))
                    .expect("csr"),
                address: None,
            })
            .await
            .expect_err("expired");
        assert_eq!(problem_type(&err), ProblemType::TokenExpired);

        // A token pinned to another CA never reaches the authority: TLS refuses it.
        let wrong_pin = AuthorityClient::enrolment(&a.url, &psn_core::encoding::b64url(&[0u8; 32]))
            .expect("client");
        let err = wrong_pin
            .enrol(&EnrolRequest {
                token: token_for(&a, "gw4").await,
                csr: key.csr_pem(&gateway).expect("csr"),
                address: None,
            })
            .await
            .expect_err("pin");
        assert!(matches!(err, ClientError::Transport { .. }), "{err}");
        a.stop().await;
    }
}

#[tokio::test]
async fn configuration_follows_suspension_renewal_and_revocation() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        add_kent(&a).await;
        let op = a.operator();
        op.add_subsystem(
            &kent(),
            &NewSubsystem {
                code: "revenues".parse().expect("code"),
            },
        )
        .await
        .expect("subsystem");
        let dir = GatewayDir::new(a.gateway_dir("gw1"));
        psn_gateway::enrol(
            &dir,
            EnrolOptions {
                token: token_for(&a, "gw1").await,
                address: Some("127.0.0.1:9443".into()),
            },
        )
        .await
        .expect("enrol");
        let gateway: GatewayId = "GB/LA/E10000016@gw1".parse().expect("gw");

        // ETag and long poll: unchanged answers 304; a change wakes a waiting request.
        let (identity, _) = dir.load_identity().expect("identity");
        let gw_client = AuthorityClient::gateway(&a.url, &a.ca_der, identity).expect("client");
        let ConfigFetch::Document {
            etag: Some(etag), ..
        } = gw_client.config(None, None).await.expect("config")
        else {
            panic!("expected a document with an etag");
        };
        assert_eq!(
            gw_client.config(Some(&etag), None).await.expect("304"),
            ConfigFetch::NotModified
        );
        let waiter = {
            let client = gw_client.clone();
            let etag = etag.clone();
            tokio::spawn(async move {
                client
                    .config(Some(&etag), Some(Duration::from_secs(30)))
                    .await
            })
        };
        let changed = op
            .add_member(&NewMember {
                id: "GB/LA/E10000019".parse().expect("id"),
                name: "Lincolnshire County Council".into(),
                sector: None,
                region: None,
            })
            .await
            .expect("add");
        let ConfigFetch::Document {
            document: jws,
            etag: new_etag,
        } = waiter.await.expect("join").expect("long poll")
        else {
            panic!("long poll should return the new version");
        };
        assert_eq!(new_etag, Some(format!("\"v{}\"", changed.config_version)));
        let config = psn_pki::verify_config(&jws, &a.ca_der, &"GB".parse().expect("net"), 1 << 26)
            .expect("verify")
            .held
            .shared();
        assert!(config
            .gateways
            .iter()
            .any(|g| g.id == gateway && g.address.as_deref() == Some("127.0.0.1:9443")));
        assert!(config
            .subsystems
            .iter()
            .any(|s| s.to_string() == "GB/LA/E10000016/revenues"));

        // Renewal with the current certificate gives a new one for the same identity.
        let before = dir.load_identity().expect("identity").1;
        let renewed = psn_gateway::renew(&dir).await.expect("renew");
        assert_ne!(before, dir.load_identity().expect("identity").1);
        assert_eq!(psn_pki::gateway_identity(&renewed), Some(gateway.clone()));

        // Suspension removes the gateway from the next version and locks it out.
        let suspended = op
            .suspend_member(
                &kent(),
                &StatusChange {
                    reason: Some("Code of Connection lapsed".into()),
                },
            )
            .await
            .expect("suspend");
        assert_eq!(suspended.member.status, MemberStatus::Suspended);
        let ConfigFetch::Document { document: jws, .. } =
            op.config(None, None).await.expect("config")
        else {
            panic!("document")
        };
        let config = psn_pki::verify_config(&jws, &a.ca_der, &"GB".parse().expect("net"), 1 << 26)
            .expect("verify")
            .held
            .shared();
        assert_eq!(config.version, suspended.config_version);
        assert!(
            config.gateways.iter().all(|g| g.id != gateway),
            "suspended member's gateway still trusted"
        );
        assert!(config.subsystems.iter().all(|s| s.member() != &kent()));
        let err = psn_gateway::sync_config(&dir, None)
            .await
            .expect_err("suspended gateway");
        assert!(err.to_string().contains("suspended"), "{err}");
        let again = op
            .suspend_member(&kent(), &StatusChange::default())
            .await
            .expect_err("twice");
        assert_eq!(problem_type(&again), ProblemType::Conflict);

        // Reinstatement restores it; the gateway syncs to the newest version.
        let reinstated = op
            .reinstate_member(&kent(), &StatusChange::default())
            .await
            .expect("reinstate");
        let accepted = psn_gateway::sync_config(&dir, None).await.expect("sync");
        assert_eq!(
            accepted,
            psn_gateway::Accepted::New(reinstated.config_version)
        );

        // Revocation lists every unexpired serial and locks the gateway out.
        let revoked = op.revoke_gateway(&gateway).await.expect("revoke");
        assert_eq!(
            revoked.revoked_serials.len(),
            2,
            "both the first and the renewed certificate"
        );
        let ConfigFetch::Document { document: jws, .. } =
            op.config(None, None).await.expect("config")
        else {
            panic!("document")
        };
        let config = psn_pki::verify_config(&jws, &a.ca_der, &"GB".parse().expect("net"), 1 << 26)
            .expect("verify")
            .held
            .shared();
        for serial in &revoked.revoked_serials {
            assert!(config.revoked_serials.contains(serial));
        }
        assert!(config.gateways.iter().all(|g| g.id != gateway));
        let err = psn_gateway::sync_config(&dir, None)
            .await
            .expect_err("revoked gateway");
        assert!(err.to_string().contains("revoked"), "{err}");
        let err = op
            .create_token(&TokenRequest {
                member: kent(),
                gateway: "gw1".parse().expect("code"),
                ttl_seconds: None,
            })
            .await
            .expect_err("revoked code");
        assert_eq!(problem_type(&err), ProblemType::Forbidden);

        // The audit trail recorded who did what.
        let events = op.events(0, 1000).await.expect("events");
        let actions: Vec<&str> = events.items.iter().map(|e| e.action.as_str()).collect();
        for expected in [
            "network.init",
            "member.add",
            "subsystem.add",
            "token.create",
            "gateway.enrol",
            "gateway.renew",
            "member.suspended",
            "member.reinstate",
            "gateway.revoke",
        ] {
            assert!(
                actions.contains(&expected),
                "{expected} missing from {actions:?}"
            );
        }
        assert!(events
            .items
            .iter()
            .any(|e| e.action == "member.suspended" && e.actor == "operator:admin"));
        a.stop().await;
    }
}

#[tokio::test]
async fn gateway_endpoints_require_a_gateway_certificate() {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    let raw = a.raw();
    let resp = raw
        .post(format!("{}/v1/gateway/renew", a.url))
        .json(&serde_json::json!({ "csr": "x" }))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let resp = raw
        .get(format!("{}/v1/config", a.url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let resp = raw
        .get(format!("{}/v1/config?wait=abc", a.url))
        .bearer_auth(&a.operator_token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let resp = raw
        .get(format!("{}/v1/config/999", a.url))
        .bearer_auth(&a.operator_token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    let resp = raw
        .get(format!("{}/v1/config/1", a.url))
        .bearer_auth(&a.operator_token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/psn-config+json"
    );
    a.stop().await;
}

#[tokio::test]
async fn import_is_idempotent_and_reports_rejections() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let op = a.operator();
        let members = vec![
            NewMember {
                id: kent(),
                name: "Kent County Council".into(),
                sector: None,
                region: None,
            },
            NewMember {
                id: "GB/NHS/RJ1".parse().expect("id"),
                name: "Guy's and St Thomas'".into(),
                sector: None,
                region: None,
            },
            NewMember {
                id: "GB/LA/E1".parse().expect("id"),
                name: "Bad code".into(),
                sector: None,
                region: None,
            },
        ];
        let first = op
            .import_members(&ImportRequest {
                members: members.clone(),
            })
            .await
            .expect("import");
        assert_eq!(first.created.len(), 2);
        assert_eq!(first.rejected.len(), 1);
        assert!(
            first.rejected[0].reason.contains("E1"),
            "{:?}",
            first.rejected
        );
        let second = op
            .import_members(&ImportRequest { members })
            .await
            .expect("import again");
        assert!(second.created.is_empty());
        assert_eq!(second.existing.len(), 2);
        assert_eq!(
            second.config_version, first.config_version,
            "nothing changed, no new version"
        );
        a.stop().await;
    }
}

#[tokio::test]
async fn init_refuses_an_existing_authority_and_serve_refuses_a_foreign_database() {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    let err = psn_authority::init(&a.data_dir(), "GB".parse().expect("net"), None)
        .await
        .expect_err("second init");
    assert!(
        err.to_string().contains("already holds an authority"),
        "{err}"
    );
    a.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_parse() {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    add_kent(&a).await;
    let raw = a.raw();
    for path in [
        "/v1/members/GB/LA/E10000016",
        "/v1/members/GB/LA/E99999999",
        "/v1/no-such/../../etc/passwd",
    ] {
        let resp = raw
            .get(format!("{}{path}", a.url))
            .bearer_auth(&a.operator_token)
            .send()
            .await
            .expect("send");
        assert!(resp.status().as_u16() == 200 || resp.status().as_u16() == 404);
    }
    let resp = raw
        .get(format!("{}/metrics", a.url))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid exposition");
    let count = |route: &str, class: &str| {
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "psn_authority_api_requests_total"
                    && s.labels.get("route") == Some(route)
                    && s.labels.get("status_class") == Some(class)
            })
            .map(|s| match s.value {
                // OpenMetrics names the counter without `_total`; the parser then reads it untyped.
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum::<f64>()
    };
    let member = "/v1/members/:network/:class/:code";
    assert_eq!(count(member, "2xx"), 1.0);
    assert_eq!(count(member, "4xx"), 1.0);
    assert_eq!(
        count("unmatched", "4xx"),
        1.0,
        "hostile paths share one label"
    );
    assert!(
        !text.contains("passwd"),
        "paths asked for never become labels"
    );
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "psn_authority_config_version"));
    a.stop().await;
}

#[tokio::test]
async fn providers_declare_slas_for_their_own_services_only() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        add_kent(&a).await;
        a.operator()
            .add_subsystem(
                &kent(),
                &NewSubsystem {
                    code: "revenues".parse().expect("code"),
                },
            )
            .await
            .expect("subsystem");
        let dir = GatewayDir::new(a.gateway_dir("gw1"));
        psn_gateway::enrol(
            &dir,
            EnrolOptions {
                token: token_for(&a, "gw1").await,
                address: None,
            },
        )
        .await
        .expect("enrol");
        let (identity, _) = dir.load_identity().expect("identity");
        let kent_gw = AuthorityClient::gateway(&a.url, &a.ca_der, identity).expect("client");
        let service: psn_core::names::ServiceId = "GB/LA/E10000016/revenues/council-tax"
            .parse()
            .expect("service");
        let sla = psn_core::sla::SlaDeclaration {
            service: service.clone(),
            availability_percent: 99.9,
            window: psn_core::sla::SlaWindow::Month,
            latency: Some("p95<500ms".parse().expect("latency")),
            support_hours: Some("mon-fri 08:00-18:00".parse().expect("hours")),
        };

        // Not before the service is published.
        let e = kent_gw.declare_sla(&sla).await.expect_err("unpublished");
        assert_eq!(problem_type(&e), ProblemType::NotFound);
        kent_gw
            .publish_service(&ServiceListing {
                id: service.clone(),
                title: "Council tax balance".into(),
                description: String::new(),
                processes: vec!["lgsl:60".into()],
                details: Default::default(),
            })
            .await
            .expect("publish");
        let declared = kent_gw.declare_sla(&sla).await.expect("declare");
        assert_eq!(declared.items, vec![sla.clone()]);
        assert_eq!(
            a.operator().slas().await.expect("list").items,
            vec![sla.clone()]
        );

        // Refusals change nothing.
        let other: psn_core::names::ServiceId =
            "GB/GOV/D6/eligibility/fsm-check".parse().expect("service");
        let e = kent_gw
            .declare_sla(&psn_core::sla::SlaDeclaration {
                service: other,
                ..sla.clone()
            })
            .await
            .expect_err("another member's service");
        assert_eq!(problem_type(&e), ProblemType::Forbidden);
        let e = kent_gw
            .declare_sla(&psn_core::sla::SlaDeclaration {
                availability_percent: 100.5,
                ..sla.clone()
            })
            .await
            .expect_err("impossible target");
        assert_eq!(problem_type(&e), ProblemType::InvalidRequest);
        // Without a gateway certificate nothing is read, however the body looks.
        let raw = a.raw();
        for hostile in [
            r#"{"service":"GB/LA/E10000016/revenues/council-tax","availability_percent":99.9,"window":"fortnight"}"#,
            r#"{"service":"GB/LA/E10000016/revenues/council-tax","availability_percent":99.9,"window":"month","extra":1}"#,
            r#"{"service":"../../etc","availability_percent":99.9,"window":"month"}"#,
        ] {
            let resp = raw
                .post(format!("{}/v1/gateway/services/sla", a.url))
                .header("content-type", "application/json")
                .body(hostile)
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 401, "{hostile}");
        }
        assert_eq!(
            a.operator().slas().await.expect("list").items,
            vec![sla.clone()]
        );

        // Withdrawing the service withdraws its SLA.
        kent_gw
            .withdraw_service(&ServiceRef { id: service })
            .await
            .expect("withdraw");
        assert!(a.operator().slas().await.expect("list").items.is_empty());
        a.stop().await;
    }
}

/// Adds a member with a made-up county code, so each call changes the configuration.
async fn add_county(a: &TestAuthority, code: &str) -> u64 {
    a.operator()
        .add_member(&NewMember {
            id: format!("GB/LA/{code}").parse().expect("id"),
            name: format!("County {code}"),
            sector: None,
            region: None,
        })
        .await
        .expect("add member")
        .config_version
}

#[tokio::test]
async fn deltas_rebuild_exactly_the_signed_versions_and_nothing_else() {
    use psn_core::config_delta::{ConfigDelta, ContentError};
    use psn_gateway::{Accepted, ConfigStore, ConfigStoreError};
    use time::OffsetDateTime;
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        add_kent(&a).await;
        let op = a.operator();
        let network: psn_core::names::NetworkId = "GB".parse().expect("network");
        let dir = GatewayDir::new(a.gateway_dir("follower"));
        let mut store = ConfigStore::open(&dir, network.clone(), a.ca_der.clone()).expect("store");
        let now = OffsetDateTime::now_utc;
        let whole = |fetch| match fetch {
            ConfigFetch::Document { document, .. } => document,
            ConfigFetch::NotModified => panic!("expected a document"),
        };
        let delta = |fetch| match fetch {
            DeltaFetch::Delta(delta) => *delta,
            other => panic!("expected a delta, got {other:?}"),
        };
        let jws = whole(op.config(None, None).await.expect("config"));
        let Accepted::New(first) = store.accept(&jws, now()).expect("accept") else {
            panic!("new version expected");
        };

        // Current: nothing to send, at once or after a bounded wait.
        assert_eq!(
            op.config_delta(first, None).await.expect("delta"),
            DeltaFetch::NotModified
        );

        // A change: the delta gives the very document a full download gives, and it is kept.
        let second = add_county(&a, "E10000019").await;
        let step = delta(op.config_delta(first, None).await.expect("delta"));
        assert_eq!((step.from_version, step.version), (first, second));
        // A store that holds no version yet has nothing for a delta to change.
        let empty_dir = GatewayDir::new(a.gateway_dir("empty"));
        let mut empty =
            ConfigStore::open(&empty_dir, network.clone(), a.ca_der.clone()).expect("store");
        assert!(matches!(
            empty.accept_delta(&step, now()),
            Err(ConfigStoreError::NothingHeld)
        ));
        assert_eq!(empty.current(), None);
        assert_eq!(step.members.upsert.len(), 1, "{step:?}");
        assert!(step.services.is_empty() && step.members.remove.is_empty());
        assert_eq!(
            store.accept_delta(&step, now()).expect("accept delta"),
            Accepted::New(second)
        );
        let full = whole(op.config(None, None).await.expect("config"));
        let held = |store: &ConfigStore| store.document().expect("held").expect("document");
        assert_eq!(held(&store), full);
        let config_dir = dir.config_dir();
        let on_disk = |name: &str| std::fs::read_to_string(config_dir.join(name)).expect("read");
        let stored_step: ConfigDelta =
            serde_json::from_str(&on_disk(&format!("v{second}.delta.json"))).expect("delta");
        assert_eq!(
            stored_step, step,
            "the delta is what is kept, not the whole document"
        );
        assert!(!config_dir.join(format!("v{second}.json")).exists());
        let reopened = ConfigStore::open(&dir, network.clone(), a.ca_der.clone()).expect("reopen");
        assert_eq!(reopened.current().map(|c| c.version), Some(second));
        assert_eq!(held(&reopened), full, "a restart replays the delta");

        // Two steps behind: one composed delta. Tampered with, it changes nothing.
        add_county(&a, "E10000020").await;
        let fourth = add_county(&a, "E10000021").await;
        let both = delta(op.config_delta(second, None).await.expect("delta"));
        assert_eq!((both.from_version, both.version), (second, fourth));
        assert_eq!(both.members.upsert.len(), 2);
        let mut tampered: ConfigDelta = both.clone();
        tampered.members.upsert[0].status = MemberStatus::Active;
        tampered.members.upsert[0].name = "Not a county".into();
        let err = store.accept_delta(&tampered, now()).expect_err("tampered");
        assert!(
            matches!(err, ConfigStoreError::Delta(ContentError::Root)),
            "{err}"
        );
        let mut stale = both.clone();
        stale.from_version = first;
        let err = store.accept_delta(&stale, now()).expect_err("wrong base");
        assert!(
            matches!(err, ConfigStoreError::Delta(ContentError::WrongBase { .. })),
            "{err}"
        );
        let mut unsigned = both.clone();
        unsigned.head = step.head.clone();
        let err = store
            .accept_delta(&unsigned, now())
            .expect_err("another version's head");
        assert!(matches!(err, ConfigStoreError::Delta(_)), "{err}");
        assert_eq!(held(&store), full);
        assert!(!config_dir.join(format!("v{fourth}.delta.json")).exists());
        assert_eq!(
            store.accept_delta(&both, now()).expect("accept"),
            Accepted::New(fourth)
        );
        assert_eq!(
            store.accept_delta(&both, now()).expect("replayed"),
            Accepted::Unchanged(fourth),
            "the same version again changes nothing"
        );
        let err = store
            .accept_delta(&step, now())
            .expect_err("an older delta");
        assert!(
            matches!(err, ConfigStoreError::Rollback { offered, held } if offered == second && held == fourth),
            "{err}"
        );
        assert_eq!(store.current().map(|c| c.version), Some(fourth));

        // A stored delta altered on disk is refused when the store reopens: the restart does
        // not run on entries the authority never signed.
        let stored = config_dir.join(format!("v{fourth}.delta.json"));
        let genuine = std::fs::read_to_string(&stored).expect("read");
        std::fs::write(
            &stored,
            genuine.replacen("County E10000020", "Not a county", 1),
        )
        .expect("tamper");
        let err = ConfigStore::open(&dir, network.clone(), a.ca_der.clone())
            .err()
            .expect("a tampered stored delta");
        assert!(
            matches!(err, ConfigStoreError::Delta(ContentError::Root)),
            "{err}"
        );
        std::fs::write(&stored, genuine).expect("restore");
        let reopened = ConfigStore::open(&dir, network.clone(), a.ca_der.clone()).expect("reopen");
        assert_eq!(reopened.current().map(|c| c.version), Some(fourth));

        // A long poll wakes with the delta when a version is published.
        let waiter = {
            let op = op.clone();
            tokio::spawn(
                async move { op.config_delta(fourth, Some(Duration::from_secs(30))).await },
            )
        };
        let fifth = add_county(&a, "E10000022").await;
        let woken = delta(waiter.await.expect("join").expect("long poll"));
        assert_eq!((woken.from_version, woken.version), (fourth, fifth));

        // Versions the authority holds no delta from: fetch the whole document.
        for from in [0, fifth + 1, u64::MAX] {
            assert_eq!(
                op.config_delta(from, None).await.expect("answer"),
                DeltaFetch::Unavailable,
                "from {from}"
            );
        }

        // Hostile queries are refused with a problem, and nothing is served.
        a.assert_invalid_queries(
            "/v1/config/delta",
            &[
                "",
                "?from=",
                "?from=abc",
                "?from=-1",
                "?from=1&extra=2",
                "?from=1&wait=x",
            ],
        )
        .await;
        let resp = a
            .raw()
            .get(format!("{}/v1/config/delta?from=1", a.url))
            .send()
            .await
            .expect("send");
        assert_eq!(
            resp.status(),
            401,
            "deltas are for members and operators only"
        );
        a.stop().await;
    }
}

/// Notes of many answers at once are written in batches: every gateway whose long poll a new
/// version woke is recorded as holding it, and a note for a gateway the registry does not hold
/// fails its batch and is not written.
#[tokio::test]
async fn notes_of_answers_given_together_are_each_recorded() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let mut gateways = Vec::new();
        for code in ["E10000016", "E10000014", "E10000019", "E10000024"] {
            let id = format!("GB/LA/{code}");
            gateways.push(common::enrol_member(&a, &id, &format!("Council {code}"), "app").await);
        }
        let op = a.operator();
        let held = op
            .health()
            .await
            .expect("health")
            .config_version
            .expect("a version is published");
        let polls: Vec<_> = gateways
            .iter()
            .map(|g| g.client.config_delta(held, Some(Duration::from_secs(20))))
            .collect();
        let change = async {
            // Long polls that have not yet started waiting answer at once with the new
            // version, so whatever the order the change is what each gateway gets.
            op.add_member(&NewMember {
                id: "GB/LA/E10000034".parse().expect("id"),
                name: "Worcestershire County Council".into(),
                sector: None,
                region: None,
            })
            .await
            .expect("add")
        };
        let (answers, changed) = tokio::join!(futures_util::future::join_all(polls), change);
        for answer in answers {
            assert!(
                matches!(answer, Ok(DeltaFetch::Delta(ref d)) if d.version == changed.config_version),
                "{backend:?}: {answer:?}"
            );
        }
        let list = op.gateways(100, 0).await.expect("gateways");
        assert_eq!(list.items.len(), gateways.len());
        for gateway in &list.items {
            let config = gateway.config.as_ref().expect("recorded");
            assert_eq!(
                config.version, changed.config_version,
                "{backend:?}: {}",
                gateway.id
            );
        }

        let stranger: GatewayId = "GB/LA/E10000099@gw1".parse().expect("gateway");
        let known = &list.items[0].id;
        let now = time::OffsetDateTime::now_utc();
        let (unknown, alongside) = tokio::join!(
            a.store().record_config_fetch(&stranger, 1, now),
            a.store().record_config_fetch(known, 1, now),
        );
        assert!(
            unknown.is_err(),
            "{backend:?}: a note for no gateway was written"
        );
        let after = op.gateways(100, 0).await.expect("gateways");
        let recorded = after.items.iter().find(|g| &g.id == known).expect("listed");
        match alongside {
            Ok(()) => assert_eq!(recorded.config.as_ref().map(|c| c.version), Some(1)),
            Err(_) => assert_eq!(
                recorded.config.as_ref().map(|c| c.version),
                Some(changed.config_version),
                "{backend:?}: a failed batch changed nothing"
            ),
        }
        a.stop().await;
    }
}

/// The authority records which configuration version each gateway fetched (a document, a delta
/// or a `304` confirming the one it holds) and when; operators' fetches are not a gateway's.
#[tokio::test]
async fn the_authority_records_which_configuration_each_gateway_holds() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent_gw =
            common::enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        let op = a.operator();
        let gateway: GatewayId = "GB/LA/E10000016@gw1".parse().expect("gateway");
        let held = |list: &GatewayList| {
            list.items
                .iter()
                .find(|g| g.id == gateway)
                .expect("listed")
                .config
        };
        let before = op.gateways(100, 0).await.expect("gateways");
        assert_eq!(before.total, 1);
        assert_eq!(held(&before), None, "enrolled, never fetched");
        // The operator's fetch is not the gateway's.
        let _ = op.config(None, None).await.expect("operator fetch");
        assert_eq!(held(&op.gateways(100, 0).await.expect("gateways")), None);

        let started = time::OffsetDateTime::now_utc();
        let ConfigFetch::Document {
            etag: Some(etag), ..
        } = kent_gw.client.config(None, None).await.expect("config")
        else {
            panic!("expected a document");
        };
        let list = op.gateways(100, 0).await.expect("gateways");
        let first = held(&list).expect("recorded");
        assert_eq!(Some(first.version), list.config_version);
        assert!(first.fetched_at >= started - time::Duration::seconds(1));

        // A newer version is published: the gateway is behind until it asks again.
        let changed = op
            .add_member(&NewMember {
                id: "GB/LA/E10000019".parse().expect("id"),
                name: "Lincolnshire County Council".into(),
                sector: None,
                region: None,
            })
            .await
            .expect("add");
        let list = op.gateways(100, 0).await.expect("gateways");
        assert_eq!(list.config_version, Some(changed.config_version));
        assert_eq!(held(&list).expect("held").version, first.version);
        // Its delta brings it up to date; a 304 on the new version keeps it there.
        let _ = kent_gw
            .client
            .config_delta(first.version, None)
            .await
            .expect("delta");
        let now_held = held(&op.gateways(100, 0).await.expect("gateways")).expect("held");
        assert_eq!(now_held.version, changed.config_version);
        assert_ne!(etag, format!("\"v{}\"", changed.config_version));
        let new_etag = format!("\"v{}\"", changed.config_version);
        assert_eq!(
            kent_gw
                .client
                .config(Some(&new_etag), None)
                .await
                .expect("304"),
            ConfigFetch::NotModified
        );
        let confirmed = held(&op.gateways(100, 0).await.expect("gateways")).expect("held");
        assert_eq!(confirmed.version, changed.config_version);
        assert!(confirmed.fetched_at >= now_held.fetched_at);
        // The member's own view carries the same.
        let member = op.member(&kent()).await.expect("member");
        assert_eq!(member.gateways[0].config, Some(confirmed));

        // Paging and refusals.
        let page = op.gateways(1, 1).await.expect("second page");
        assert!(page.items.is_empty());
        assert_eq!((page.total, page.limit, page.offset), (1, 1, 1));
        a.assert_invalid_queries(
            "/v1/gateways",
            &[
                "?limit=0",
                "?limit=10001",
                "?offset=-1",
                "?limit=ten",
                "?offset=18446744073709551615",
                "?extra=1",
            ],
        )
        .await;
        let e = kent_gw.client.gateways(10, 0).await.expect_err("gateways");
        assert_eq!(
            e.problem_type(),
            Some(ProblemType::Unauthenticated),
            "a gateway is not the operator: {e}"
        );
        a.stop().await;
    }
}

/// A listing's terms (lifecycle, type, who may apply, classification, contact, price, terms,
/// areas) are stored and read back whole; each malformed combination is refused as an invalid
/// request and leaves the stored listing as it was.
#[tokio::test]
async fn listing_details_are_kept_and_malformed_ones_change_nothing() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent_gw =
            common::enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "hr").await;
        let service: psn_core::names::ServiceId =
            "GB/LA/E10000016/hr/payroll".parse().expect("service");
        let details = ListingDetails {
            version: Some("2.1".into()),
            lifecycle: Lifecycle::Deprecated,
            sunset: Some(time::macros::date!(2027 - 03 - 31)),
            service_type: ServiceType::Files,
            who_may_apply: WhoMayApply::MemberClasses,
            member_classes: vec!["LA".parse().expect("class"), "NHS".parse().expect("class")],
            classification: Classification::OfficialSensitive,
            contact: Some("payroll-team@kent.gov.uk".into()),
            price: Price::PerUnit {
                min_pence: 350,
                max_pence: 442,
                unit: "employee".into(),
                interval: PriceInterval::Month,
            },
            onboarding_terms: "A data sharing agreement.\nThree months' notice.".into(),
            areas: vec!["England".into(), "Kent".into()],
        };
        let listing = ServiceListing {
            id: service.clone(),
            title: "Payroll bureau".into(),
            description: "Monthly payroll for councils and schools".into(),
            processes: vec!["lgsl:979".into()],
            details: details.clone(),
        };
        kent_gw
            .client
            .publish_service(&listing)
            .await
            .expect("publish");
        let stored = a.operator().catalogue_entry(&service).await.expect("entry");
        assert_eq!(stored.listing, listing);
        // The wire form: kebab-case words, ISO dates, a tagged price.
        let json = serde_json::to_value(&details).expect("json");
        assert_eq!(json["lifecycle"], "deprecated");
        assert_eq!(json["sunset"], "2027-03-31");
        assert_eq!(json["who_may_apply"], "member-classes");
        assert_eq!(json["classification"], "official-sensitive");
        assert_eq!(json["price"]["kind"], "per-unit");

        let bad: Vec<(&str, ListingDetails)> = vec![
            (
                "deprecated without sunset",
                ListingDetails {
                    sunset: None,
                    ..details.clone()
                },
            ),
            (
                "sunset when live",
                ListingDetails {
                    lifecycle: Lifecycle::Live,
                    ..details.clone()
                },
            ),
            (
                "classes without member-classes",
                ListingDetails {
                    who_may_apply: WhoMayApply::AnyMember,
                    ..details.clone()
                },
            ),
            (
                "member-classes without classes",
                ListingDetails {
                    member_classes: vec![],
                    ..details.clone()
                },
            ),
            (
                "contact not an address",
                ListingDetails {
                    contact: Some("payroll team".into()),
                    ..details.clone()
                },
            ),
            (
                "contact with markup",
                ListingDetails {
                    contact: Some("<script>@x.uk".into()),
                    ..details.clone()
                },
            ),
            (
                "contact without a dotted domain",
                ListingDetails {
                    contact: Some("a@localhost".into()),
                    ..details.clone()
                },
            ),
            (
                "price min above max",
                ListingDetails {
                    price: Price::PerUnit {
                        min_pence: 500,
                        max_pence: 400,
                        unit: "employee".into(),
                        interval: PriceInterval::Month,
                    },
                    ..details.clone()
                },
            ),
            (
                "price unit empty",
                ListingDetails {
                    price: Price::PerUnit {
                        min_pence: 1,
                        max_pence: 2,
                        unit: " ".into(),
                        interval: PriceInterval::Each,
                    },
                    ..details.clone()
                },
            ),
            (
                "terms too long",
                ListingDetails {
                    onboarding_terms: "x".repeat(MAX_TERMS + 1),
                    ..details.clone()
                },
            ),
            (
                "terms with control characters",
                ListingDetails {
                    onboarding_terms: "a\u{0}b".into(),
                    ..details.clone()
                },
            ),
            (
                "too many areas",
                ListingDetails {
                    areas: vec!["Kent".into(); MAX_AREAS + 1],
                    ..details.clone()
                },
            ),
            (
                "an empty area",
                ListingDetails {
                    areas: vec![String::new()],
                    ..details.clone()
                },
            ),
            (
                "a version of two lines",
                ListingDetails {
                    version: Some("2\n3".into()),
                    ..details.clone()
                },
            ),
        ];
        for (what, details) in bad {
            let e = kent_gw
                .client
                .publish_service(&ServiceListing {
                    title: "Changed".into(),
                    details,
                    ..listing.clone()
                })
                .await
                .expect_err(what);
            assert_eq!(problem_type(&e), ProblemType::InvalidRequest, "{what}: {e}");
        }
        // Bodies no typed client would send.
        let raw = kent_gw.raw(&a);
        for body in [
            r#"{"id":"GB/LA/E10000016/hr/payroll","title":"x","details":{"lifecycle":"retired"}}"#,
            r#"{"id":"GB/LA/E10000016/hr/payroll","title":"x","details":{"sunset":"31/03/2027","lifecycle":"deprecated"}}"#,
            r#"{"id":"GB/LA/E10000016/hr/payroll","title":"x","details":{"price":{"kind":"per-unit"}}}"#,
            r#"{"id":"GB/LA/E10000016/hr/payroll","title":"x","details":{"price":{"kind":"free","extra":1}}}"#,
            r#"{"id":"GB/LA/E10000016/hr/payroll","title":"x","details":{"colour":"red"}}"#,
        ] {
            let resp = raw
                .post(format!("{}/v1/gateway/services", a.url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 400, "{body}");
        }
        assert_eq!(
            a.operator()
                .catalogue_entry(&service)
                .await
                .expect("entry")
                .listing,
            listing,
            "refusals changed nothing"
        );
        a.stop().await;
    }
}
