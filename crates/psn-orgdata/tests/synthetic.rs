//! Synthetic members for scale tests: deterministic, unique, and shaped like the real codes.

use std::collections::HashSet;

use psn_orgdata::{synthetic, Sector, REGIONS};

fn is_edu(code: &str) -> bool {
    code.len() == 6 && code.as_bytes()[0] != b'0' && code.bytes().all(|b| b.is_ascii_digit())
}

fn is_chc(code: &str) -> bool {
    (6..=7).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

fn is_com(code: &str) -> bool {
    code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn same_seed_same_output() {
    assert_eq!(synthetic(3_000, 42), synthetic(3_000, 42));
    assert_ne!(synthetic(300, 42), synthetic(300, 43));
    // A shorter run is a prefix of a longer one.
    assert_eq!(synthetic(100, 7)[..], synthetic(1_000, 7)[..100]);
    assert!(synthetic(0, 1).is_empty());
}

#[test]
fn thirty_thousand_unique_well_shaped_members() {
    for seed in [0, 1, u64::MAX] {
        let all = synthetic(30_000, seed);
        assert_eq!(all.len(), 30_000);
        let mut keys = HashSet::new();
        let mut names = HashSet::new();
        for (i, o) in all.iter().enumerate() {
            let (class, sector, ok) = match i % 3 {
                0 => ("EDU", Sector::Education, is_edu(&o.code)),
                1 => ("CHC", Sector::Charity, is_chc(&o.code)),
                _ => ("COM", Sector::Company, is_com(&o.code)),
            };
            assert_eq!(o.class, class);
            assert_eq!(o.sector, sector);
            assert!(ok, "{o:?}");
            assert!(keys.insert((o.class, o.code.clone())), "{o:?} repeats");
            assert!(names.insert(o.name.clone()));
            let region = o.region.as_deref().unwrap_or_default();
            assert!(REGIONS.contains(&region), "{o:?}");
        }
        assert_eq!(all[123].name, "Synthetic Academy 000123");
        assert_eq!(all[124].name, "Synthetic Charity 000124");
        assert_eq!(all[125].name, "Synthetic Company 000125 Ltd");
        // Regions are spread, not constant.
        let regions: HashSet<_> = all.iter().filter_map(|o| o.region.as_deref()).collect();
        assert_eq!(regions.len(), REGIONS.len());
    }
}
