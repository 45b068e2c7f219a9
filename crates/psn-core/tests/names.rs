//! Identifier model (DESIGN.md "Names"): round trips, rejection of every invalid shape, error
//! messages, member classes, serde and gateway URIs.

use proptest::prelude::*;
use psn_core::names::{
    ClassCode, GatewayCode, GatewayId, MemberClass, MemberClasses, MemberCode, MemberId, NameError,
    NamePart, NetworkId, ServiceCode, ServiceId, SubsystemCode, SubsystemId, MAX_ID_LEN,
};
use regex::Regex;
use std::fmt::Debug;
use std::str::FromStr;
use std::sync::LazyLock;

// ---------------------------------------------------------------------------------------------
// Oracles: the rules of the brief, written as plain regular expressions.
// ---------------------------------------------------------------------------------------------

const NETWORK: &str = "[A-Z0-9-]{2,32}";
const CLASS: &str = "[A-Z][A-Z0-9]{1,7}";
const CODE: &str = "[A-Z0-9][A-Z0-9-]{0,31}";
const SUBSYSTEM: &str = "[a-z0-9][a-z0-9-]{0,62}";
const SERVICE: &str = r"[a-z0-9][a-z0-9-]{0,62}(?:\.v[1-9][0-9]{0,3})?";
const GATEWAY: &str = "[a-z0-9][a-z0-9-]{0,30}";

fn anchored(parts: &[&str], seps: &[&str]) -> Regex {
    let mut source = String::from("^");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            source.push_str(&regex::escape(seps[i - 1]));
        }
        source.push_str(&format!("({part})"));
    }
    source.push('$');
    Regex::new(&source).expect("oracle regex")
}

static NETWORK_RE: LazyLock<Regex> = LazyLock::new(|| anchored(&[NETWORK], &[]));
static CLASS_RE: LazyLock<Regex> = LazyLock::new(|| anchored(&[CLASS], &[]));
static CODE_RE: LazyLock<Regex> = LazyLock::new(|| anchored(&[CODE], &[]));
static SUBSYSTEM_RE: LazyLock<Regex> = LazyLock::new(|| anchored(&[SUBSYSTEM], &[]));
static SERVICE_RE: LazyLock<Regex> = LazyLock::new(|| anchored(&[SERVICE], &[]));
static GATEWAY_RE: LazyLock<Regex> = LazyLock::new(|| anchored(&[GATEWAY], &[]));
static MEMBER_RE: LazyLock<Regex> =
    LazyLock::new(|| anchored(&[NETWORK, CLASS, CODE], &["/", "/"]));
static SUBSYSTEM_ID_RE: LazyLock<Regex> =
    LazyLock::new(|| anchored(&[NETWORK, CLASS, CODE, SUBSYSTEM], &["/", "/", "/"]));
static SERVICE_ID_RE: LazyLock<Regex> = LazyLock::new(|| {
    anchored(
        &[NETWORK, CLASS, CODE, SUBSYSTEM, SERVICE],
        &["/", "/", "/", "/"],
    )
});
static GATEWAY_ID_RE: LazyLock<Regex> =
    LazyLock::new(|| anchored(&[NETWORK, CLASS, CODE, GATEWAY], &["/", "/", "@"]));
static GATEWAY_URI_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^urn:psn:gateway:({NETWORK}):({CLASS}):({CODE}):({GATEWAY})$"
    ))
    .expect("oracle regex")
});

fn network_ok(s: &str) -> bool {
    NETWORK_RE.is_match(s) && !s.starts_with('-') && !s.ends_with('-') && !s.contains("--")
}

/// Whether `re` matches `s` and its first group (the network) obeys the extra network rules.
fn compound_ok(re: &Regex, s: &str) -> bool {
    re.captures(s)
        .is_some_and(|c| c.get(1).is_some_and(|n| network_ok(n.as_str())))
}

// ---------------------------------------------------------------------------------------------
// Generators of valid parts
// ---------------------------------------------------------------------------------------------

fn network() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Z0-9-]{0,30}[A-Z0-9]".prop_filter("no --", |s| !s.contains("--"))
}
fn class() -> impl Strategy<Value = String> {
    CLASS
}
fn member_code() -> impl Strategy<Value = String> {
    CODE
}
fn subsystem() -> impl Strategy<Value = String> {
    SUBSYSTEM
}
fn service() -> impl Strategy<Value = String> {
    (SUBSYSTEM, proptest::option::of(1u32..=9999)).prop_map(|(name, version)| match version {
        Some(v) => format!("{name}.v{v}"),
        None => name,
    })
}
fn gateway() -> impl Strategy<Value = String> {
    GATEWAY
}
fn member_text() -> impl Strategy<Value = String> {
    (network(), class(), member_code()).prop_map(|(n, c, m)| format!("{n}/{c}/{m}"))
}
fn subsystem_text() -> impl Strategy<Value = String> {
    (member_text(), subsystem()).prop_map(|(m, s)| format!("{m}/{s}"))
}
fn service_text() -> impl Strategy<Value = String> {
    (subsystem_text(), service()).prop_map(|(s, v)| format!("{s}/{v}"))
}
fn gateway_text() -> impl Strategy<Value = String> {
    (member_text(), gateway()).prop_map(|(m, g)| format!("{m}@{g}"))
}

/// Text that is often close to valid: segments from a loose alphabet joined by separators.
fn loose_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9.@:/%_ -]{0,40}",
        "[A-Z0-9-]{0,34}",
        "[a-z0-9.v-]{0,66}",
        prop::collection::vec(
            (
                "[A-Za-z0-9.-]{0,9}",
                prop::sample::select(vec!["/", "@", ":"])
            ),
            1..7
        )
        .prop_map(|parts| parts
            .into_iter()
            .map(|(p, s)| format!("{p}{s}"))
            .collect::<String>()),
        prop::collection::vec("[A-Z0-9]{1,9}|[a-z0-9]{1,9}|[A-Z]{2,3}", 1..7)
            .prop_map(|parts| parts.join("/")),
    ]
}

/// Characters no identifier may contain anywhere.
fn bad_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        ' ', '\0', '\n', '\r', '\t', '\u{7f}', '%', '?', '#', '\\', '_', '*', '+', '~', '"', '\'',
        '\u{a0}', '\u{200b}', '\u{2215}', '\u{ff0f}', '\u{0415}', '\u{0430}', '\u{202e}', 'é',
    ])
}

/// Every parser of the module, for hostile-input properties.
fn parse_all(s: &str) -> Vec<Result<(), NameError>> {
    fn p<T: FromStr<Err = NameError>>(s: &str) -> Result<(), NameError> {
        s.parse::<T>().map(drop)
    }
    vec![
        p::<NetworkId>(s),
        p::<ClassCode>(s),
        p::<MemberCode>(s),
        p::<MemberId>(s),
        p::<SubsystemCode>(s),
        p::<SubsystemId>(s),
        p::<ServiceCode>(s),
        p::<ServiceId>(s),
        p::<GatewayCode>(s),
        p::<GatewayId>(s),
        GatewayId::from_uri(s).map(drop),
        MemberClasses::uk_default().parse_member(s).map(drop),
    ]
}

/// Messages are bounded and printable ASCII (plus the truncation mark), whatever the input.
fn assert_safe_message(e: &NameError) {
    let message = e.to_string();
    assert!(
        message.len() < 600,
        "message too long ({}): {message}",
        message.len()
    );
    assert!(
        message
            .chars()
            .all(|c| c == '…' || (' '..='~').contains(&c)),
        "unsafe character in message: {message:?}"
    );
    assert!(
        e.input.chars().count() <= 81,
        "input echo too long: {:?}",
        e.input
    );
    assert!(!e.reason.is_empty());
}

fn round_trip<T>(text: &str) -> T
where
    T: FromStr<Err = NameError> + ToString + PartialEq + Debug + serde::Serialize,
    T: serde::de::DeserializeOwned,
{
    let value: T = text
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
    assert_eq!(value.to_string(), text);
    assert_eq!(value.to_string().parse::<T>().expect("reparse"), value);
    let json = serde_json::to_string(&value).expect("serialize");
    assert_eq!(json, serde_json::to_string(text).expect("json string"));
    assert_eq!(
        serde_json::from_str::<T>(&json).expect("deserialize"),
        value
    );
    value
}

/// Whether parsing `s` as `T` succeeds exactly when the oracle says it should.
fn agrees<T: FromStr<Err = NameError>>(s: &str, expected: bool) -> Result<(), TestCaseError> {
    let result = s.parse::<T>();
    prop_assert_eq!(
        result.is_ok(),
        expected,
        "{} {:?}: {:?}",
        std::any::type_name::<T>(),
        s,
        result.err()
    );
    Ok(())
}

fn err<T: FromStr<Err = NameError> + Debug>(text: &str) -> NameError {
    match text.parse::<T>() {
        Ok(v) => panic!("{text:?} should be refused, parsed as {v:?}"),
        Err(e) => {
            assert_safe_message(&e);
            e
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn network_round_trips(n in network()) {
        let id: NetworkId = round_trip(&n);
        prop_assert_eq!(id.as_str(), n.as_str());
    }

    #[test]
    fn class_round_trips(c in class()) {
        let id: ClassCode = round_trip(&c);
        prop_assert_eq!(id.as_str(), c.as_str());
    }

    #[test]
    fn member_code_round_trips(c in member_code()) {
        let id: MemberCode = round_trip(&c);
        prop_assert_eq!(id.as_str(), c.as_str());
    }

    #[test]
    fn subsystem_code_round_trips(c in subsystem()) {
        let id: SubsystemCode = round_trip(&c);
        prop_assert_eq!(id.as_str(), c.as_str());
    }

    #[test]
    fn service_code_round_trips(name in subsystem(), version in proptest::option::of(1u32..=9999)) {
        let text = match version { Some(v) => format!("{name}.v{v}"), None => name.clone() };
        let code: ServiceCode = round_trip(&text);
        prop_assert_eq!(code.name(), name.as_str());
        prop_assert_eq!(code.version(), version);
    }

    #[test]
    fn gateway_code_round_trips(c in gateway()) {
        let id: GatewayCode = round_trip(&c);
        prop_assert_eq!(id.as_str(), c.as_str());
    }

    #[test]
    fn member_round_trips(n in network(), c in class(), m in member_code()) {
        let id: MemberId = round_trip(&format!("{n}/{c}/{m}"));
        prop_assert_eq!(id.network().as_str(), n.as_str());
        prop_assert_eq!(id.class().as_str(), c.as_str());
        prop_assert_eq!(id.code().as_str(), m.as_str());
        let built = MemberId::new(n.parse().unwrap(), c.parse().unwrap(), m.parse().unwrap());
        prop_assert_eq!(built, id);
    }

    #[test]
    fn subsystem_round_trips(m in member_text(), s in subsystem()) {
        let id: SubsystemId = round_trip(&format!("{m}/{s}"));
        prop_assert_eq!(id.member().to_string(), m.clone());
        prop_assert_eq!(id.code().as_str(), s.as_str());
        prop_assert_eq!(SubsystemId::new(m.parse().unwrap(), s.parse().unwrap()), id);
    }

    #[test]
    fn service_round_trips(s in subsystem_text(), v in service()) {
        let id: ServiceId = round_trip(&format!("{s}/{v}"));
        prop_assert_eq!(id.subsystem().to_string(), s.clone());
        prop_assert_eq!(id.member(), id.subsystem().member());
        prop_assert_eq!(id.code().to_string(), v.clone());
        prop_assert_eq!(ServiceId::new(s.parse().unwrap(), v.parse().unwrap()), id);
    }

    #[test]
    fn gateway_round_trips(m in member_text(), g in gateway()) {
        let id: GatewayId = round_trip(&format!("{m}@{g}"));
        prop_assert_eq!(id.member().to_string(), m.clone());
        prop_assert_eq!(id.code().as_str(), g.as_str());
        prop_assert_eq!(GatewayId::new(m.parse().unwrap(), g.parse().unwrap()), id.clone());
        let uri = id.to_uri();
        prop_assert!(GATEWAY_URI_RE.is_match(&uri), "{}", uri);
        prop_assert_eq!(GatewayId::from_uri(&uri).unwrap(), id);
    }

    // -----------------------------------------------------------------------------------------
    // Exactly the valid texts are accepted (checked against the regex oracles).
    // -----------------------------------------------------------------------------------------

    #[test]
    fn segment_parsers_match_the_rules(s in loose_text()) {
        agrees::<NetworkId>(&s, network_ok(&s))?;
        agrees::<ClassCode>(&s, CLASS_RE.is_match(&s))?;
        agrees::<MemberCode>(&s, CODE_RE.is_match(&s))?;
        agrees::<SubsystemCode>(&s, SUBSYSTEM_RE.is_match(&s))?;
        agrees::<ServiceCode>(&s, SERVICE_RE.is_match(&s))?;
        agrees::<GatewayCode>(&s, GATEWAY_RE.is_match(&s))?;
    }

    #[test]
    fn compound_parsers_match_the_rules(s in loose_text()) {
        agrees::<MemberId>(&s, compound_ok(&MEMBER_RE, &s))?;
        agrees::<SubsystemId>(&s, compound_ok(&SUBSYSTEM_ID_RE, &s))?;
        agrees::<ServiceId>(&s, compound_ok(&SERVICE_ID_RE, &s))?;
        agrees::<GatewayId>(&s, compound_ok(&GATEWAY_ID_RE, &s))?;
        let uri = format!("urn:psn:gateway:{}", s.replace(['/', '@'], ":"));
        let expected = compound_ok(&GATEWAY_URI_RE, &uri);
        prop_assert_eq!(GatewayId::from_uri(&uri).is_ok(), expected, "uri {:?}", uri);
    }

    #[test]
    fn invalid_network_is_refused(s in "[A-Za-z0-9_. -]{0,40}") {
        prop_assume!(!network_ok(&s));
        let e = err::<NetworkId>(&s);
        prop_assert!(e.part == NamePart::Network || e.part == NamePart::Shape);
    }

    #[test]
    fn wrong_segment_counts_are_refused(parts in prop::collection::vec("[A-Z]{2,4}", 1..9)) {
        let text = parts.join("/");
        if parts.len() != 3 {
            prop_assert_eq!(err::<MemberId>(&text).part, NamePart::Shape);
            prop_assert_eq!(err::<GatewayId>(&format!("{text}@gw")).part, NamePart::Shape);
        }
        if parts.len() != 4 {
            prop_assert_eq!(err::<SubsystemId>(&text).part, NamePart::Shape);
        }
        if parts.len() != 5 {
            prop_assert_eq!(err::<ServiceId>(&text).part, NamePart::Shape);
        }
    }

    #[test]
    fn bad_characters_anywhere_are_refused(
        id in prop_oneof![member_text(), subsystem_text(), service_text(), gateway_text()],
        at in any::<prop::sample::Index>(),
        c in bad_char(),
    ) {
        let mut text = id.clone();
        text.insert(at.index(id.len() + 1), c);
        for result in parse_all(&text) {
            let e = result.expect_err("bad character accepted");
            assert_safe_message(&e);
        }
        let uri = format!("urn:psn:gateway:{}", text.replace(['/', '@'], ":"));
        prop_assert!(GatewayId::from_uri(&uri).is_err());
    }

    #[test]
    fn over_long_input_is_refused_as_shape(id in service_text(), pad in 1usize..10_000) {
        let text = format!("{id}{}", "a".repeat(MAX_ID_LEN + pad));
        for result in parse_all(&text) {
            let e = result.expect_err("over-long input accepted");
            assert_safe_message(&e);
            prop_assert_eq!(e.part, NamePart::Shape);
            prop_assert!(e.reason.contains("at most 256"), "{}", e.reason);
        }
    }

    #[test]
    fn arbitrary_input_never_panics_and_messages_are_safe(s in any::<String>()) {
        for e in parse_all(&s).into_iter().filter_map(Result::err) {
            assert_safe_message(&e);
        }
    }

    #[test]
    fn classes_validate_like_their_patterns(
        class in prop::sample::select(vec!["LA", "NHS", "POL", "GOV", "EDU", "CHC", "COM", "XX"]),
        code in "[A-Z0-9]{1,10}|[ENSW][0-9]{8}|SC[0-9]{6}|[1-9][0-9]{5}",
    ) {
        let classes = MemberClasses::uk_default();
        let text = format!("GB/{class}/{code}");
        let expected = match class {
            "LA" | "POL" => Regex::new("^[ENSW][0-9]{8}$").unwrap().is_match(&code),
            "NHS" => Regex::new("^[A-Z0-9]{3,5}$").unwrap().is_match(&code),
            "GOV" => Regex::new("^[A-Z]{1,3}[0-9]{1,6}$").unwrap().is_match(&code),
            "EDU" => Regex::new("^[1-9][0-9]{5}$").unwrap().is_match(&code),
            "CHC" => Regex::new("^(?:[0-9]{6,7}|SC[0-9]{6}|NIC[0-9]{6})$").unwrap().is_match(&code),
            "COM" => Regex::new("^(?:[0-9]{8}|[A-Z]{2}[0-9]{6})$").unwrap().is_match(&code),
            _ => false,
        };
        let result = classes.parse_member(&text);
        prop_assert_eq!(result.is_ok(), expected, "{} {:?}", text, result);
        if let Err(e) = result {
            let want = if class == "XX" { NamePart::Class } else { NamePart::MemberCode };
            prop_assert_eq!(e.part, want);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------------------------

#[test]
fn messages_from_the_brief() {
    assert_eq!(
        err::<MemberId>("GB/la/E1").to_string(),
        "invalid member identifier \"GB/la/E1\": class \"la\" must be 2-8 uppercase letters or \
         digits starting with a letter (found lowercase letter 'l' at character 1)"
    );
    assert_eq!(
        err::<SubsystemId>("GB/LA/E10000016").to_string(),
        "invalid subsystem identifier \"GB/LA/E10000016\": expected network/class/code/subsystem \
         (4 parts), found 3"
    );
}

#[test]
fn each_error_names_the_wrong_part() {
    let cases: Vec<(NameError, NamePart, &str)> = vec![
        (
            err::<MemberId>("gb/LA/E1"),
            NamePart::Network,
            "network \"gb\" must be",
        ),
        (
            err::<MemberId>("-GB/LA/E1"),
            NamePart::Network,
            "it starts with '-'",
        ),
        (
            err::<MemberId>("GB-/LA/E1"),
            NamePart::Network,
            "it ends with '-'",
        ),
        (
            err::<MemberId>("GB--X/LA/E1"),
            NamePart::Network,
            "contains \"--\"",
        ),
        (
            err::<MemberId>("G/LA/E1"),
            NamePart::Network,
            "it is 1 character long",
        ),
        (
            err::<MemberId>("GB/1A/E1"),
            NamePart::Class,
            "it starts with '1'",
        ),
        (
            err::<MemberId>("GB/LONGCLASS/E1"),
            NamePart::Class,
            "it is 9 characters long",
        ),
        (err::<MemberId>("GB//E1"), NamePart::Class, "class is empty"),
        (
            err::<MemberId>("GB/LA/e1"),
            NamePart::MemberCode,
            "member code \"e1\"",
        ),
        (
            err::<MemberId>("GB/LA/-E1"),
            NamePart::MemberCode,
            "it starts with '-'",
        ),
        (
            err::<MemberId>("GB/LA/E1@gw1"),
            NamePart::MemberCode,
            "found '@' at character 3",
        ),
        (
            err::<SubsystemId>("GB/LA/E1/Revenues"),
            NamePart::Subsystem,
            "uppercase letter 'R'",
        ),
        (
            err::<SubsystemId>("GB/LA/E1/.."),
            NamePart::Subsystem,
            "dot segments are not allowed",
        ),
        (
            err::<SubsystemId>("GB/LA/../rev"),
            NamePart::MemberCode,
            "dot segments",
        ),
        (
            err::<SubsystemId>("GB/LA/E1/."),
            NamePart::Subsystem,
            "dot segments",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/fsm_check"),
            NamePart::Service,
            "found '_'",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/.v2"),
            NamePart::Service,
            "no name before the version",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/.."),
            NamePart::Service,
            "dot segments",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc.v0"),
            NamePart::Version,
            "starts with 0",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc.v02"),
            NamePart::Version,
            "starts with 0",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc.v10000"),
            NamePart::Version,
            "above 9999",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc.2"),
            NamePart::Version,
            "instead of 'v'",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc."),
            NamePart::Version,
            "nothing follows",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc.v"),
            NamePart::Version,
            "number is missing",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc.v2.v3"),
            NamePart::Version,
            "found '.'",
        ),
        (
            err::<ServiceId>("GB/LA/E1/rev/svc.V2"),
            NamePart::Version,
            "instead of 'v'",
        ),
        (
            err::<GatewayId>("GB/LA/E1@GW1"),
            NamePart::Gateway,
            "gateway code \"GW1\"",
        ),
        (
            err::<GatewayId>("GB/LA/E1@"),
            NamePart::Shape,
            "ends with '@'",
        ),
        (
            err::<GatewayId>("GB/LA/E1"),
            NamePart::Shape,
            "(4 parts), found 3",
        ),
        (
            err::<GatewayId>("GB/LA/E1/gw1"),
            NamePart::Shape,
            "expected '@' before the gateway code",
        ),
        (
            err::<GatewayId>("GB@LA/E1/gw1"),
            NamePart::Shape,
            "expected '/' before the class",
        ),
        (
            err::<MemberId>("/GB/LA/E1"),
            NamePart::Shape,
            "starts with '/'",
        ),
        (
            err::<MemberId>("GB/LA/E1/"),
            NamePart::Shape,
            "ends with '/'",
        ),
        (
            err::<MemberId>("GB/LA/E1/x"),
            NamePart::Shape,
            "(3 parts), found 4",
        ),
        (err::<MemberId>(""), NamePart::Shape, "identifier is empty"),
        (
            err::<MemberId>(" GB/LA/E1"),
            NamePart::Network,
            "found a space at character 1",
        ),
        (
            err::<MemberId>("GB/LA/E1 "),
            NamePart::MemberCode,
            "found a space at character 3",
        ),
        (
            err::<MemberId>("GB/LA/E1\0"),
            NamePart::MemberCode,
            "control character U+0000",
        ),
        (
            err::<MemberId>("GB/LA/%45"),
            NamePart::MemberCode,
            "percent-encoding is not decoded",
        ),
        (
            err::<MemberId>("GB%2FLA%2FE1"),
            NamePart::Network,
            "percent-encoding",
        ),
        (
            err::<MemberId>("GB\u{ff0f}LA\u{ff0f}E1"),
            NamePart::Network,
            "non-ASCII character U+FF0F",
        ),
        (
            err::<MemberId>("GB/LA/\u{0415}10000016"),
            NamePart::MemberCode,
            "U+0415",
        ),
        (
            err::<MemberId>("GB/LA/E1/x\n"),
            NamePart::Shape,
            "control character U+000A at character 11",
        ),
        (
            err::<NetworkId>("GB KENT"),
            NamePart::Network,
            "found a space at character 3",
        ),
        (
            err::<ClassCode>("la"),
            NamePart::Class,
            "class \"la\" must be",
        ),
        (
            err::<MemberCode>(""),
            NamePart::MemberCode,
            "member code is empty",
        ),
        (
            err::<SubsystemCode>("a/b"),
            NamePart::Subsystem,
            "found '/'",
        ),
        (
            err::<ServiceCode>("x.v0"),
            NamePart::Version,
            "version \".v0\" must be",
        ),
        (
            err::<GatewayCode>(&"g".repeat(32)),
            NamePart::Gateway,
            "32 characters long",
        ),
    ];
    for (e, part, needle) in cases {
        assert_eq!(e.part, part, "{e}");
        assert!(
            e.to_string().contains(needle),
            "{e:?} does not contain {needle:?}"
        );
    }
}

#[test]
fn kinds_name_what_was_parsed() {
    assert_eq!(err::<NetworkId>("x").kind, "network");
    assert_eq!(err::<ClassCode>("x").kind, "class");
    assert_eq!(err::<MemberCode>("x y").kind, "member code");
    assert_eq!(err::<MemberId>("x").kind, "member");
    assert_eq!(err::<SubsystemId>("x").kind, "subsystem");
    assert_eq!(err::<ServiceId>("x").kind, "service");
    assert_eq!(err::<GatewayId>("x").kind, "gateway");
    assert_eq!(GatewayId::from_uri("x").unwrap_err().kind, "gateway");
}

#[test]
fn part_names() {
    let names: Vec<String> = [
        NamePart::Network,
        NamePart::Class,
        NamePart::MemberCode,
        NamePart::Subsystem,
        NamePart::Service,
        NamePart::Version,
        NamePart::Gateway,
        NamePart::Shape,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        names,
        [
            "network",
            "class",
            "member code",
            "subsystem",
            "service",
            "version",
            "gateway code",
            "shape"
        ]
    );
}

#[test]
fn hostile_input_is_escaped_and_truncated() {
    let hostile = format!("GB/LA/\u{202e}\0\"\n{}", "A".repeat(10_000));
    for result in parse_all(&hostile) {
        let e = result.expect_err("hostile input accepted");
        assert_safe_message(&e);
        assert_eq!(e.part, NamePart::Shape);
    }
    let e = err::<MemberId>("GB/LA/\u{202e}\0\"\n");
    assert_eq!(e.input, "GB/LA/\\u{202e}\\u{0}\\\"\\n");
    let long = format!("GB/LA/{}", "A".repeat(200));
    let e = err::<MemberId>(&long);
    assert!(e.input.ends_with('…'));
    assert_eq!(e.input.chars().count(), 81);
    for text in [
        "\0",
        "..",
        ".",
        "%2F",
        "/",
        "//",
        "@",
        "::",
        "\u{feff}GB/LA/E1",
        "ＧＢ/LA/E1",
    ] {
        for result in parse_all(text) {
            assert_safe_message(&result.expect_err("hostile input accepted"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Member classes
// ---------------------------------------------------------------------------------------------

#[test]
fn uk_classes_validate_codes() {
    let classes = MemberClasses::uk_default();
    for ok in [
        "GB/LA/E10000016",
        "GB/NHS/RJ1",
        "GB/POL/E23000032",
        "GB/GOV/D2",
        "GB/GOV/D6",
        "GB/EDU/100000",
        "GB/CHC/1123456",
        "GB/CHC/SC012345",
        "GB/CHC/NIC100001",
        "GB/COM/01234567",
        "GB/COM/SC123456",
        "GB-KENT/LA/W06000001",
    ] {
        classes
            .parse_member(ok)
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }

    let e = classes.parse_member("GB/LA/E1000001").unwrap_err();
    assert_eq!(e.part, NamePart::MemberCode);
    assert_eq!(
        e.to_string(),
        "invalid member identifier \"GB/LA/E1000001\": member code \"E1000001\" does not fit \
         class LA: expected Local authority (ONS GSS code, e.g. E10000016) (pattern \
         \"[ENSW][0-9]{8}\")"
    );

    let e = classes.parse_member("GB/XX/E10000016").unwrap_err();
    assert_eq!(e.part, NamePart::Class);
    assert_eq!(
        e.to_string(),
        "invalid member identifier \"GB/XX/E10000016\": class \"XX\" is not defined in network GB \
         (defined: CHC, COM, EDU, GOV, LA, NHS, POL)"
    );

    for bad in [
        "GB/EDU/012345",
        "GB/NHS/RJ",
        "GB/CHC/SC01234",
        "GB/COM/1234567",
        "GB/LA/X10000016",
    ] {
        assert_eq!(
            classes.parse_member(bad).unwrap_err().part,
            NamePart::MemberCode,
            "{bad}"
        );
    }
    // Shape errors come before class checks.
    assert_eq!(
        classes.parse_member("GB/la/E10000016").unwrap_err().part,
        NamePart::Class
    );
    assert!(MemberClasses::default()
        .parse_member("GB/LA/E10000016")
        .unwrap_err()
        .to_string()
        .contains("no classes are defined"));
}

#[test]
fn classes_are_configurable() {
    let mut classes = MemberClasses::uk_default();
    assert_eq!(classes.len(), 7);
    let la = classes.get(&"LA".parse().unwrap()).unwrap();
    assert_eq!(la.code_pattern(), "[ENSW][0-9]{8}");
    assert_eq!(
        la.description(),
        "Local authority (ONS GSS code, e.g. E10000016)"
    );
    assert!(la.accepts(&"E10000016".parse().unwrap()));
    assert!(
        !la.accepts(&"E10000016X".parse().unwrap()),
        "patterns are anchored"
    );
    assert!(
        !la.accepts(&"XE10000016".parse().unwrap()),
        "patterns are anchored"
    );

    classes.insert(MemberClass::new("LA".parse().unwrap(), "Anything", "[A-Z0-9-]+").unwrap());
    assert_eq!(classes.len(), 7, "insert replaces");
    classes.parse_member("GB/LA/ANY-THING").unwrap();
    classes.insert(MemberClass::new("TEST".parse().unwrap(), "Test", "T[0-9]").unwrap());
    classes.parse_member("GB/TEST/T1").unwrap();
    let codes: Vec<&str> = classes.iter().map(|c| c.code().as_str()).collect();
    assert_eq!(
        codes,
        ["CHC", "COM", "EDU", "GOV", "LA", "NHS", "POL", "TEST"]
    );
}

#[test]
fn bad_class_patterns_are_refused() {
    let code: ClassCode = "XX".parse().unwrap();
    for (pattern, needle) in [
        ("", "code pattern is empty"),
        ("[", "unclosed character class"),
        ("A)|(B", "not a usable regular expression"),
        ("(?:a{1000}){1000}", "too complex"),
        ("\\p{L}{1000}{1000}", "not a usable regular expression"),
    ] {
        let e = MemberClass::new(code.clone(), "x", pattern).expect_err(pattern);
        assert_eq!(e.part, NamePart::Class);
        assert_eq!(e.kind, "class");
        assert!(e.to_string().contains(needle), "{pattern:?}: {e}");
        assert_safe_message(&e);
    }
    let long = "A".repeat(513);
    let e = MemberClass::new(code.clone(), "x", &long).unwrap_err();
    assert!(e.reason.contains("513 characters long"), "{e}");
    assert_safe_message(&e);
    MemberClass::new(code, "x", &"A?".repeat(256)).expect("512 characters are fine");
}

#[test]
fn member_class_serde() {
    let la = MemberClasses::uk_default()
        .get(&"LA".parse().unwrap())
        .unwrap()
        .clone();
    let json = serde_json::to_value(&la).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "code": "LA",
            "description": "Local authority (ONS GSS code, e.g. E10000016)",
            "code_pattern": "[ENSW][0-9]{8}",
        })
    );
    let back: MemberClass = serde_json::from_value(json).unwrap();
    assert_eq!(back, la);
    assert!(back.accepts(&"E10000016".parse().unwrap()));

    let bad = serde_json::json!({ "code": "XX", "description": "x", "code_pattern": "(" });
    let e = serde_json::from_value::<MemberClass>(bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid class identifier \"XX\""), "{e}");
    let bad = serde_json::json!({ "code": "xx", "description": "x", "code_pattern": "A" });
    let e = serde_json::from_value::<MemberClass>(bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("class \"xx\" must be"), "{e}");
    let long =
        serde_json::json!({ "code": "XX", "description": "x", "code_pattern": "A".repeat(600) });
    assert!(serde_json::from_value::<MemberClass>(long).is_err());
}

// ---------------------------------------------------------------------------------------------
// serde of identifiers
// ---------------------------------------------------------------------------------------------

#[test]
fn identifiers_serialize_as_strings() {
    let id: ServiceId = "GB/GOV/D6/eligibility/fsm-check.v2".parse().unwrap();
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        "\"GB/GOV/D6/eligibility/fsm-check.v2\""
    );
    assert_eq!(id.code().name(), "fsm-check");
    assert_eq!(id.code().version(), Some(2));
    assert_eq!(id.member().to_string(), "GB/GOV/D6");
    let gw: GatewayId = serde_json::from_str("\"GB/LA/E10000016@gw1\"").unwrap();
    assert_eq!(gw.to_string(), "GB/LA/E10000016@gw1");
    // JSON escapes are decoded by JSON, then the text is checked as usual.
    let m: MemberId = serde_json::from_str("\"GB\\/LA\\/E10000016\"").unwrap();
    assert_eq!(m.to_string(), "GB/LA/E10000016");
}

#[test]
fn serde_rejects_invalid_text_with_the_name_error() {
    let e = serde_json::from_str::<MemberId>("\"GB/la/E1\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("invalid member identifier \"GB/la/E1\": class \"la\" must be"),
        "{e}"
    );
    let e = serde_json::from_str::<SubsystemId>("\"GB/LA/E1\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("(4 parts), found 3"), "{e}");
    assert!(serde_json::from_str::<NetworkId>("\"gb\"").is_err());
    assert!(serde_json::from_str::<NetworkId>("42").is_err());
    assert!(serde_json::from_str::<GatewayId>("null").is_err());
    assert!(serde_json::from_str::<ServiceCode>("\"svc.v0\"").is_err());
    assert!(serde_json::from_str::<MemberId>("\"GB/LA/E1\\u0000\"").is_err());
    assert!(serde_json::from_str::<MemberId>(&format!("\"{}\"", "A".repeat(10_000))).is_err());
    let e = serde_json::from_str::<MemberId>("7")
        .unwrap_err()
        .to_string();
    assert!(e.contains("a member id such as"), "{e}");
}

#[test]
fn ordering_follows_the_parts() {
    let mut ids: Vec<MemberId> = ["GB/NHS/RJ1", "GB/LA/E2", "GB/LA/E10000016", "AA/LA/E1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    ids.sort();
    let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        ["AA/LA/E1", "GB/LA/E10000016", "GB/LA/E2", "GB/NHS/RJ1"]
    );
    let a: ServiceCode = "svc".parse().unwrap();
    let b: ServiceCode = "svc.v1".parse().unwrap();
    assert!(a < b);
}

// ---------------------------------------------------------------------------------------------
// Gateway URIs
// ---------------------------------------------------------------------------------------------

#[test]
fn gateway_uri_round_trip() {
    let gw: GatewayId = "GB/LA/E10000016@gw1".parse().unwrap();
    assert_eq!(gw.to_uri(), "urn:psn:gateway:GB:LA:E10000016:gw1");
    assert_eq!(
        GatewayId::from_uri("urn:psn:gateway:GB:LA:E10000016:gw1").unwrap(),
        gw
    );
    let gw: GatewayId = "GB-TEST/COM/SC123456@primary-2".parse().unwrap();
    assert_eq!(GatewayId::from_uri(&gw.to_uri()).unwrap(), gw);
}

#[test]
fn gateway_uri_near_misses_are_refused() {
    for (uri, part) in [
        ("urn:psn:gateway:GB:LA:E10000016", NamePart::Shape),
        ("urn:psn:gateway:GB:LA:E10000016:gw1:x", NamePart::Shape),
        ("urn:psn:gateway:GB:LA:E10000016:gw1:", NamePart::Shape),
        ("urn:psn:gateway::GB:LA:E10000016:gw1", NamePart::Shape),
        ("urn:psn:gateway:GB::E10000016:gw1", NamePart::Class),
        ("URN:PSN:GATEWAY:GB:LA:E10000016:gw1", NamePart::Shape),
        ("urn:psn:Gateway:GB:LA:E10000016:gw1", NamePart::Shape),
        ("urn:psn:gateway:GB/LA/E10000016@gw1", NamePart::Shape),
        ("urn:psn:gateway:gb:LA:E10000016:gw1", NamePart::Network),
        ("urn:psn:gateway:GB:la:E10000016:gw1", NamePart::Class),
        ("urn:psn:gateway:GB:LA:e10000016:gw1", NamePart::MemberCode),
        ("urn:psn:gateway:GB:LA:E10000016:GW1", NamePart::Gateway),
        ("urn:psn:gateway:GB:LA:E10000016:gw1\n", NamePart::Gateway),
        (" urn:psn:gateway:GB:LA:E10000016:gw1", NamePart::Shape),
        (
            "urn:psn:gateway:GB%3ALA%3AE10000016%3Agw1",
            NamePart::Network,
        ),
        ("urn:psn:gateway:GB:LA:E10000016:gw1?x=1", NamePart::Gateway),
        ("urn:psn:gateway:GB:LA:E10000016:gw1#f", NamePart::Gateway),
        ("urn:psn:gateway:GB:LA:E10000016:..", NamePart::Gateway),
        ("urn:psn:gateway:", NamePart::Shape),
        ("urn:psn:gateway", NamePart::Shape),
        ("urn:psn:member:GB:LA:E10000016", NamePart::Shape),
        ("GB/LA/E10000016@gw1", NamePart::Shape),
        ("", NamePart::Shape),
    ] {
        let e = GatewayId::from_uri(uri).expect_err(uri);
        assert_eq!(e.part, part, "{uri:?}: {e}");
        assert_safe_message(&e);
    }
    let e = GatewayId::from_uri("urn:psn:gateway:GB:LA:E10000016:gw 1").unwrap_err();
    assert!(
        e.to_string().contains("found a space at character 3"),
        "{e}"
    );
    let e = GatewayId::from_uri("urn:psn:gateway:GB:LA:E10000016").unwrap_err();
    assert!(
        e.to_string()
            .contains("expected urn:psn:gateway:network:class:code:gateway (4 parts), found 3"),
        "{e}"
    );
}
