//! Benchmarks against a real authority (TLS, SQLite and PostgreSQL): returns submitted as CSV
//! and JSON with corrections kept, hostile files refused with nothing stored, reports and peers
//! over the real councils with synthetic returns, who may see what, saved peer groups, and the
//! embargo keeping a member's recent figures out of another member's report.

mod common;

use common::{backends, enrol_member, enrol_registered, EnrolledGateway, TestAuthority};
use psn_api::{
    ClientError, ImportRequest, NewMember, PeerChoice, PeerGroupSet, PublicationRule,
    ReportRequest, RowStatus, SubmitOutcome,
};
use psn_core::problem::ProblemType;

const KENT: &str = "GB/LA/E10000016";
const DEVON: &str = "GB/LA/E10000008";
const HEADER: &str =
    "process,year,cost,volume,unit,fte,satisfaction,note,confirm_outlier,publish_now";

fn kind(e: &ClientError) -> ProblemType {
    e.problem_type()
        .unwrap_or_else(|| panic!("not a problem: {e}"))
}

/// Registers every real organisation, as `psn authority member import` does.
async fn import_real_bodies(a: &TestAuthority) {
    let orgs = psn_orgdata::embedded().expect("organisations");
    let members: Vec<NewMember> = orgs
        .organisations
        .iter()
        .filter(|o| o.class == "LA")
        .map(|o| NewMember {
            id: format!("GB/LA/{}", o.code).parse().expect("id"),
            name: o.name.clone(),
            sector: Some(o.sector.as_str().to_owned()),
            region: o.region.clone(),
        })
        .collect();
    a.operator()
        .import_members(&ImportRequest { members })
        .await
        .expect("import");
}

/// What a refused submission must leave alone: the member's returns and the events trail.
async fn state_of(a: &TestAuthority, gw: &EnrolledGateway) -> (usize, u64) {
    let returns = gw.client.benchmark_returns(None).await.expect("returns");
    let events = a.operator().events(0, 10_000).await.expect("events");
    (
        returns.returns.len(),
        events.items.last().map_or(0, |e| e.seq),
    )
}

async fn post(
    a: &TestAuthority,
    gw: &EnrolledGateway,
    media: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let resp = gw
        .raw(a)
        .post(format!("{}/v1/gateway/benchmarks/returns", a.url))
        .header("content-type", media)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn csv(rows: &[&str]) -> Vec<u8> {
    let mut text = String::from(HEADER);
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text.into_bytes()
}

#[tokio::test]
async fn returns_are_validated_stored_all_or_nothing_and_corrected_with_history() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, KENT, "Kent County Council", "finance").await;
        let good = csv(&[
            "psn:4004,2024-25,408000.00,120000,invoice paid,9.5,,,,",
            "lgsl:979,2024-25,1590000,30000,employee paid,21,,first return,,",
        ]);

        let dry = kent
            .client
            .submit_returns_csv(good.clone(), true)
            .await
            .expect("dry run");
        assert!(dry.dry_run && !dry.stored, "{dry:?}");
        assert_eq!(dry.accepted, 2);
        assert_eq!(state_of(&a, &kent).await.0, 0, "a dry run stores nothing");

        let stored = kent
            .client
            .submit_returns_csv(good, false)
            .await
            .expect("submit");
        assert!(stored.stored && stored.accepted == 2, "{stored:?}");
        let correction =
            csv(&["psn:4004,2024-25,396000,120000,invoice paid,9,,scanning contract re-let,,"]);
        let corrected = kent
            .client
            .submit_returns_csv(correction, false)
            .await
            .expect("correct");
        assert_eq!(corrected.rows[0].status, RowStatus::Corrected);
        let list = kent.client.benchmark_returns(None).await.expect("returns");
        let invoices: Vec<_> = list
            .returns
            .iter()
            .filter(|r| r.process == "psn:4004")
            .collect();
        assert_eq!(invoices.len(), 2, "the first version is kept");
        assert_eq!((invoices[0].version, invoices[0].superseded), (2, false));
        assert_eq!((invoices[1].version, invoices[1].superseded), (1, true));
        assert_eq!(invoices[0].cost_pence, 39_600_000);
        assert!((invoices[0].cost_per_unit - 3.3).abs() < 1e-9);
        assert!(!invoices[0].synthetic);

        // Hostile and malformed files: refused with every row's reasons, nothing stored.
        let before = state_of(&a, &kent).await;
        let refused_rows: &[(&[&str], &str)] = &[
            (&["psn:4004,2024-25,4000,1000,payslip,,,,,"], "payslip"),
            (&["psn:4004,2024-25,-5,1000,invoice paid,,,,,"], "cost"),
            (&["psn:4004,2024-25,1e9,1000,invoice paid,,,,,"], "cost"),
            (&["psn:4004,2024-25,£5,1000,invoice paid,,,,,"], "cost"),
            (&["psn:4004,2024-25,5000,0,invoice paid,,,,,"], "volume"),
            (&["psn:4004,2031-32,5000,1000,invoice paid,,,,,"], "2031-32"),
            (
                &["psn:9999,2024-25,5000,1000,invoice paid,,,,,"],
                "not a benchmarked process",
            ),
            (
                &[
                    "psn:4004,2023-24,5000,1000,invoice paid,,,,,",
                    "psn:4004,2023-24,5100,1000,invoice paid,,,,,",
                ],
                "line",
            ),
            // £300 an invoice: far outside the plausible range, so it needs confirming.
            (
                &["psn:4004,2023-24,300000,1000,invoice paid,,,,,"],
                "confirm",
            ),
        ];
        for (rows, why) in refused_rows {
            let outcome = kent
                .client
                .submit_returns_csv(csv(rows), false)
                .await
                .expect("an outcome");
            assert!(!outcome.stored, "{rows:?}");
            let problems: String = outcome
                .rows
                .iter()
                .flat_map(|r| r.problems.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(problems.contains(why), "{rows:?}: {problems}");
            assert_eq!(
                state_of(&a, &kent).await,
                before,
                "{rows:?} changed something"
            );
        }
        // One bad row among good ones stores none of them.
        let mixed = csv(&[
            "psn:4005,2024-25,60000,10000,invoice raised,,,,,",
            "psn:4005,2023-24,-1,10000,invoice raised,,,,,",
        ]);
        let (status, body) = post(&a, &kent, "text/csv", mixed).await;
        assert_eq!(status, 422, "{body}");
        let outcome: SubmitOutcome = serde_json::from_str(&body).expect("outcome");
        assert_eq!((outcome.accepted, outcome.refused), (1, 1));
        assert_eq!(state_of(&a, &kent).await, before);

        // Whole-file refusals are problems.
        let huge = {
            let mut text = String::from(HEADER);
            let row = "\npsn:4004,2024-25,408000.00,120000,invoice paid,9.5,,padding padding padding padding,,";
            while text.len() <= psn_benchmark::returns::MAX_CSV_BYTES {
                text.push_str(row);
            }
            text.into_bytes()
        };
        let not_utf8 = {
            let mut bytes = csv(&["psn:4004,2024-25,408000.00,120000,invoice paid,,,,,"]);
            bytes.push(0xff);
            bytes
        };
        for (media, body, status) in [
            ("text/csv", huge, 400),
            ("text/csv", not_utf8, 400),
            ("text/csv", b"process,year,cost\npsn:4004,2024-25,5\n".to_vec(), 400),
            ("text/csv", format!("{HEADER},shoe_size\n").into_bytes(), 400),
            ("text/csv", Vec::new(), 400),
            ("application/json", br#"{"returns":[{"process":"psn:4004","year":"2024-25","cost_pence":1,"volume":1,"unit":"invoice paid","evil":true}]}"#.to_vec(), 400),
            ("application/json", br#"{"returns": "#.to_vec(), 400),
            ("application/xml", b"<returns/>".to_vec(), 415),
        ] {
            let (got, text) = post(&a, &kent, media, body).await;
            assert_eq!(got, status, "{media}: {text}");
            assert_eq!(state_of(&a, &kent).await, before);
        }
        // A JSON batch is accepted like CSV.
        let (status, body) = post(
            &a,
            &kent,
            "application/json",
            br#"{"returns":[{"process":"psn:4005","year":"2024-25","cost_pence":6000000,"volume":10000,"unit":"invoice raised"}]}"#.to_vec(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(state_of(&a, &kent).await.0, before.0 + 1);
        a.stop().await;
    }
}

#[tokio::test]
async fn reports_and_peers_over_the_real_councils_follow_the_publication_rules() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        import_real_bodies(&a).await;
        let today = time::OffsetDateTime::now_utc().date();
        let loaded = psn_authority::load_synthetic_returns(&a.data_dir(), today)
            .await
            .expect("synthetic returns");
        assert!(loaded > 300 * 13, "{loaded} returns");
        let kent = enrol_registered(&a, &KENT.parse().expect("id"), "finance").await;
        let devon = enrol_registered(&a, &DEVON.parse().expect("id"), "finance").await;

        let request = ReportRequest {
            process: "psn:4004".into(),
            ..ReportRequest::default()
        };
        let report = kent
            .client
            .benchmark_report(&request)
            .await
            .expect("report");
        assert!(report.synthetic);
        let distribution = report.distribution.as_ref().expect("distribution shown");
        assert!(distribution.contributors > 300);
        assert!(distribution.q1 <= distribution.median && distribution.median <= distribution.q3);
        let own = report.member.as_ref().expect("Kent's position");
        assert_eq!(own.member.to_string(), KENT);
        assert!(own.band.is_some() && own.percentile.is_some());
        assert_eq!(report.peers.len(), 15);
        assert!(report
            .peers
            .iter()
            .all(|p| p.published && p.cost_per_unit.is_some()));
        assert!(report.peer_quartiles.is_some());
        assert!(!report.savings.is_empty(), "a saving at the peers' median");
        assert!(
            report.savings[0].formula.contains('×'),
            "{}",
            report.savings[0].formula
        );

        // A member sees only its own reports, peers and returns.
        let other = ReportRequest {
            member: Some(DEVON.parse().expect("id")),
            ..request.clone()
        };
        let refused = kent
            .client
            .benchmark_report(&other)
            .await
            .expect_err("not Kent's");
        assert_eq!(kind(&refused), ProblemType::Forbidden);
        let refused = kent
            .client
            .benchmark_peers(Some(&DEVON.parse().expect("id")))
            .await
            .expect_err("not Kent's");
        assert_eq!(kind(&refused), ProblemType::Forbidden);
        // The operator may ask for anyone; without a member only the distribution.
        let network = a
            .operator()
            .benchmark_report(&request)
            .await
            .expect("network");
        assert!(network.member.is_none() && network.distribution.is_some());
        let for_devon = a.operator().benchmark_report(&other).await.expect("Devon");
        assert_eq!(
            for_devon.member.expect("position").member.to_string(),
            DEVON
        );

        for query in [
            "?process=psn:4004&proces=x",
            "?process=psn:4004&year=2024",
            "?process=psn:4004&peers=a%20b",
            "?process=psn:4004&process=psn:4005",
            "?member=GB/LA/E10000016",
        ] {
            a.assert_invalid_queries("/v1/benchmarks/report", &[query])
                .await;
        }
        let unknown = ReportRequest {
            process: "psn:1001".into(),
            ..ReportRequest::default()
        };
        let missing = kent
            .client
            .benchmark_report(&unknown)
            .await
            .expect_err("not benchmarked");
        assert_eq!(kind(&missing), ProblemType::NotFound);

        // Peers: councils, nearest first, each with why.
        let peers = kent.client.benchmark_peers(None).await.expect("peers");
        assert_eq!(peers.peers.len(), 15);
        assert!(peers
            .peers
            .windows(2)
            .all(|w| w[0].distance <= w[1].distance));
        for peer in &peers.peers {
            let total: f64 = peer.shares.iter().map(|s| s.share_percent).sum();
            assert!((total - 100.0).abs() < 0.01, "{peer:?}");
            assert!((0.0..=1.0).contains(&peer.distance));
        }

        // The embargo: Kent's 2025-26 figures are its own until 2027; Devon's group that
        // includes Kent shows Kent without figures, and the peers' quartiles are withheld.
        let recent = csv(&["psn:4004,2025-26,420000,121000,invoice paid,9,,,,"]);
        assert!(
            kent.client
                .submit_returns_csv(recent, false)
                .await
                .expect("submit")
                .stored
        );
        let group: Vec<_> = peers
            .peers
            .iter()
            .take(4)
            .map(|p| p.member.clone())
            .chain([KENT.parse().expect("id")])
            .collect();
        devon
            .client
            .save_peer_group("with-kent", &PeerGroupSet { members: group })
            .await
            .expect("save group");
        let embargoed = devon
            .client
            .benchmark_report(&ReportRequest {
                process: "psn:4004".into(),
                peers: PeerChoice::Group("with-kent".into()),
                year: Some("2025-26".parse().expect("year")),
                member: None,
            })
            .await
            .expect("report");
        let kent_row = embargoed
            .peers
            .iter()
            .find(|p| p.member.to_string() == KENT)
            .expect("Kent listed");
        assert!(!kent_row.published && kent_row.cost_per_unit.is_none());
        assert!(embargoed.peer_quartiles.is_none());
        assert!(
            embargoed.distribution.is_none(),
            "one contributor is below k"
        );
        let rules: Vec<PublicationRule> = embargoed.withheld.iter().map(|w| w.rule).collect();
        assert!(
            rules.contains(&PublicationRule::Embargo),
            "{:?}",
            embargoed.withheld
        );
        assert!(
            rules.contains(&PublicationRule::KContributors),
            "{:?}",
            embargoed.withheld
        );
        let json = serde_json::to_string(&embargoed).expect("json");
        assert!(
            !json.contains("3.47107"),
            "Kent's embargoed cost per unit leaked: {json}"
        );
        // Kent itself sees its own figure.
        let own_recent = kent
            .client
            .benchmark_report(&ReportRequest {
                process: "psn:4004".into(),
                year: Some("2025-26".parse().expect("year")),
                ..ReportRequest::default()
            })
            .await
            .expect("own");
        assert_eq!(own_recent.member.expect("own figures").volume, 121_000);

        // Saved groups: hostile names and members refused, deleting works once.
        for (name, members, problem) in [
            ("auto", vec![KENT, DEVON], ProblemType::InvalidRequest),
            ("a", vec![KENT], ProblemType::InvalidRequest),
            ("self", vec![DEVON, KENT], ProblemType::InvalidRequest),
            ("twice", vec![KENT, KENT], ProblemType::InvalidRequest),
            (
                "ghost",
                vec![KENT, "GB/LA/E99999999"],
                ProblemType::NotFound,
            ),
        ] {
            let members = members.iter().map(|m| m.parse().expect("id")).collect();
            let e = devon
                .client
                .save_peer_group(name, &PeerGroupSet { members })
                .await
                .expect_err(name);
            assert_eq!(kind(&e), problem, "{name}");
        }
        let groups = devon.client.peer_groups().await.expect("groups");
        assert_eq!(groups.groups.len(), 1);
        devon
            .client
            .delete_peer_group("with-kent")
            .await
            .expect("delete");
        let again = devon
            .client
            .delete_peer_group("with-kent")
            .await
            .expect_err("gone");
        assert_eq!(kind(&again), ProblemType::NotFound);
        a.stop().await;
    }
}

/// A network's own peer variables (a data file of GSS codes) and model (adding the variable
/// with a weight) change who a council's peers are and say why; a file with an unknown code,
/// or a model naming a variable no file gives, stops the authority from starting, with the
/// reason.
#[tokio::test]
async fn a_network_adds_peer_variables_as_data_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = psn_authority::datadir::DataDir::new(tmp.path().join("authority"));
    psn_authority::init(&data, "GB".parse().expect("network"), None)
        .await
        .expect("init");
    let profiles = psn_orgdata::council_profiles().expect("profiles");
    // A made-up variable that sets Kent apart from the other shire counties and beside Devon.
    let mut csv = String::from("code,broadband_gap\n");
    for profile in profiles.iter() {
        let value = match profile.code.as_str() {
            "E10000016" | "E10000008" => 90.0,
            _ => 1.0,
        };
        csv.push_str(&format!("{},{value}\n", profile.code));
    }
    std::fs::write(data.root().join("broadband.csv"), csv).expect("variables");
    let mut model = psn_benchmark::peers::embedded_model().expect("model");
    model.version = "gb-2026.2".into();
    model.variables.push(psn_api::PeerVariable {
        name: "broadband_gap".into(),
        label: "Premises without gigabit broadband, percent".into(),
        kind: psn_api::VariableKind::Numeric,
        log: false,
        weight: 50.0,
        source: "the network's own survey".into(),
    });
    std::fs::write(
        data.root().join("model.json"),
        serde_json::to_string(&model).expect("json"),
    )
    .expect("model");
    let settings_path = data.settings();
    let written = std::fs::read_to_string(&settings_path).expect("settings");
    // `init` writes the defaults as a [benchmarks] table; the test writes its own.
    assert!(
        written.contains("[benchmarks]\nembargo_months = 12\nmin_contributors = 5"),
        "{written}"
    );
    let original = written.replace(
        "[benchmarks]\nembargo_months = 12\nmin_contributors = 5",
        "",
    );
    let with = |extra: &str| {
        std::fs::write(
            &settings_path,
            format!("{original}\n[benchmarks]\n{extra}\n"),
        )
        .expect("settings");
    };
    let start = || {
        psn_authority::start(
            &data,
            psn_authority::ServeOptions {
                listen: "127.0.0.1:0".parse().expect("addr"),
                public_url: None,
            },
        )
    };

    with("peer_model = \"model.json\"");
    let refused = start().await.err().expect("a variable without values");
    assert!(refused.to_string().contains("broadband_gap"), "{refused}");
    std::fs::write(
        data.root().join("bad.csv"),
        "code,broadband_gap\nE99999999,3\n",
    )
    .expect("bad");
    with("peer_variables = [\"bad.csv\"]");
    let refused = start().await.err().expect("an unknown code");
    assert!(refused.to_string().contains("E99999999"), "{refused}");

    with("peer_model = \"model.json\"\npeer_variables = [\"broadband.csv\"]");
    let running = start().await.expect("start");
    let authority = running.authority.clone();
    let ca_der = authority.ca.certificate_der().to_vec();
    let token = std::fs::read_to_string(data.operator_token()).expect("token");
    let op = psn_api::AuthorityClient::operator(&running.url, &ca_der, token.trim()).expect("op");
    let members = profiles
        .iter()
        .filter(|p| {
            [
                "E10000016",
                "E10000008",
                "E10000014",
                "E10000030",
                "E10000012",
            ]
            .contains(&p.code.as_str())
        })
        .map(|p| NewMember {
            id: format!("GB/LA/{}", p.code).parse().expect("id"),
            name: p.code.clone(),
            sector: None,
            region: None,
        })
        .collect();
    op.import_members(&ImportRequest { members })
        .await
        .expect("import");
    assert_eq!(op.peer_model().await.expect("model").version, "gb-2026.2");
    let peers = op
        .benchmark_peers(Some(&KENT.parse().expect("id")))
        .await
        .expect("peers");
    assert_eq!(peers.model_version, "gb-2026.2");
    let nearest = &peers.peers[0];
    assert_eq!(nearest.member.to_string(), DEVON, "{peers:?}");
    let farthest = peers.peers.last().expect("peers");
    let gap = farthest
        .shares
        .iter()
        .find(|s| s.variable == "broadband_gap")
        .expect("the new variable's share");
    assert!(gap.share_percent > 50.0, "{farthest:?}");
    running.stop().await;
}
