//! Compliance frameworks against a real authority: the adopted frameworks listed and shown to
//! the operator and to a member's gateway, unknown ones refused, and nobody else served.

mod common;

use common::{backends, enrol_member, TestAuthority};
use psn_core::problem::ProblemType;

#[tokio::test]
async fn frameworks_are_listed_and_shown_to_operators_and_gateways() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        for client in [a.operator(), kent.client.clone()] {
            let list = client.frameworks().await.expect("list");
            let coco = list
                .frameworks
                .iter()
                .find(|f| f.id == "psn-coco")
                .expect("the Code of Connection");
            assert_eq!(coco.version, "2026.1");
            assert_eq!(coco.kinds, ["connection", "service-provision"]);
            let framework = client.framework("psn-coco", "2026.1").await.expect("show");
            assert_eq!(framework.controls.len() as u64, coco.controls);
            let firewalls = &framework.controls[0];
            assert_eq!(firewalls.title, "Boundary firewalls and internet gateways");
            assert_eq!(firewalls.cyber_essentials, ["Firewalls"]);
            assert!(!firewalls.evidence.is_empty());
            let missing = client
                .framework("psn-coco", "1999.1")
                .await
                .expect_err("no such version");
            assert_eq!(missing.problem_type(), Some(ProblemType::NotFound));
        }
        // Without credentials: nothing.
        let anonymous = a
            .raw()
            .get(format!("{}/v1/compliance/frameworks", a.url))
            .send()
            .await
            .expect("send");
        assert_eq!(anonymous.status(), 401);
        let odd = a
            .raw()
            .get(format!(
                "{}/v1/compliance/frameworks/..%2F..%2Fetc/passwd",
                a.url
            ))
            .bearer_auth(&a.operator_token)
            .send()
            .await
            .expect("send");
        assert_eq!(odd.status(), 404);
        a.stop().await;
    }
}
