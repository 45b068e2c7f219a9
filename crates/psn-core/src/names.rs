//! The identifiers of DESIGN.md "Names": networks, members, subsystems, services and gateways.
//!
//! Identifiers cross every trust boundary (URL paths, headers, certificate SANs, the signed
//! configuration, audit records), so parsing is strict: each value has exactly one text, nothing
//! is decoded or normalised, and anything else is refused with a message that names the wrong
//! part and says why. Echoed input is escaped and cut short so that hostile text cannot flood or
//! forge log lines.
//!
//! Texts:
//!
//! | type | text |
//! |---|---|
//! | [`NetworkId`] | `GB` |
//! | [`MemberId`] | `GB/LA/E10000016` |
//! | [`SubsystemId`] | `GB/LA/E10000016/revenues` |
//! | [`ServiceId`] | `GB/GOV/D6/eligibility/fsm-check.v2` |
//! | [`GatewayId`] | `GB/LA/E10000016@gw1`, as a URI `urn:psn:gateway:GB:LA:E10000016:gw1` |

use regex::{Regex, RegexBuilder};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

/// Longest identifier text (in bytes) that is even looked at. The longest valid identifier is
/// about 210 bytes; anything longer is refused before any other work so that hostile input costs
/// nothing.
pub const MAX_ID_LEN: usize = 256;

/// Longest member class code pattern (in characters). Real schemes need a few dozen.
pub const MAX_PATTERN_LEN: usize = 512;

/// Prefix of a gateway's URI (its certificate's URI SAN).
pub const GATEWAY_URI_PREFIX: &str = "urn:psn:gateway:";

/// How much of the input an error message repeats.
const ECHO_CHARS: usize = 80;
/// How much of one segment an error message repeats (the whole input is echoed too).
const SEGMENT_ECHO_CHARS: usize = 40;
/// Compiled-size budget of a class pattern, so that a hostile pattern cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Most class codes listed in an "unknown class" message.
const KNOWN_CLASSES_SHOWN: usize = 16;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Which part of an identifier was wrong; used in error messages and by callers that want to
/// point at a form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamePart {
    /// The network id (`GB`).
    Network,
    /// The member class (`LA`).
    Class,
    /// The member code (`E10000016`).
    MemberCode,
    /// The subsystem code (`revenues`).
    Subsystem,
    /// The service name (`fsm-check`).
    Service,
    /// The service version suffix (`.v2`).
    Version,
    /// The gateway code (`gw1`).
    Gateway,
    /// The overall shape: length, separators, number of parts, stray characters.
    Shape,
}

impl fmt::Display for NamePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Network => "network",
            Self::Class => "class",
            Self::MemberCode => "member code",
            Self::Subsystem => "subsystem",
            Self::Service => "service",
            Self::Version => "version",
            Self::Gateway => "gateway code",
            Self::Shape => "shape",
        })
    }
}

/// Why a text is not a valid identifier.
///
/// Displays as `invalid {kind} identifier "{input}": {part} {reason}` (the part is left out for
/// [`NamePart::Shape`], whose reason stands alone), e.g.
/// `invalid member identifier "GB/la/E1": class "la" must be 2-8 uppercase letters or digits
/// starting with a letter (found lowercase letter 'l' at character 1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// What was being parsed: `"network"`, `"member"`, `"subsystem"`, `"service"`, `"gateway"`,
    /// `"class"`, `"member code"`, `"subsystem code"`, `"service code"` or `"gateway code"`.
    pub kind: &'static str,
    /// The offending text, safe to log: escaped like the inside of a Rust string literal (so
    /// only printable ASCII) and cut to 80 characters, with `…` marking the cut.
    pub input: String,
    /// The part that was wrong.
    pub part: NamePart,
    /// Why, in words, naming the rule that was broken.
    pub reason: String,
}

impl NameError {
    fn new(kind: &'static str, input: &str, part: NamePart, reason: String) -> Self {
        Self {
            kind,
            input: echo(input, ECHO_CHARS),
            part,
            reason,
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} identifier \"{}\": ", self.kind, self.input)?;
        if self.part == NamePart::Shape {
            f.write_str(&self.reason)
        } else {
            write!(f, "{} {}", self.part, self.reason)
        }
    }
}

impl std::error::Error for NameError {}

/// Escapes `text` to printable ASCII and cuts the result to at most `max_chars` characters (plus
/// `…` if anything was cut), so that escapes cannot inflate what is echoed.
fn echo(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut escaped = String::new();
    for c in text.chars() {
        escaped.clear();
        if (' '..='~').contains(&c) && c != '"' && c != '\\' {
            escaped.push(c);
        } else {
            escaped.extend(c.escape_default());
        }
        if out.len() + escaped.len() > max_chars {
            out.push('…');
            break;
        }
        out.push_str(&escaped);
    }
    out
}

/// [`echo`] in double quotes, for a segment inside a reason.
fn quote(text: &str) -> String {
    format!("\"{}\"", echo(text, SEGMENT_ECHO_CHARS))
}

/// Names a character so that invisible and look-alike ones are recognisable.
fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '%' => "'%' (percent-encoding is not decoded)".to_owned(),
        c if c.is_ascii_control() => format!("control character U+{:04X}", u32::from(c)),
        c if !c.is_ascii() => format!("non-ASCII character U+{:04X}", u32::from(c)),
        c if c.is_ascii_lowercase() => format!("lowercase letter '{c}'"),
        c if c.is_ascii_uppercase() => format!("uppercase letter '{c}'"),
        c => format!("{c:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Segment rules
// ---------------------------------------------------------------------------------------------

/// The character and length rule of one segment.
struct Rule {
    part: NamePart,
    /// The rule in words, completing "must be …".
    what: &'static str,
    min: usize,
    max: usize,
    first: fn(char) -> bool,
    rest: fn(char) -> bool,
    /// No trailing '-' and no "--" (networks, which also appear in DNS-like contexts).
    hyphen_rules: bool,
}

fn upper(c: char) -> bool {
    c.is_ascii_uppercase()
}
fn upper_digit(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}
fn upper_digit_hyphen(c: char) -> bool {
    upper_digit(c) || c == '-'
}
fn lower_digit(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}
fn lower_digit_hyphen(c: char) -> bool {
    lower_digit(c) || c == '-'
}

const NETWORK_RULE: Rule = Rule {
    part: NamePart::Network,
    what:
        "2-32 uppercase letters, digits or '-', not starting or ending with '-' and without \"--\"",
    min: 2,
    max: 32,
    first: upper_digit,
    rest: upper_digit_hyphen,
    hyphen_rules: true,
};
const CLASS_RULE: Rule = Rule {
    part: NamePart::Class,
    what: "2-8 uppercase letters or digits starting with a letter",
    min: 2,
    max: 8,
    first: upper,
    rest: upper_digit,
    hyphen_rules: false,
};
const MEMBER_CODE_RULE: Rule = Rule {
    part: NamePart::MemberCode,
    what: "1-32 uppercase letters, digits or '-' starting with a letter or digit",
    min: 1,
    max: 32,
    first: upper_digit,
    rest: upper_digit_hyphen,
    hyphen_rules: false,
};
const SUBSYSTEM_RULE: Rule = Rule {
    part: NamePart::Subsystem,
    what: "1-63 lowercase letters, digits or '-' starting with a letter or digit",
    min: 1,
    max: 63,
    first: lower_digit,
    rest: lower_digit_hyphen,
    hyphen_rules: false,
};
const SERVICE_RULE: Rule = Rule {
    part: NamePart::Service,
    what: "1-63 lowercase letters, digits or '-' starting with a letter or digit, \
           optionally followed by a version such as \".v2\"",
    min: 1,
    max: 63,
    first: lower_digit,
    rest: lower_digit_hyphen,
    hyphen_rules: false,
};
const GATEWAY_RULE: Rule = Rule {
    part: NamePart::Gateway,
    what: "1-31 lowercase letters, digits or '-' starting with a letter or digit",
    min: 1,
    max: 31,
    first: lower_digit,
    rest: lower_digit_hyphen,
    hyphen_rules: false,
};
const VERSION_RULE: &str = "\".v\" followed by a number from 1 to 9999 without leading zeros";

/// Checks `value` against `rule`; the error is the reason, to follow the part's name.
fn check(rule: &Rule, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("is empty; it must be {}", rule.what));
    }
    let fail = |detail: String| Err(format!("{} must be {} ({detail})", quote(value), rule.what));
    if value == "." || value == ".." {
        return fail("dot segments are not allowed".to_owned());
    }
    for (i, c) in value.chars().enumerate() {
        let ok = if i == 0 {
            (rule.first)(c)
        } else {
            (rule.rest)(c)
        };
        if !ok {
            return if i == 0 && (rule.rest)(c) {
                fail(format!("it starts with {}", describe(c)))
            } else {
                fail(format!("found {} at character {}", describe(c), i + 1))
            };
        }
    }
    // Only ASCII is left, so bytes are characters.
    let n = value.len();
    if n < rule.min || n > rule.max {
        let s = if n == 1 { "" } else { "s" };
        return fail(format!("it is {n} character{s} long"));
    }
    if rule.hyphen_rules {
        if value.ends_with('-') {
            return fail("it ends with '-'".to_owned());
        }
        if value.contains("--") {
            return fail("it contains \"--\"".to_owned());
        }
    }
    Ok(())
}

/// Splits and checks a service segment `name[.vN]`.
fn split_service(value: &str) -> Result<(&str, Option<u32>), (NamePart, String)> {
    let service = |reason| (NamePart::Service, reason);
    let Some((name, suffix)) = value.split_once('.') else {
        check(&SERVICE_RULE, value).map_err(service)?;
        return Ok((value, None));
    };
    if value == "." || value == ".." {
        check(&SERVICE_RULE, value).map_err(service)?;
    }
    if name.is_empty() {
        return Err(service(format!(
            "{} has no name before the version; it must be {}",
            quote(value),
            SERVICE_RULE.what
        )));
    }
    check(&SERVICE_RULE, name).map_err(service)?;
    let version = parse_version(suffix).map_err(|reason| (NamePart::Version, reason))?;
    Ok((name, Some(version)))
}

/// Parses the text after the '.' of a service segment: `v` and 1..=9999 without leading zeros.
fn parse_version(suffix: &str) -> Result<u32, String> {
    let fail = |detail: String| {
        Err(format!(
            "{} must be {VERSION_RULE} ({detail})",
            quote(&format!(".{suffix}"))
        ))
    };
    let Some(digits) = suffix.strip_prefix('v') else {
        return match suffix.chars().next() {
            None => fail("nothing follows the '.'".to_owned()),
            Some(c) => fail(format!("it starts with {} instead of 'v'", describe(c))),
        };
    };
    if digits.is_empty() {
        return fail("the number is missing".to_owned());
    }
    if let Some((i, c)) = digits
        .chars()
        .enumerate()
        .find(|&(_, c)| !c.is_ascii_digit())
    {
        return fail(format!("found {} at character {}", describe(c), i + 3));
    }
    if digits.starts_with('0') {
        return fail("the number starts with 0".to_owned());
    }
    if digits.len() > 4 {
        return fail("the number is above 9999".to_owned());
    }
    digits
        .parse()
        .or_else(|_| fail("the number is not a number".to_owned()))
}

/// The segments that compound identifiers are made of.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Network,
    Class,
    MemberCode,
    Subsystem,
    Service,
    Gateway,
}

impl Seg {
    fn part(self) -> NamePart {
        match self {
            Self::Network => NamePart::Network,
            Self::Class => NamePart::Class,
            Self::MemberCode => NamePart::MemberCode,
            Self::Subsystem => NamePart::Subsystem,
            Self::Service => NamePart::Service,
            Self::Gateway => NamePart::Gateway,
        }
    }

    fn check(self, value: &str) -> Result<(), (NamePart, String)> {
        let rule = match self {
            Self::Network => &NETWORK_RULE,
            Self::Class => &CLASS_RULE,
            Self::MemberCode => &MEMBER_CODE_RULE,
            Self::Subsystem => &SUBSYSTEM_RULE,
            Self::Gateway => &GATEWAY_RULE,
            Self::Service => return split_service(value).map(|_| ()),
        };
        check(rule, value).map_err(|reason| (rule.part, reason))
    }
}

/// Refuses over-long input before anything else looks at it.
fn check_length(kind: &'static str, input: &str) -> Result<(), NameError> {
    if input.len() > MAX_ID_LEN {
        return Err(NameError::new(
            kind,
            input,
            NamePart::Shape,
            format!(
                "identifier is {} bytes long; at most {MAX_ID_LEN} are allowed",
                input.len()
            ),
        ));
    }
    Ok(())
}

/// Parses a one-segment identifier.
fn parse_single(kind: &'static str, seg: Seg, input: &str) -> Result<(), NameError> {
    check_length(kind, input)?;
    seg.check(input)
        .map_err(|(part, reason)| NameError::new(kind, input, part, reason))
}

/// How a compound identifier is laid out.
struct Layout {
    kind: &'static str,
    /// The layout in words, e.g. `network/class/code`.
    text: &'static str,
    segs: &'static [Seg],
    /// The separator expected before each segment after the first.
    seps: &'static [char],
}

const MAX_SEGS: usize = 5;

const MEMBER_LAYOUT: Layout = Layout {
    kind: "member",
    text: "network/class/code",
    segs: &[Seg::Network, Seg::Class, Seg::MemberCode],
    seps: &['/', '/'],
};
const SUBSYSTEM_LAYOUT: Layout = Layout {
    kind: "subsystem",
    text: "network/class/code/subsystem",
    segs: &[Seg::Network, Seg::Class, Seg::MemberCode, Seg::Subsystem],
    seps: &['/', '/', '/'],
};
const SERVICE_LAYOUT: Layout = Layout {
    kind: "service",
    text: "network/class/code/subsystem/service",
    segs: &[
        Seg::Network,
        Seg::Class,
        Seg::MemberCode,
        Seg::Subsystem,
        Seg::Service,
    ],
    seps: &['/', '/', '/', '/'],
};
const GATEWAY_LAYOUT: Layout = Layout {
    kind: "gateway",
    text: "network/class/code@gateway",
    segs: &[Seg::Network, Seg::Class, Seg::MemberCode, Seg::Gateway],
    seps: &['/', '/', '@'],
};
const GATEWAY_URI_LAYOUT: Layout = Layout {
    kind: "gateway",
    text: "urn:psn:gateway:network:class:code:gateway",
    segs: &[Seg::Network, Seg::Class, Seg::MemberCode, Seg::Gateway],
    seps: &[':', ':', ':'],
};

/// Splits `body` (all of `input`, or what follows a URI prefix) by `layout` and checks every
/// segment. Returns the segments, in order, in the first `layout.segs.len()` slots.
fn split<'a>(
    layout: &Layout,
    input: &str,
    body: &'a str,
) -> Result<[&'a str; MAX_SEGS], NameError> {
    check_length(layout.kind, input)?;
    let err = |part, reason| NameError::new(layout.kind, input, part, reason);
    let shape = |reason| err(NamePart::Shape, reason);
    let is_sep = |c: char| layout.seps.contains(&c);
    if body.is_empty() {
        return Err(shape(format!(
            "identifier is empty; expected {}",
            layout.text
        )));
    }
    // Characters that no segment may hold (whitespace, controls, non-ASCII, '%') are reported
    // against the segment they sit in, before separators are counted: a look-alike '/' then
    // reads as a bad character rather than as a wrong number of parts.
    if let Some((at, c)) = body
        .char_indices()
        .find(|&(_, c)| !c.is_ascii_graphic() || c == '%')
    {
        let index = body[..at].chars().filter(|&c| is_sep(c)).count();
        if let (Some(seg), Some(value)) = (layout.segs.get(index), body.split(is_sep).nth(index)) {
            seg.check(value)
                .map_err(|(part, reason)| err(part, reason))?;
        }
        let position = input.len() - body.len() + body[..at].chars().count() + 1;
        return Err(shape(format!(
            "found {} at character {position}",
            describe(c)
        )));
    }
    if let Some(c) = body.chars().next().filter(|&c| is_sep(c)) {
        return Err(shape(format!(
            "identifier starts with '{c}'; expected {}",
            layout.text
        )));
    }
    if let Some(c) = body.chars().next_back().filter(|&c| is_sep(c)) {
        return Err(shape(format!(
            "identifier ends with '{c}'; expected {}",
            layout.text
        )));
    }
    let mut parts = [""; MAX_SEGS];
    let mut count = 0;
    for piece in body.split(is_sep) {
        if let Some(slot) = parts.get_mut(count) {
            *slot = piece;
        }
        count += 1;
    }
    if count != layout.segs.len() {
        return Err(shape(format!(
            "expected {} ({} parts), found {count}",
            layout.text,
            layout.segs.len()
        )));
    }
    for (i, c) in body.chars().filter(|&c| is_sep(c)).enumerate() {
        if let (Some(&want), Some(next)) = (layout.seps.get(i), layout.segs.get(i + 1)) {
            if want != c {
                return Err(shape(format!(
                    "expected '{want}' before the {}, found '{c}' (the layout is {})",
                    next.part(),
                    layout.text
                )));
            }
        }
    }
    for (seg, value) in layout.segs.iter().zip(parts) {
        seg.check(value)
            .map_err(|(part, reason)| err(part, reason))?;
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------------
// Simple codes
// ---------------------------------------------------------------------------------------------

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $seg:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The canonical text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                parse_single($kind, $seg, s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

code_type!(
    /// A network: `[A-Z0-9-]{2,32}`, not starting or ending with '-' and without "--", e.g.
    /// `GB`, `GB-KENT`. The first segment of every other identifier.
    NetworkId,
    "network",
    Seg::Network
);
code_type!(
    /// A member class: `[A-Z][A-Z0-9]{1,7}`, e.g. `LA`, `NHS`. Which classes exist, and what their
    /// codes look like, is up to each network ([`MemberClasses`]).
    ClassCode,
    "class",
    Seg::Class
);
code_type!(
    /// A member code in its generic shape, `[A-Z0-9][A-Z0-9-]{0,31}`, e.g. `E10000016`; the
    /// member's class narrows it further ([`MemberClasses::validate`]).
    MemberCode,
    "member code",
    Seg::MemberCode
);
code_type!(
    /// A subsystem code: `[a-z0-9][a-z0-9-]{0,62}`, e.g. `revenues`.
    SubsystemCode,
    "subsystem code",
    Seg::Subsystem
);
code_type!(
    /// A gateway code: `[a-z0-9][a-z0-9-]{0,30}`, e.g. `gw1`. Short, because it also appears in
    /// certificate URIs.
    GatewayCode,
    "gateway code",
    Seg::Gateway
);

/// A service code: a name `[a-z0-9][a-z0-9-]{0,62}` with an optional version `.v{N}`, N from 1
/// to 9999 without leading zeros, e.g. `fsm-check`, `fsm-check.v2`. Versions let a provider run
/// an incompatible successor beside the old service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceCode {
    name: String,
    version: Option<u32>,
}

impl ServiceCode {
    /// The name without the version.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version, if the code has one.
    pub fn version(&self) -> Option<u32> {
        self.version
    }
}

impl FromStr for ServiceCode {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        const KIND: &str = "service code";
        check_length(KIND, s)?;
        let (name, version) =
            split_service(s).map_err(|(part, reason)| NameError::new(KIND, s, part, reason))?;
        Ok(Self {
            name: name.to_owned(),
            version,
        })
    }
}

impl fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = self.version {
            write!(f, ".v{v}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Compound identifiers
// ---------------------------------------------------------------------------------------------

/// A member: `{network}/{class}/{code}`, e.g. `GB/LA/E10000016`.
///
/// Parsing checks only the generic shape; whether the class exists and the code fits its scheme
/// depends on the network's [`MemberClasses`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    network: NetworkId,
    class: ClassCode,
    code: MemberCode,
}

impl MemberId {
    /// Assembles a member id from checked parts.
    pub fn new(network: NetworkId, class: ClassCode, code: MemberCode) -> Self {
        Self {
            network,
            class,
            code,
        }
    }

    /// The network the member belongs to.
    pub fn network(&self) -> &NetworkId {
        &self.network
    }

    /// The member's class.
    pub fn class(&self) -> &ClassCode {
        &self.class
    }

    /// The member's code within its class.
    pub fn code(&self) -> &MemberCode {
        &self.code
    }

    /// Builds from segments already checked by [`split`].
    fn from_parts(network: &str, class: &str, code: &str) -> Self {
        Self {
            network: NetworkId(network.to_owned()),
            class: ClassCode(class.to_owned()),
            code: MemberCode(code.to_owned()),
        }
    }
}

impl FromStr for MemberId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let [network, class, code, ..] = split(&MEMBER_LAYOUT, s, s)?;
        Ok(Self::from_parts(network, class, code))
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.network, self.class, self.code)
    }
}

/// A subsystem: `{member}/{subsystem}`, e.g. `GB/LA/E10000016/revenues`. Subsystems are what
/// consume and provide services; access is granted to them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubsystemId {
    member: MemberId,
    code: SubsystemCode,
}

impl SubsystemId {
    /// Assembles a subsystem id from checked parts.
    pub fn new(member: MemberId, code: SubsystemCode) -> Self {
        Self { member, code }
    }

    /// The member that owns the subsystem.
    pub fn member(&self) -> &MemberId {
        &self.member
    }

    /// The subsystem's code within its member.
    pub fn code(&self) -> &SubsystemCode {
        &self.code
    }
}

impl FromStr for SubsystemId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let [network, class, code, subsystem, ..] = split(&SUBSYSTEM_LAYOUT, s, s)?;
        Ok(Self {
            member: MemberId::from_parts(network, class, code),
            code: SubsystemCode(subsystem.to_owned()),
        })
    }
}

impl fmt::Display for SubsystemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.member, self.code)
    }
}

/// A service: `{subsystem}/{service}`, e.g. `GB/GOV/D6/eligibility/fsm-check.v2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    subsystem: SubsystemId,
    code: ServiceCode,
}

impl ServiceId {
    /// Assembles a service id from checked parts.
    pub fn new(subsystem: SubsystemId, code: ServiceCode) -> Self {
        Self { subsystem, code }
    }

    /// The providing subsystem.
    pub fn subsystem(&self) -> &SubsystemId {
        &self.subsystem
    }

    /// The providing member.
    pub fn member(&self) -> &MemberId {
        self.subsystem.member()
    }

    /// The service's code (name and version) within its subsystem.
    pub fn code(&self) -> &ServiceCode {
        &self.code
    }
}

impl FromStr for ServiceId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let [network, class, code, subsystem, service] = split(&SERVICE_LAYOUT, s, s)?;
        let (name, version) = split_service(service)
            .map_err(|(part, reason)| NameError::new(SERVICE_LAYOUT.kind, s, part, reason))?;
        Ok(Self {
            subsystem: SubsystemId {
                member: MemberId::from_parts(network, class, code),
                code: SubsystemCode(subsystem.to_owned()),
            },
            code: ServiceCode {
                name: name.to_owned(),
                version,
            },
        })
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.subsystem, self.code)
    }
}

/// A gateway: `{member}@{gateway}`, e.g. `GB/LA/E10000016@gw1`. A member may run several
/// gateways (for availability); each has its own certificate whose URI SAN is [`Self::to_uri`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayId {
    member: MemberId,
    code: GatewayCode,
}

impl GatewayId {
    /// Assembles a gateway id from checked parts.
    pub fn new(member: MemberId, code: GatewayCode) -> Self {
        Self { member, code }
    }

    /// The member the gateway belongs to.
    pub fn member(&self) -> &MemberId {
        &self.member
    }

    /// The gateway's code within its member.
    pub fn code(&self) -> &GatewayCode {
        &self.code
    }

    /// The URI carried in the gateway certificate's SAN, e.g.
    /// `urn:psn:gateway:GB:LA:E10000016:gw1`. A URN with ':' separators because '/' and '@' have
    /// meanings of their own in URIs.
    pub fn to_uri(&self) -> String {
        let m = &self.member;
        format!(
            "{GATEWAY_URI_PREFIX}{}:{}:{}:{}",
            m.network, m.class, m.code, self.code
        )
    }

    /// The strict inverse of [`Self::to_uri`]: any other text, including differently cased or
    /// percent-encoded forms, is refused, since certificates must name a gateway exactly.
    pub fn from_uri(uri: &str) -> Result<Self, NameError> {
        let kind = GATEWAY_URI_LAYOUT.kind;
        check_length(kind, uri)?;
        let Some(body) = uri.strip_prefix(GATEWAY_URI_PREFIX) else {
            return Err(NameError::new(
                kind,
                uri,
                NamePart::Shape,
                format!("URI must start with \"{GATEWAY_URI_PREFIX}\""),
            ));
        };
        let [network, class, code, gateway, ..] = split(&GATEWAY_URI_LAYOUT, uri, body)?;
        Ok(Self {
            member: MemberId::from_parts(network, class, code),
            code: GatewayCode(gateway.to_owned()),
        })
    }
}

impl FromStr for GatewayId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let [network, class, code, gateway, ..] = split(&GATEWAY_LAYOUT, s, s)?;
        Ok(Self {
            member: MemberId::from_parts(network, class, code),
            code: GatewayCode(gateway.to_owned()),
        })
    }
}

impl fmt::Display for GatewayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.member, self.code)
    }
}

// ---------------------------------------------------------------------------------------------
// serde: every identifier is its canonical string
// ---------------------------------------------------------------------------------------------

/// Deserialises through `FromStr`, so stored or received text is checked exactly like typed text.
struct TextVisitor<T> {
    expecting: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T: FromStr<Err = NameError>> de::Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

macro_rules! text_serde {
    ($($name:ident => $expecting:literal),* $(,)?) => {$(
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let visitor = TextVisitor { expecting: $expecting, _value: PhantomData };
                deserializer.deserialize_str(visitor)
            }
        }
    )*};
}

text_serde! {
    NetworkId => "a network id such as \"GB\"",
    ClassCode => "a member class such as \"LA\"",
    MemberCode => "a member code such as \"E10000016\"",
    MemberId => "a member id such as \"GB/LA/E10000016\"",
    SubsystemCode => "a subsystem code such as \"revenues\"",
    SubsystemId => "a subsystem id such as \"GB/LA/E10000016/revenues\"",
    ServiceCode => "a service code such as \"fsm-check.v2\"",
    ServiceId => "a service id such as \"GB/GOV/D6/eligibility/fsm-check.v2\"",
    GatewayCode => "a gateway code such as \"gw1\"",
    GatewayId => "a gateway id such as \"GB/LA/E10000016@gw1\"",
}

// ---------------------------------------------------------------------------------------------
// Member classes
// ---------------------------------------------------------------------------------------------

/// A member class of a network and the scheme its member codes follow, e.g. `LA` with ONS GSS
/// codes. Codes are checked against the scheme so that members are named by the code their
/// sector already uses, not an invented one.
///
/// Serialises as `{"code": "LA", "description": "...", "code_pattern": "..."}`; deserialising
/// compiles and checks the pattern.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "MemberClassRepr", into = "MemberClassRepr")]
pub struct MemberClass {
    code: ClassCode,
    description: String,
    code_pattern: String,
    regex: Regex,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberClassRepr {
    code: ClassCode,
    description: String,
    code_pattern: String,
}

impl TryFrom<MemberClassRepr> for MemberClass {
    type Error = NameError;
    fn try_from(r: MemberClassRepr) -> Result<Self, NameError> {
        Self::new(r.code, r.description, &r.code_pattern)
    }
}

impl From<MemberClass> for MemberClassRepr {
    fn from(c: MemberClass) -> Self {
        Self {
            code: c.code,
            description: c.description,
            code_pattern: c.code_pattern,
        }
    }
}

impl MemberClass {
    /// A class whose member codes must match `code_pattern` in full (it is anchored for you).
    ///
    /// The pattern is refused (part [`NamePart::Class`]) if it is empty, longer than
    /// [`MAX_PATTERN_LEN`] characters, not a valid regular expression on its own (so it cannot
    /// escape the anchoring group), or compiles too large.
    pub fn new(
        code: ClassCode,
        description: impl Into<String>,
        code_pattern: &str,
    ) -> Result<Self, NameError> {
        let regex = compile_pattern(code_pattern)
            .map_err(|reason| NameError::new("class", code.as_str(), NamePart::Class, reason))?;
        Ok(Self {
            code,
            description: description.into(),
            code_pattern: code_pattern.to_owned(),
            regex,
        })
    }

    /// The class code, e.g. `LA`.
    pub fn code(&self) -> &ClassCode {
        &self.code
    }

    /// What the class is and which code scheme it uses, for people.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The pattern as given (without the added anchors).
    pub fn code_pattern(&self) -> &str {
        &self.code_pattern
    }

    /// Whether `code` fits the class's scheme.
    pub fn accepts(&self, code: &MemberCode) -> bool {
        self.regex.is_match(code.as_str())
    }
}

impl PartialEq for MemberClass {
    fn eq(&self, other: &Self) -> bool {
        // The regex is compiled from the pattern, so comparing the source is enough.
        self.code == other.code
            && self.description == other.description
            && self.code_pattern == other.code_pattern
    }
}

impl Eq for MemberClass {}

impl fmt::Debug for MemberClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberClass")
            .field("code", &self.code)
            .field("description", &self.description)
            .field("code_pattern", &self.code_pattern)
            .finish()
    }
}

/// Compiles a class pattern with size limits; the error is a reason following "class ".
fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("code pattern is empty".to_owned());
    }
    let n = pattern.chars().count();
    if n > MAX_PATTERN_LEN {
        return Err(format!(
            "code pattern is {n} characters long; at most {MAX_PATTERN_LEN} are allowed"
        ));
    }
    let build = |source: &str| {
        RegexBuilder::new(source)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(64)
            .build()
    };
    let bad = |e: regex::Error| {
        let why = match e {
            regex::Error::CompiledTooBig(_) => "it is too complex".to_owned(),
            regex::Error::Syntax(text) => text
                .lines()
                .find_map(|line| line.strip_prefix("error: "))
                .map_or_else(
                    || text.split_whitespace().collect::<Vec<_>>().join(" "),
                    str::to_owned,
                ),
            other => other.to_string(),
        };
        format!(
            "code pattern \"{}\" is not a usable regular expression: {}",
            echo(pattern, ECHO_CHARS),
            echo(&why, 160)
        )
    };
    // Alone first: a pattern such as `A)|(B` is only valid once wrapped, and wrapped it would
    // no longer be anchored.
    build(pattern).map_err(bad)?;
    build(&format!(r"\A(?:{pattern})\z")).map_err(bad)
}

/// The member classes of one network, ordered by code. The authority stores them; this type
/// checks members against them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberClasses {
    classes: BTreeMap<ClassCode, MemberClass>,
}

/// The default UK classes: code, description, pattern.
const UK_CLASSES: [(&str, &str, &str); 7] = [
    (
        "LA",
        "Local authority (ONS GSS code, e.g. E10000016)",
        "[ENSW][0-9]{8}",
    ),
    (
        "NHS",
        "NHS organisation (ODS code, e.g. RJ1)",
        "[A-Z0-9]{3,5}",
    ),
    (
        "POL",
        "Police force (ONS police force area code, e.g. E23000032)",
        "[ENSW][0-9]{8}",
    ),
    (
        "GOV",
        "Central government organisation (GOV.UK organisation identifier, e.g. D2)",
        "[A-Z]{1,3}[0-9]{1,6}",
    ),
    (
        "EDU",
        "School or academy (DfE URN, e.g. 100000)",
        "[1-9][0-9]{5}",
    ),
    (
        "CHC",
        "Charity (charity number, e.g. 1123456, SC012345, NIC100001)",
        "[0-9]{6,7}|SC[0-9]{6}|NIC[0-9]{6}",
    ),
    (
        "COM",
        "Company (Companies House number, e.g. 01234567, SC123456)",
        "[0-9]{8}|[A-Z]{2}[0-9]{6}",
    ),
];

impl MemberClasses {
    /// The default set for a UK network: LA, NHS, POL, GOV, EDU, CHC and COM, each with its
    /// authoritative code scheme.
    pub fn uk_default() -> Self {
        UK_CLASSES
            .iter()
            .map(|&(code, description, pattern)| {
                // Built-in constants, covered by a unit test; not input.
                MemberClass::new(ClassCode(code.to_owned()), description, pattern)
                    .expect("built-in member class is valid")
            })
            .collect()
    }

    /// Adds a class, replacing any with the same code.
    pub fn insert(&mut self, class: MemberClass) {
        self.classes.insert(class.code.clone(), class);
    }

    /// The class with this code, if the network defines it.
    pub fn get(&self, code: &ClassCode) -> Option<&MemberClass> {
        self.classes.get(code)
    }

    /// The classes in code order.
    pub fn iter(&self) -> impl Iterator<Item = &MemberClass> {
        self.classes.values()
    }

    /// How many classes there are.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Checks that the member's class exists in this network and that its code fits the class's
    /// scheme; the message names the class, the code and the expected scheme.
    pub fn validate(&self, member: &MemberId) -> Result<(), NameError> {
        const KIND: &str = "member";
        let Some(class) = self.get(member.class()) else {
            let mut known: Vec<&str> = self
                .classes
                .keys()
                .take(KNOWN_CLASSES_SHOWN)
                .map(ClassCode::as_str)
                .collect();
            if self.classes.len() > KNOWN_CLASSES_SHOWN {
                known.push("…");
            }
            let known = if known.is_empty() {
                "no classes are defined".to_owned()
            } else {
                format!("defined: {}", known.join(", "))
            };
            return Err(NameError::new(
                KIND,
                &member.to_string(),
                NamePart::Class,
                format!(
                    "\"{}\" is not defined in network {} ({known})",
                    member.class(),
                    member.network()
                ),
            ));
        };
        if class.accepts(member.code()) {
            return Ok(());
        }
        Err(NameError::new(
            KIND,
            &member.to_string(),
            NamePart::MemberCode,
            format!(
                "\"{}\" does not fit class {}: expected {} (pattern \"{}\")",
                member.code(),
                class.code(),
                echo(class.description(), 120),
                echo(class.code_pattern(), ECHO_CHARS)
            ),
        ))
    }

    /// Parses a member id and [validates](Self::validate) it in one step.
    pub fn parse_member(&self, text: &str) -> Result<MemberId, NameError> {
        let member: MemberId = text.parse()?;
        self.validate(&member)?;
        Ok(member)
    }
}

impl FromIterator<MemberClass> for MemberClasses {
    fn from_iter<I: IntoIterator<Item = MemberClass>>(iter: I) -> Self {
        let mut classes = Self::default();
        classes.extend(iter);
        classes
    }
}

impl Extend<MemberClass> for MemberClasses {
    fn extend<I: IntoIterator<Item = MemberClass>>(&mut self, iter: I) {
        for class in iter {
            self.insert(class);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_default_builds_every_class() {
        let classes = MemberClasses::uk_default();
        let codes: Vec<&str> = classes.iter().map(|c| c.code().as_str()).collect();
        assert_eq!(codes, ["CHC", "COM", "EDU", "GOV", "LA", "NHS", "POL"]);
    }

    #[test]
    fn echo_escapes_and_truncates() {
        assert_eq!(echo("a\"b\\c\0\u{ff0f}", 80), "a\\\"b\\\\c\\u{0}\\u{ff0f}");
        assert_eq!(echo(&"x".repeat(100), 80), format!("{}…", "x".repeat(80)));
    }

    #[test]
    fn longest_identifiers_fit_the_limit() {
        let service = format!(
            "{}/{}/{}/{}/{}.v9999",
            "N".repeat(32),
            "C".repeat(8),
            "M".repeat(32),
            "s".repeat(63),
            "v".repeat(63)
        );
        assert!(service.len() <= MAX_ID_LEN);
        assert!(service.parse::<ServiceId>().is_ok());
    }

    #[test]
    fn wrapped_pattern_cannot_escape_its_anchors() {
        let code: ClassCode = "XX".parse().expect("class");
        assert!(MemberClass::new(code, "x", "A)|(B").is_err());
    }
}
