//! Search latency over a realistic catalogue: 100,000 synthetic listings from 25,000 members,
//! a realistic query mix with facets computed for every query, p50/p99 reported next to anchors
//! measured in the same run (so figures compare across machines as ratios).
//!
//! `cargo bench -p psn-catalogue` (release). Options: `--listings N`, `--queries N`.
//! Deterministic: a fixed seed gives the same corpus and queries on every run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use psn_catalogue::{CatalogueIndex, Facet, Listing, ProcessRef, SearchQuery, Sort};
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Order, Term};

/// SplitMix64: small, seeded, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// An item by weight.
    fn weighted<'a, T>(&mut self, items: &'a [(T, u64)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.next() % total;
        for (item, weight) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        &items[items.len() - 1].0
    }
}

const SUBJECTS: &[&str] = &[
    "council tax",
    "business rates",
    "payroll",
    "free school meals",
    "blue badge",
    "waste collection",
    "procurement",
    "custody records",
    "gp registration",
    "patient referral",
    "firearms licensing",
    "housing benefit",
    "planning applications",
    "school admissions",
    "parking permits",
    "electoral register",
    "birth registration",
    "death registration",
    "marriage certificates",
    "library loans",
    "pest control",
    "noise complaints",
    "food hygiene ratings",
    "taxi licensing",
    "street lighting",
    "pothole reports",
    "adult social care",
    "child protection",
    "foster care",
    "council housing",
    "homelessness",
    "land charges",
    "building control",
    "trading standards",
    "pensions",
    "recruitment",
    "expenses",
    "supplier invoices",
    "community grants",
    "school transport",
    "special educational needs",
    "youth services",
    "fly tipping",
    "recycling centres",
    "bulky waste",
    "allotments",
    "burials and cremations",
    "prescriptions",
    "hospital appointments",
    "vaccinations",
    "mental health referrals",
    "safeguarding alerts",
    "missing persons",
    "crime reports",
    "court listings",
    "probation records",
    "fire safety inspections",
    "flood alerts",
    "highways permits",
    "road closures",
    "concessionary travel",
    "disabled facilities grants",
    "council tax support",
    "discretionary housing payments",
    "school attendance",
    "exam results",
    "teacher vacancies",
    "charity registration",
    "volunteer checks",
    "food bank referrals",
    "debt advice",
    "energy support",
    "warm home grants",
];
const QUALIFIERS: &[&str] = &[
    "applications",
    "accounts",
    "records",
    "eligibility",
    "payments",
    "bookings",
    "enquiries",
    "reports",
    "checks",
    "renewals",
    "notifications",
    "schedules",
    "claims",
    "appeals",
    "status",
    "lookup",
    "data feed",
    "returns",
    "updates",
    "register",
    "case management",
    "api",
];
const WORDS: &[&str] = &[
    "residents",
    "citizens",
    "patients",
    "pupils",
    "staff",
    "employers",
    "businesses",
    "households",
    "landlords",
    "tenants",
    "carers",
    "families",
    "children",
    "adults",
    "officers",
    "partners",
    "suppliers",
    "applicants",
    "claimants",
    "visitors",
    "drivers",
    "members",
    "submit",
    "check",
    "verify",
    "track",
    "update",
    "cancel",
    "renew",
    "report",
    "request",
    "receive",
    "publish",
    "share",
    "confirm",
    "calculate",
    "search",
    "book",
    "pay",
    "notify",
    "daily",
    "monthly",
    "secure",
    "electronic",
    "online",
    "statutory",
    "local",
    "national",
    "eligibility",
    "entitlement",
    "evidence",
    "documents",
    "decisions",
    "assessments",
    "payments",
    "balances",
    "refunds",
    "discounts",
    "exemptions",
    "appointments",
    "referrals",
    "records",
    "history",
    "summaries",
    "notices",
    "certificates",
    "permits",
    "licences",
    "schedules",
    "events",
    "changes",
    "circumstances",
    "addresses",
    "identity",
    "consent",
    "with",
    "for",
    "and",
    "from",
    "to",
    "the",
    "of",
    "by",
    "in",
    "across",
    "between",
];
const FUNCTIONS: &[&str] = &[
    "advice-and-benefits",
    "business-and-licensing",
    "children-and-education",
    "community-and-safety",
    "corporate-services",
    "council-and-democracy",
    "environment",
    "health-and-social-care",
    "housing",
    "justice",
    "leisure-and-culture",
    "transport-and-streets",
];
const SUB_FUNCTIONS: &[&str] = &["operations", "records", "payments", "licensing", "support"];
const REGIONS: &[&str] = &[
    "north-east",
    "north-west",
    "yorkshire",
    "east-midlands",
    "west-midlands",
    "east",
    "london",
    "south-east",
    "south-west",
    "wales",
    "scotland",
    "northern-ireland",
];
const TOWNS: &[&str] = &[
    "Ashford",
    "Barnsley",
    "Bedford",
    "Bolton",
    "Bradford",
    "Brighton",
    "Bristol",
    "Cambridge",
    "Cardiff",
    "Carlisle",
    "Chester",
    "Colchester",
    "Coventry",
    "Derby",
    "Dundee",
    "Durham",
    "Exeter",
    "Glasgow",
    "Gloucester",
    "Hull",
    "Ipswich",
    "Kent",
    "Leeds",
    "Leicester",
    "Lincoln",
    "Liverpool",
    "Luton",
    "Norwich",
    "Oxford",
    "Plymouth",
    "Preston",
    "Reading",
    "Salford",
    "Sheffield",
    "Stockport",
    "Swansea",
    "Truro",
    "Wakefield",
    "Worcester",
    "York",
];

struct Process {
    id: String,
    label: String,
    functions: Vec<String>,
}

struct Member {
    id: String,
    name: String,
    class: &'static str,
    region: &'static str,
}

fn processes(rng: &mut Rng) -> Vec<Process> {
    (1..=300)
        .map(|n| {
            let function = rng.pick(FUNCTIONS);
            let sub = rng.pick(SUB_FUNCTIONS);
            Process {
                id: format!("lgsl:{n}"),
                label: format!("{} {}", rng.pick(SUBJECTS), rng.pick(QUALIFIERS)),
                functions: vec![(*function).to_owned(), format!("{function}-{sub}")],
            }
        })
        .collect()
}

fn members(rng: &mut Rng, count: usize) -> Vec<Member> {
    let classes: &[(&str, u64)] = &[
        ("LA", 40),
        ("SCHOOL", 25),
        ("NHS", 12),
        ("CHARITY", 10),
        ("GOV", 8),
        ("POLICE", 5),
    ];
    (0..count)
        .map(|n| {
            let class = *rng.weighted(classes);
            let town = rng.pick(TOWNS);
            let name = match class {
                "LA" => format!(
                    "{town} {} Council",
                    rng.pick(&["City", "County", "Borough", "District"])
                ),
                "SCHOOL" => format!(
                    "{town} {} School",
                    rng.pick(&["Primary", "Academy", "High", "Grammar"])
                ),
                "NHS" => format!(
                    "{town} {} NHS Trust",
                    rng.pick(&["Hospitals", "Community", "Mental Health"])
                ),
                "CHARITY" => format!(
                    "{town} {} Trust",
                    rng.pick(&["Food Bank", "Advice", "Carers", "Housing"])
                ),
                "GOV" => format!(
                    "{} Agency {n}",
                    rng.pick(&["Revenue", "Pensions", "Licensing", "Education"])
                ),
                _ => format!("{town} Police"),
            };
            Member {
                id: format!("GB/{class}/{n:05}"),
                name,
                class,
                region: REGIONS[rng.below(REGIONS.len())],
            }
        })
        .collect()
}

fn listing(rng: &mut Rng, n: usize, members: &[Member], processes: &[Process]) -> Listing {
    let member = rng.pick(members);
    let subject = rng.pick(SUBJECTS);
    let title = format!("{subject} {}", rng.pick(QUALIFIERS));
    let words = 12 + rng.below(14);
    let mut description = format!(
        "{} {subject}",
        rng.pick(&["Manage", "Check", "Submit", "Track", "Verify"])
    );
    for _ in 0..words {
        description.push(' ');
        description.push_str(WORDS[rng.below(WORDS.len())]);
    }
    let listing_processes = (0..1 + rng.below(3))
        .map(|_| {
            let p = rng.pick(processes);
            ProcessRef {
                id: p.id.clone(),
                label: p.label.clone(),
                functions: p.functions.clone(),
            }
        })
        .collect();
    let availability = if rng.chance(15) {
        None
    } else {
        Some(100.0 - (rng.below(1000) as f64 / 100.0).powi(2) / 10.0)
    };
    Listing {
        service: format!("{}/{}/{n}", member.id, subject.replace(' ', "-")),
        title,
        description,
        processes: listing_processes,
        provider: member.id.clone(),
        provider_name: member.name.clone(),
        provider_class: member.class.to_owned(),
        sector: Some(
            if matches!(member.class, "NHS" | "POLICE") {
                "health-and-justice"
            } else {
                "public"
            }
            .to_owned(),
        ),
        region: Some(member.region.to_owned()),
        areas: (0..1 + rng.below(2))
            .map(|_| format!("area-{}", rng.below(400)))
            .collect(),
        service_type: (*rng.weighted(&[("rest", 60), ("soap", 15), ("events", 15), ("files", 10)]))
            .to_owned(),
        lifecycle: (*rng.weighted(&[
            ("live", 60),
            ("beta", 15),
            ("alpha", 8),
            ("discovery", 5),
            ("deprecated", 8),
            ("withdrawn", 4),
        ]))
        .to_owned(),
        who_may_apply: (*rng.weighted(&[
            ("any-member", 50),
            ("member-classes", 35),
            ("by-request", 15),
        ]))
        .to_owned(),
        availability_percent: availability,
        calls_per_day: (rng.next() % 1_000_000) >> rng.below(16),
        published_at: 1_600_000_000 + (rng.next() % 200_000_000) as i64,
    }
}

/// One query of the mix and its class, for the per-class figures.
fn query(rng: &mut Rng, processes: &[Process]) -> (&'static str, SearchQuery) {
    let word = |rng: &mut Rng| {
        let subject = rng.pick(SUBJECTS);
        let words: Vec<&str> = subject.split(' ').collect();
        (*rng.pick(&words)).to_owned()
    };
    let filters = |rng: &mut Rng| {
        let mut filters: BTreeMap<Facet, BTreeSet<String>> = BTreeMap::new();
        for _ in 0..1 + rng.below(3) {
            let (facet, value) = match rng.below(6) {
                0 => (
                    Facet::ProviderClass,
                    (*rng.pick(&["LA", "NHS", "POLICE", "GOV", "SCHOOL", "CHARITY"])).to_owned(),
                ),
                1 => (Facet::Region, (*rng.pick(REGIONS)).to_owned()),
                2 => (
                    Facet::Lifecycle,
                    (*rng.pick(&["live", "beta", "alpha"])).to_owned(),
                ),
                3 => (
                    Facet::ServiceType,
                    (*rng.pick(&["rest", "soap", "events", "files"])).to_owned(),
                ),
                4 => (Facet::Process, format!("/{}", rng.pick(FUNCTIONS))),
                _ => (
                    Facet::Availability,
                    (*rng.pick(&[">=99.9", "99-99.9", "95-99"])).to_owned(),
                ),
            };
            filters.entry(facet).or_default().insert(value);
        }
        filters
    };
    let roll = rng.below(100);
    let (class, text, filters) = match roll {
        0..=39 => {
            let text = if rng.chance(50) {
                word(rng)
            } else {
                format!("{} {}", word(rng), word(rng))
            };
            ("words", text, BTreeMap::new())
        }
        40..=59 => {
            let w = word(rng);
            let cut = 3 + rng.below(w.len().saturating_sub(3).max(1));
            ("prefix", w.chars().take(cut).collect(), BTreeMap::new())
        }
        60..=69 => {
            let mut chars: Vec<char> = word(rng).chars().collect();
            if chars.len() >= 4 {
                let i = 1 + rng.below(chars.len() - 2);
                chars.swap(i, i + 1);
            }
            ("typo", chars.into_iter().collect(), BTreeMap::new())
        }
        70..=89 => {
            let text = if rng.chance(20) {
                rng.pick(processes).id.clone()
            } else {
                word(rng)
            };
            ("words+filters", text, filters(rng))
        }
        _ => ("empty+filters", String::new(), filters(rng)),
    };
    let sort = *rng.weighted(&[
        (Sort::Relevance, 85),
        (Sort::Availability, 5),
        (Sort::Volume, 5),
        (Sort::Newest, 5),
    ]);
    let offset = if rng.chance(10) { 20 } else { 0 };
    (
        class,
        SearchQuery {
            text,
            filters,
            process_drill: None,
            sort,
            offset,
            limit: 20,
        },
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    percentile(&samples, 0.5)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listing_count = arg("--listings", 100_000);
    let query_count = arg("--queries", 3_000);
    let member_count = (listing_count / 4).max(1);
    let mut rng = Rng(0x5053_4e20_6361_7431);
    let processes = processes(&mut rng);
    let members = members(&mut rng, member_count);
    let listings: Vec<Listing> = (0..listing_count)
        .map(|n| listing(&mut rng, n, &members, &processes))
        .collect();

    let index = CatalogueIndex::open_in_ram()?;
    let started = Instant::now();
    index.replace_all(&listings)?;
    let build = started.elapsed();
    let searcher = index.tantivy_index().reader()?.searcher();
    println!(
        "index: {} listings from {} members, built in {:.1} s, {} segments",
        index.len(),
        member_count,
        build.as_secs_f64(),
        searcher.segment_readers().len()
    );

    // Anchors, same run, straight on tantivy: a match-all top-10 by a fast field (touches every
    // listing, as an empty query does) and a single-term top-10 by relevance.
    let schema = index.tantivy_index().schema();
    let title = schema.get_field("title")?;
    let term_query = TermQuery::new(
        Term::from_field_text(title, "payroll"),
        IndexRecordOption::WithFreqs,
    );
    let mut count_all = Vec::new();
    let mut one_term = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        std::hint::black_box(searcher.search(
            &AllQuery,
            &TopDocs::with_limit(10).order_by_fast_field::<u64>("calls_per_day", Order::Desc),
        )?);
        count_all.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(searcher.search(&term_query, &TopDocs::with_limit(10))?);
        one_term.push(t.elapsed());
    }
    let anchor_count = median(count_all);
    let anchor_term = median(one_term);
    println!(
        "anchor: match-all top-10 by volume {}, one-term top-10 {}",
        ms(anchor_count),
        ms(anchor_term)
    );

    let mut qrng = Rng(0x7175_6572_6965_7321);
    let queries: Vec<(&str, SearchQuery)> = (0..query_count)
        .map(|_| query(&mut qrng, &processes))
        .collect();
    // Warm up (page cache, allocator), not measured.
    for (_, q) in queries.iter().take(200) {
        std::hint::black_box(index.search(q)?);
    }
    let mut by_class: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut hits_total = 0u64;
    for (class, q) in &queries {
        let t = Instant::now();
        let result = index.search(q)?;
        let elapsed = t.elapsed();
        hits_total += result.total;
        std::hint::black_box(result);
        by_class.entry(class).or_default().push(elapsed);
        all.push(elapsed);
    }
    let report = |name: &str, mut samples: Vec<Duration>| {
        samples.sort();
        let p50 = percentile(&samples, 0.5);
        let p99 = percentile(&samples, 0.99);
        println!(
            "{name:<14} n={:<5} p50 {:>10} p99 {:>10} max {:>10}  p99 = {:.1}x match-all, {:.1}x one-term",
            samples.len(),
            ms(p50),
            ms(p99),
            ms(samples[samples.len() - 1]),
            p99.as_secs_f64() / anchor_count.as_secs_f64(),
            p99.as_secs_f64() / anchor_term.as_secs_f64(),
        );
    };
    for (class, samples) in by_class {
        report(class, samples);
    }
    report("all", all);

    // Worst case a client can ask (not in the mix): the full 16 words, each long enough for
    // two-typo matching, with filters.
    let mut worst = Vec::new();
    for _ in 0..50 {
        let text: Vec<String> = (0..16)
            .map(|_| {
                (0..8 + qrng.below(5))
                    .map(|_| char::from(b'a' + qrng.below(26) as u8))
                    .collect::<String>()
            })
            .collect();
        let q = SearchQuery {
            text: text.join(" "),
            filters: [(Facet::ProviderClass, ["LA".to_owned()].into())].into(),
            limit: 20,
            ..SearchQuery::default()
        };
        let t = Instant::now();
        std::hint::black_box(index.search(&q)?);
        worst.push(t.elapsed());
    }
    report("16 long words", worst);
    println!(
        "mean matches per query: {}",
        hits_total / query_count.max(1) as u64
    );

    // Keeping the index current: one listing changed, committed and visible on return.
    let mut updates = Vec::new();
    for n in 0..30 {
        let mut changed = listings[qrng.below(listings.len())].clone();
        changed.title = format!("{} revised {n}", changed.title);
        let t = Instant::now();
        index.upsert(&changed)?;
        updates.push(t.elapsed());
    }
    updates.sort();
    println!(
        "upsert (commit + reload, visible on return): n=30 p50 {} max {}",
        ms(percentile(&updates, 0.5)),
        ms(updates[updates.len() - 1])
    );
    Ok(())
}
