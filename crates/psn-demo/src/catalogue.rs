//! The demo's sample catalogue: listings from real bodies across real processes (payroll,
//! revenues and benefits, free school meals, blue badges, waste, procurement, custody,
//! referrals…) so that search, facets and the partner finder show something meaningful. They are
//! registry entries only, with no gateway behind them, and every one says it is sample data.

use crate::{setup, DemoError};
use psn_api::{
    AuthorityClient, Lifecycle, ListingDetails, NewSubsystem, Price, PriceInterval, ServiceType,
    WhoMayApply,
};
use psn_authority::store::ServiceRecord;
use psn_authority::Authority;
use psn_core::names::{MemberId, ServiceId};

/// Every sample listing's description starts with this, so nobody mistakes one for a service.
pub const SAMPLE: &str = "Sample data for the demo, not a real service.";

/// One sample listing.
struct Sample {
    service: &'static str,
    title: &'static str,
    description: &'static str,
    processes: &'static [&'static str],
    lifecycle: Lifecycle,
    service_type: ServiceType,
    who_may_apply: WhoMayApply,
    /// Price per unit in pence (min, max, unit) per `price_interval`, or free.
    price: Option<(u64, u64, &'static str)>,
    price_interval: PriceInterval,
    areas: &'static [&'static str],
}

const fn sample(
    service: &'static str,
    title: &'static str,
    description: &'static str,
    processes: &'static [&'static str],
) -> Sample {
    Sample {
        service,
        title,
        description,
        processes,
        lifecycle: Lifecycle::Live,
        service_type: ServiceType::Rest,
        who_may_apply: WhoMayApply::AnyMember,
        price: None,
        price_interval: PriceInterval::Month,
        areas: &[],
    }
}

const SAMPLES: &[Sample] = &[
    Sample {
        price: Some((350, 442, "employee")),
        areas: &["Leeds", "Wakefield", "Bradford"],
        ..sample(
            "GB/LA/E08000035/shared/payroll",
            "Payroll shared service",
            "Payslips, pension deductions and year-end returns run for partner councils and schools.",
            &["psn:4002", "psn:3001", "lgsl:979"],
        )
    },
    Sample {
        service_type: ServiceType::Files,
        ..sample(
            "GB/LA/E08000003/revenues/council-tax-accounts",
            "Council tax account enquiries",
            "Balances, instalments and arrears of a council tax account, for benefits and debt teams.",
            &["lgsl:58"],
        )
    },
    Sample {
        lifecycle: Lifecycle::Beta,
        ..sample(
            "GB/LA/E08000003/revenues/council-tax-benefit",
            "Council tax support claims",
            "New claims and changes of circumstances for council tax support, with evidence.",
            &["lgsl:63", "lgsl:64"],
        )
    },
    Sample {
        areas: &["Birmingham"],
        ..sample(
            "GB/LA/E08000025/education/free-school-meals",
            "Free school meals applications",
            "Takes a family's application and decides entitlement from benefit records.",
            &["lgsl:4"],
        )
    },
    Sample {
        lifecycle: Lifecycle::Alpha,
        who_may_apply: WhoMayApply::ByRequest,
        ..sample(
            "GB/LA/E06000052/parking/blue-badge",
            "Blue Badge applications",
            "Receives applications for disabled parking permits and checks eligibility with DWP.",
            &["lgsl:279", "psn:3004"],
        )
    },
    Sample {
        price: Some((1200, 1200, "collection")),
        areas: &["Essex"],
        ..sample(
            "GB/LA/E10000012/waste/bulky-collections",
            "Bulky household waste collections",
            "Books special collections of furniture and appliances and reports their completion.",
            &["lgsl:528"],
        )
    },
    Sample {
        service_type: ServiceType::Events,
        ..sample(
            "GB/LA/E10000030/finance/procurement-notices",
            "Procurement pipeline notices",
            "Announces upcoming tenders and contract awards to partner bodies buying together.",
            &["psn:4004"],
        )
    },
    Sample {
        price: Some((65, 95, "invoice")),
        price_interval: PriceInterval::Each,
        ..sample(
            "GB/LA/E10000030/finance/accounts-payable",
            "Accounts payable for partner councils",
            "Receives, matches and pays supplier invoices for councils sharing the finance centre.",
            &["psn:4004"],
        )
    },
    Sample {
        who_may_apply: WhoMayApply::ByRequest,
        ..sample(
            "GB/POL/E23000032/custody/custody-records",
            "Custody record exchange",
            "Custody records of detained persons shared with partner forces on transfer.",
            &["psn:1001"],
        )
    },
    Sample {
        who_may_apply: WhoMayApply::ByRequest,
        lifecycle: Lifecycle::Beta,
        ..sample(
            "GB/POL/E23000010/custody/custody-records",
            "Custody records and reviews",
            "Opening, reviewing and handing over custody records between West Yorkshire and neighbours.",
            &["psn:1001"],
        )
    },
    Sample {
        ..sample(
            "GB/NHS/RR8/referrals/e-referrals",
            "Patient referrals intake",
            "Receives and triages referrals from primary care into hospital services.",
            &["psn:2001"],
        )
    },
    Sample {
        who_may_apply: WhoMayApply::ByRequest,
        ..sample(
            "GB/NHS/RJ1/safeguarding/referrals",
            "Safeguarding referrals",
            "Raises and answers safeguarding concerns between the trust, councils and police.",
            &["psn:2006"],
        )
    },
    Sample {
        service_type: ServiceType::Soap,
        lifecycle: Lifecycle::Deprecated,
        ..sample(
            "GB/LA/E08000035/shared/payroll-legacy",
            "Payroll interface (legacy)",
            "The SOAP interface of the payroll shared service, replaced by the REST one.",
            &["psn:4002"],
        )
    },
];

/// Registers the sample listings (and their subsystems) straight into the registry, then
/// brings the catalogue's index up to date so the first search finds them.
pub async fn publish(authority: &Authority, operator: &AuthorityClient) -> Result<(), DemoError> {
    for s in SAMPLES {
        let id: ServiceId = s.service.parse().map_err(setup("sample service"))?;
        let member: &MemberId = id.member();
        // A subsystem shared by two samples is added once; the second add is a conflict.
        let _ = operator
            .add_subsystem(
                member,
                &NewSubsystem {
                    code: id.subsystem().code().clone(),
                },
            )
            .await;
        let mut details = ListingDetails {
            lifecycle: s.lifecycle,
            service_type: s.service_type,
            who_may_apply: s.who_may_apply,
            areas: s.areas.iter().map(|a| (*a).to_owned()).collect(),
            onboarding_terms: SAMPLE.into(),
            ..ListingDetails::default()
        };
        if s.lifecycle == Lifecycle::Deprecated {
            details.sunset = Some(time::macros::date!(2027 - 03 - 31));
        }
        if let Some((min_pence, max_pence, unit)) = s.price {
            details.price = Price::PerUnit {
                min_pence,
                max_pence,
                unit: unit.into(),
                interval: s.price_interval,
            };
        }
        details.validate().map_err(setup("sample listing"))?;
        authority
            .store
            .put_service(
                "demo",
                &ServiceRecord {
                    id,
                    title: s.title.into(),
                    description: format!("{SAMPLE} {}", s.description),
                    processes: s.processes.iter().map(|p| (*p).to_owned()).collect(),
                    details,
                },
            )
            .await
            .map_err(setup("publishing a sample listing"))?;
    }
    authority
        .publisher
        .publish()
        .await
        .map_err(setup("publishing the configuration"))?;
    authority
        .catalogue
        .catch_up(authority, time::OffsetDateTime::now_utc())
        .await
        .map_err(setup("indexing the catalogue"))?;
    Ok(())
}
