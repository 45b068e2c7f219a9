//! Deterministic synthetic members for scale tests, in the classes the real data lacks.

use crate::{Organisation, Sector};

/// The 9 English regions and the 3 other nations, spelled as in `local_authorities.csv`, so
/// synthetic members share the region facet values of real ones.
pub const REGIONS: [&str; 12] = [
    "North East",
    "North West",
    "Yorkshire and The Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
    "Scotland",
    "Northern Ireland",
];

/// Most members [`synthetic`] returns: three classes in turn, and the smallest code space (EDU,
/// 900,000 URNs) bounds each class, so larger counts could not have unique codes.
pub const SYNTHETIC_MAX: usize = 3 * 900_000;

/// One class: its code space, and an affine permutation of it chosen from the seed, so the
/// k-th member of the class gets a distinct, scattered code without keeping a set of used ones.
struct CodeSpace {
    class: &'static str,
    sector: Sector,
    label: &'static str,
    suffix: &'static str,
    base: u64,
    size: u64,
    width: usize,
    mul: u64,
    add: u64,
}

impl CodeSpace {
    #[allow(clippy::too_many_arguments)]
    fn new(
        rng: &mut SplitMix64,
        class: &'static str,
        sector: Sector,
        label: &'static str,
        suffix: &'static str,
        base: u64,
        size: u64,
        width: usize,
    ) -> Self {
        // Multiplier coprime with the size makes k -> (mul*k + add) mod size a bijection.
        // Terminates: 1 is coprime with everything (and gcd(0, 1) == 1 for a one-code space).
        let mut mul = rng.next_u64() % size;
        while gcd(mul, size) != 1 {
            mul = (mul + 1) % size;
        }
        let add = rng.next_u64() % size;
        Self {
            class,
            sector,
            label,
            suffix,
            base,
            size,
            width,
            mul,
            add,
        }
    }

    fn code(&self, k: u64) -> String {
        let n =
            (u128::from(self.mul) * u128::from(k) + u128::from(self.add)) % u128::from(self.size);
        // n < size <= u64::MAX, so the conversion cannot fail; fall back to 0 rather than panic.
        let n = u64::try_from(n).unwrap_or(0);
        format!("{:0width$}", self.base + n, width = self.width)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SplitMix64: tiny, fast, and fully specified, so output never changes with a dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Deterministic synthetic members for scale tests, because the real data has no schools,
/// charities or companies and only about 1,300 bodies.
///
/// Classes go round-robin `EDU`, `CHC`, `COM`: schools get a 6-digit URN `[1-9][0-9]{5}`,
/// charities a 7-digit number, companies an 8-digit Companies House number (leading zeros
/// kept). Codes are unique within each class; names are `Synthetic Academy 000123`,
/// `Synthetic Charity 000124`, `Synthetic Company 000125 Ltd` (the number is the position in
/// the output); the region is one of [`REGIONS`]. The same `count` and `seed` always give the
/// same output, and a longer run starts with the shorter one. At most [`SYNTHETIC_MAX`] members
/// are returned.
pub fn synthetic(count: usize, seed: u64) -> Vec<Organisation> {
    let count = count.min(SYNTHETIC_MAX);
    let mut rng = SplitMix64(seed);
    let spaces = [
        CodeSpace::new(
            &mut rng,
            "EDU",
            Sector::Education,
            "Academy",
            "",
            100_000,
            900_000,
            6,
        ),
        CodeSpace::new(
            &mut rng,
            "CHC",
            Sector::Charity,
            "Charity",
            "",
            1_000_000,
            9_000_000,
            7,
        ),
        CodeSpace::new(
            &mut rng,
            "COM",
            Sector::Company,
            "Company",
            " Ltd",
            0,
            100_000_000,
            8,
        ),
    ];
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let space = &spaces[i % spaces.len()];
        let k = (i / spaces.len()) as u64;
        let region = REGIONS[(rng.next_u64() % REGIONS.len() as u64) as usize];
        out.push(Organisation {
            class: space.class,
            code: space.code(k),
            name: format!("Synthetic {} {i:06}{}", space.label, space.suffix),
            sector: space.sector,
            region: Some(region.to_owned()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permutation covers each code space exactly once, which is what lets [`synthetic`]
    /// promise unique codes up to [`SYNTHETIC_MAX`] without building that many members.
    #[test]
    fn code_spaces_are_permutations() {
        for seed in [0, 9, u64::MAX] {
            let mut rng = SplitMix64(seed);
            let edu = CodeSpace::new(
                &mut rng,
                "EDU",
                Sector::Education,
                "",
                "",
                100_000,
                900_000,
                6,
            );
            let mut used = vec![false; 900_000];
            for k in 0..900_000 {
                let code = edu.code(k);
                let n: usize = code.parse().expect("digits");
                assert!((100_000..1_000_000).contains(&n), "{code}");
                assert!(
                    !std::mem::replace(&mut used[n - 100_000], true),
                    "{code} repeats"
                );
            }
            // Small spaces with awkward factors still give bijections.
            for size in [1, 2, 12, 97, 1000] {
                let space = CodeSpace::new(&mut rng, "X", Sector::Company, "", "", 0, size, 4);
                let codes: std::collections::HashSet<String> =
                    (0..size).map(|k| space.code(k)).collect();
                assert_eq!(codes.len() as u64, size);
            }
        }
    }

    #[test]
    fn count_is_capped() {
        assert_eq!(SYNTHETIC_MAX, 2_700_000);
        assert_eq!(synthetic(5, 1).len(), 5);
    }
}
