//! The peer model: an open nearest-neighbour model over council profiles
//! (`data/benchmarks/peer_model.json`), so every council's automatic peer group can be
//! recomputed by anyone from published data, and every distance explained.
//!
//! # The computation
//!
//! Over the *population* (the network's members being compared, not all UK councils):
//!
//! * a numeric variable is standardised: `z = (x − mean) / sd` (population standard deviation),
//!   after a natural log when the variable is marked `log`; a variable with no spread (sd 0, or
//!   fewer than two known values) contributes 0 to every distance;
//! * a location's latitude and longitude are each standardised the same way and the difference
//!   between two members is the length of the step, `sqrt(Δz_lat² + Δz_long²)`;
//! * a categorical variable differs by 0 when two members share the category and 1 when not.
//!
//! Variable `v` contributes `w_v · d_v²`; the raw distance is the square root of the sum. Raw
//! distances are divided by the largest raw distance between any two members of the
//! population, so 0 is identical and 1 the most different pair (a population of one, or of
//! identical members, has every distance 0).
//!
//! # Missing values
//!
//! A member without a value for a variable (no population in the source, a number where a
//! category is expected, a log of a value ≤ 0) is left out of that variable's mean and sd, and
//! the variable contributes 0 to every distance from that member: it is neither near nor far on
//! what is not known. Its share is then 0 and the value reads `unknown`. A member of the
//! population with no profile at all is left out of the index ([`PeerIndex::nearest`] on it is
//! [`Error::NoProfile`]).

use std::collections::{BTreeMap, HashSet};

use psn_api::{PeerModel, PeerVariable, VariableKind, VariableShare};
use psn_orgdata::{ProfileValue, Profiles};

use crate::text::{clip, number, thousands};
use crate::Error;

const EMBEDDED: &str = include_str!("../../../data/benchmarks/peer_model.json");

/// Largest `k` a model may ask for.
pub const MAX_K: u32 = 100;

/// The model compiled into the binary.
pub fn embedded_model() -> Result<PeerModel, Error> {
    parse_model(EMBEDDED)
}

/// Parses and checks a peer model: non-empty version and class, `k` from 1 to [`MAX_K`], at
/// least one variable, unique non-empty variable names, weights finite and above 0, `log`
/// only on numeric variables.
pub fn parse_model(text: &str) -> Result<PeerModel, Error> {
    let model: PeerModel = serde_json::from_str(text).map_err(|e| Error::Model(e.to_string()))?;
    if model.version.trim().is_empty() {
        return Err(Error::Model("`version` must not be empty".to_owned()));
    }
    if model.class.trim().is_empty() {
        return Err(Error::Model("`class` must not be empty".to_owned()));
    }
    if !(1..=MAX_K).contains(&model.k) {
        return Err(Error::Model(format!(
            "`k` is {}, it must be 1 to {MAX_K}",
            model.k
        )));
    }
    if model.variables.is_empty() {
        return Err(Error::Model("no variables".to_owned()));
    }
    let mut names = HashSet::new();
    for (i, variable) in model.variables.iter().enumerate() {
        let name = if variable.name.is_empty() {
            format!("#{}", i + 1)
        } else {
            clip(&variable.name, 40)
        };
        let bad = |field: &'static str, message: &str| Error::Variable {
            variable: name.clone(),
            field,
            message: message.to_owned(),
        };
        if variable.name.trim().is_empty() {
            return Err(bad("name", "must not be empty"));
        }
        if !names.insert(variable.name.as_str()) {
            return Err(bad("name", "is used by two variables"));
        }
        if !(variable.weight.is_finite() && variable.weight > 0.0) {
            return Err(bad("weight", "must be a finite number above 0"));
        }
        if variable.log && variable.kind != VariableKind::Numeric {
            return Err(bad("log", "applies only to numeric variables"));
        }
    }
    Ok(model)
}

/// One of a member's nearest peers.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// The peer's code.
    pub code: String,
    /// 1 for the nearest.
    pub rank: u32,
    /// Rebased distance, 0 to 1.
    pub distance: f64,
    /// Each variable's share of the squared distance, in the model's order.
    pub shares: Vec<VariableShare>,
}

/// One variable's standardised values over the population, index-aligned with the members.
enum Column {
    /// z-scores (none: unknown or no spread).
    Numeric(Vec<Option<f64>>),
    /// z-scores of latitude and longitude.
    Location(Vec<Option<(f64, f64)>>),
    /// Categories.
    Categorical(Vec<Option<String>>),
}

/// The peer model applied to a population: standardised values and the rebasing divisor.
pub struct PeerIndex {
    variables: Vec<PeerVariable>,
    codes: Vec<String>,
    index: BTreeMap<String, usize>,
    columns: Vec<Column>,
    /// Values as people read them, per variable then member.
    shown: Vec<Vec<String>>,
    /// Largest raw distance between two members (0: all identical or fewer than two).
    divisor: f64,
    /// Codes asked for that have no profile.
    without_profile: HashSet<String>,
}

impl PeerIndex {
    /// Standardises the model's variables over `population` (member codes; duplicates are
    /// counted once, codes without a profile are left out) and finds the largest distance.
    /// The work is quadratic in the population, which is fine for the few thousand members a
    /// network has.
    pub fn new(
        model: &PeerModel,
        profiles: &Profiles,
        population: &[String],
    ) -> Result<PeerIndex, Error> {
        if model.variables.is_empty() {
            return Err(Error::Model("no variables".to_owned()));
        }
        let mut codes: Vec<String> = Vec::new();
        let mut index = BTreeMap::new();
        let mut without_profile = HashSet::new();
        for code in population {
            if profiles.get(code).is_none() {
                without_profile.insert(code.clone());
            } else if !index.contains_key(code) {
                index.insert(code.clone(), codes.len());
                codes.push(code.clone());
            }
        }
        let mut columns = Vec::new();
        let mut shown = Vec::new();
        for variable in &model.variables {
            let values: Vec<Option<&ProfileValue>> = codes
                .iter()
                .map(|c| profiles.get(c).and_then(|p| p.values.get(&variable.name)))
                .collect();
            shown.push(
                values
                    .iter()
                    .map(|v| show(&variable.name, *v))
                    .collect::<Vec<_>>(),
            );
            columns.push(match variable.kind {
                VariableKind::Numeric => {
                    let raw: Vec<Option<f64>> = values
                        .iter()
                        .map(|v| match v {
                            Some(ProfileValue::Number(x)) if variable.log => {
                                (*x > 0.0).then(|| x.ln())
                            }
                            Some(ProfileValue::Number(x)) => Some(*x),
                            _ => None,
                        })
                        .map(|v| v.filter(|x| x.is_finite()))
                        .collect();
                    Column::Numeric(standardise(&raw))
                }
                VariableKind::Location => {
                    let points: Vec<Option<(f64, f64)>> = values
                        .iter()
                        .map(|v| match v {
                            Some(ProfileValue::Location { lat, long })
                                if lat.is_finite() && long.is_finite() =>
                            {
                                Some((*lat, *long))
                            }
                            _ => None,
                        })
                        .collect();
                    let lat =
                        standardise(&points.iter().map(|p| p.map(|p| p.0)).collect::<Vec<_>>());
                    let long =
                        standardise(&points.iter().map(|p| p.map(|p| p.1)).collect::<Vec<_>>());
                    Column::Location(
                        points
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                p.map(|_| (lat[i].unwrap_or(0.0), long[i].unwrap_or(0.0)))
                            })
                            .collect(),
                    )
                }
                VariableKind::Categorical => Column::Categorical(
                    values
                        .iter()
                        .map(|v| match v {
                            Some(ProfileValue::Category(c)) => Some(c.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
            });
        }
        let mut built = PeerIndex {
            variables: model.variables.clone(),
            codes,
            index,
            columns,
            shown,
            divisor: 0.0,
            without_profile,
        };
        let mut largest: f64 = 0.0;
        for i in 0..built.codes.len() {
            for j in (i + 1)..built.codes.len() {
                let squared: f64 = built.contributions(i, j).iter().sum();
                largest = largest.max(squared.sqrt());
            }
        }
        built.divisor = largest;
        Ok(built)
    }

    /// How many members are compared.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether no member is compared.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Each variable's weighted squared difference between members `i` and `j`.
    fn contributions(&self, i: usize, j: usize) -> Vec<f64> {
        self.variables
            .iter()
            .zip(&self.columns)
            .map(|(variable, column)| {
                let d2 = match column {
                    Column::Numeric(z) => match (z[i], z[j]) {
                        (Some(a), Some(b)) => (a - b).powi(2),
                        _ => 0.0,
                    },
                    Column::Location(z) => match (z[i], z[j]) {
                        (Some(a), Some(b)) => (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2),
                        _ => 0.0,
                    },
                    Column::Categorical(c) => match (&c[i], &c[j]) {
                        (Some(a), Some(b)) if a != b => 1.0,
                        _ => 0.0,
                    },
                };
                variable.weight * d2
            })
            .collect()
    }

    fn rebase(&self, squared: f64) -> f64 {
        if self.divisor > 0.0 {
            (squared.sqrt() / self.divisor).min(1.0)
        } else {
            0.0
        }
    }

    fn position(&self, code: &str) -> Result<usize, Error> {
        match self.index.get(code) {
            Some(&i) => Ok(i),
            None if self.without_profile.contains(code) => Err(Error::NoProfile(code.to_owned())),
            None => Err(Error::NotInPopulation(code.to_owned())),
        }
    }

    /// The rebased distance between two members, if both are compared.
    pub fn distance(&self, a: &str, b: &str) -> Option<f64> {
        let i = *self.index.get(a)?;
        let j = *self.index.get(b)?;
        Some(self.rebase(self.contributions(i, j).iter().sum()))
    }

    /// The `k` members nearest to `code` (not itself), nearest first, ties by code, each with
    /// its variables' shares of the squared distance (all 0 when the distance is 0).
    pub fn nearest(&self, code: &str, k: usize) -> Result<Vec<Neighbour>, Error> {
        let i = self.position(code)?;
        let mut all: Vec<(f64, usize, Vec<f64>)> = (0..self.codes.len())
            .filter(|&j| j != i)
            .map(|j| {
                let parts = self.contributions(i, j);
                let squared: f64 = parts.iter().sum();
                (squared, j, parts)
            })
            .collect();
        all.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| self.codes[a.1].cmp(&self.codes[b.1]))
        });
        Ok(all
            .into_iter()
            .take(k)
            .zip(1u32..)
            .map(|((squared, j, parts), rank)| Neighbour {
                code: self.codes[j].clone(),
                rank,
                distance: self.rebase(squared),
                shares: self
                    .variables
                    .iter()
                    .zip(parts)
                    .enumerate()
                    .map(|(v, (variable, part))| VariableShare {
                        variable: variable.name.clone(),
                        share_percent: if squared > 0.0 {
                            part / squared * 100.0
                        } else {
                            0.0
                        },
                        member_value: self.shown[v][i].clone(),
                        peer_value: self.shown[v][j].clone(),
                    })
                    .collect(),
            })
            .collect())
    }
}

/// z-scores of the known values; all unknown when fewer than two are known or sd is 0.
fn standardise(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let n = known.len() as f64;
    if known.len() < 2 {
        return vec![None; values.len()];
    }
    let mean = known.iter().sum::<f64>() / n;
    let sd = (known.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    if !(sd.is_finite() && sd > 0.0) {
        return vec![None; values.len()];
    }
    values.iter().map(|v| v.map(|x| (x - mean) / sd)).collect()
}

/// A value as people read it: `1,589,057`, `3,544 km²`, `448 per km²`, `County`,
/// `51.52° N, 0.09° E`, or `unknown`. Units go by the variable's name, as the model's
/// variables are named after the profile's.
fn show(variable: &str, value: Option<&ProfileValue>) -> String {
    match value {
        None => "unknown".to_owned(),
        Some(ProfileValue::Number(x)) => match variable {
            "area" => format!("{} km²", number(*x)),
            "density" => format!("{} per km²", number(*x)),
            "population" => thousands(*x),
            _ => number(*x),
        },
        Some(ProfileValue::Category(c)) => c.clone(),
        Some(ProfileValue::Location { lat, long }) => format!(
            "{:.2}° {}, {:.2}° {}",
            lat.abs(),
            if *lat < 0.0 { 'S' } else { 'N' },
            long.abs(),
            if *long < 0.0 { 'W' } else { 'E' }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_orgdata::parse_council_profiles;

    /// Profiles for codes with the variables of a small CSV (`code,<variables>`), plus an
    /// optional location per code.
    fn profiles(variables: &str, locations: &[(&str, f64, f64)]) -> Profiles {
        let mut base = "gss-code,current-authority,lat,long\n".to_owned();
        for line in variables.lines().skip(1) {
            let code = line.split(',').next().unwrap_or("");
            let (lat, long) = locations
                .iter()
                .find(|l| l.0 == code)
                .map_or((String::new(), String::new()), |l| {
                    (l.1.to_string(), l.2.to_string())
                });
            base.push_str(&format!("{code},True,{lat},{long}\n"));
        }
        let mut p = parse_council_profiles(&base).expect("profiles");
        p.merge_csv(variables).expect("merge");
        p
    }

    fn variable(name: &str, kind: VariableKind, log: bool, weight: f64) -> PeerVariable {
        PeerVariable {
            name: name.to_owned(),
            label: name.to_owned(),
            kind,
            log,
            weight,
            source: "test".to_owned(),
        }
    }

    fn model(variables: Vec<PeerVariable>) -> PeerModel {
        PeerModel {
            version: "t".to_owned(),
            class: "LA".to_owned(),
            k: 15,
            variables,
            method: "test".to_owned(),
        }
    }

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| (*c).to_owned()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn numeric_and_categorical_by_hand() {
        // x: A 1, B 2, C 3 → mean 2, sd sqrt(2/3) → z −1.2247, 0, 1.2247 (weight 1).
        // kind: A p, B p, C q (weight 2).
        // Squared: A–B x 1.5 + 0 = 1.5; A–C 6 + 2 = 8; B–C 1.5 + 2 = 3.5.
        // Rebased by sqrt(8): A–B sqrt(1.5/8) = 0.4330, A–C 1, B–C sqrt(3.5/8) = 0.6614.
        let p = profiles("code,x,kind\nA,1,p\nB,2,p\nC,3,q\n", &[]);
        let m = model(vec![
            variable("x", VariableKind::Numeric, false, 1.0),
            variable("kind", VariableKind::Categorical, false, 2.0),
        ]);
        let index = PeerIndex::new(&m, &p, &codes(&["A", "B", "C"])).expect("index");
        assert!(close(
            index.distance("A", "B").expect("AB"),
            (1.5f64 / 8.0).sqrt()
        ));
        assert!(close(index.distance("A", "C").expect("AC"), 1.0));
        assert!(close(
            index.distance("B", "C").expect("BC"),
            (3.5f64 / 8.0).sqrt()
        ));
        assert!(close(index.distance("B", "B").expect("BB"), 0.0));
        let near = index.nearest("B", 5).expect("nearest");
        assert_eq!(near.len(), 2);
        assert_eq!((near[0].code.as_str(), near[0].rank), ("A", 1));
        assert_eq!((near[1].code.as_str(), near[1].rank), ("C", 2));
        // B→A: all of it is x. B→C: x 1.5/3.5 = 42.857%, kind 2/3.5 = 57.143%.
        assert!(close(near[0].shares[0].share_percent, 100.0));
        assert!(close(near[0].shares[1].share_percent, 0.0));
        assert!(close(near[1].shares[0].share_percent, 1.5 / 3.5 * 100.0));
        assert!(close(near[1].shares[1].share_percent, 2.0 / 3.5 * 100.0));
        assert_eq!(near[1].shares[1].member_value, "p");
        assert_eq!(near[1].shares[1].peer_value, "q");
        assert_eq!(index.nearest("B", 1).expect("k 1").len(), 1);
    }

    #[test]
    fn ties_are_broken_by_code() {
        // x: A 0, E2 1, E1 −1: E1 and E2 are equally far from A; E1 comes first.
        let p = profiles("code,x\nA,0\nE2,1\nE1,-1\n", &[]);
        let m = model(vec![variable("x", VariableKind::Numeric, false, 1.0)]);
        let index = PeerIndex::new(&m, &p, &codes(&["A", "E2", "E1"])).expect("index");
        let near = index.nearest("A", 2).expect("nearest");
        assert_eq!(near[0].code, "E1");
        assert_eq!(near[1].code, "E2");
        assert!(close(near[0].distance, near[1].distance));
        // Largest pair E1–E2 (z ±1.2247, squared 6); A–E1 squared 1.5 → sqrt(1.5/6) = 0.5.
        assert!(close(near[0].distance, 0.5));
    }

    #[test]
    fn missing_values_contribute_nothing() {
        // x over A, B only: mean 2, sd 1 → z −1, 1; M has no x. kind: A p, B p, M q (w 2).
        // A–B: 4 (raw 2, the largest); A–M and B–M: 2 (raw sqrt 2) → rebased 0.7071.
        let p = profiles("code,x,kind\nA,1,p\nB,3,p\nM,,q\n", &[]);
        let m = model(vec![
            variable("x", VariableKind::Numeric, false, 1.0),
            variable("kind", VariableKind::Categorical, false, 2.0),
        ]);
        let index = PeerIndex::new(&m, &p, &codes(&["A", "B", "M"])).expect("index");
        let near = index.nearest("M", 2).expect("nearest");
        assert_eq!(near[0].code, "A");
        assert_eq!(near[1].code, "B");
        assert!(close(near[0].distance, 2f64.sqrt() / 2.0));
        assert!(close(near[0].shares[0].share_percent, 0.0));
        assert!(close(near[0].shares[1].share_percent, 100.0));
        assert_eq!(near[0].shares[0].member_value, "unknown");
        assert_eq!(near[0].shares[0].peer_value, "1");
        assert!(close(index.distance("A", "B").expect("AB"), 1.0));
    }

    #[test]
    fn log_transform_evens_out_a_skewed_count() {
        // ln 100, ln 1,000, ln 10,000 are equally spaced: z −1.2247, 0, 1.2247, so
        // A–B and B–C are both sqrt(1.5/6) = 0.5. Without the log B is far nearer to A.
        let p = profiles("code,population\nA,100\nB,1000\nC,10000\n", &[]);
        let logged = model(vec![variable(
            "population",
            VariableKind::Numeric,
            true,
            3.0,
        )]);
        let index = PeerIndex::new(&logged, &p, &codes(&["A", "B", "C"])).expect("index");
        assert!(close(index.distance("A", "B").expect("AB"), 0.5));
        assert!(close(index.distance("B", "C").expect("BC"), 0.5));
        let near = index.nearest("B", 2).expect("nearest");
        assert_eq!(near[0].code, "A");
        assert_eq!(near[0].shares[0].member_value, "1,000");
        assert_eq!(near[0].shares[0].peer_value, "100");
        let plain = model(vec![variable(
            "population",
            VariableKind::Numeric,
            false,
            3.0,
        )]);
        let index = PeerIndex::new(&plain, &p, &codes(&["A", "B", "C"])).expect("index");
        // Raw: A–B 900 apart, A–C 9,900 (the largest) → 900/9900 = 0.0909.
        assert!(close(index.distance("A", "B").expect("AB"), 900.0 / 9900.0));
    }

    #[test]
    fn location_is_the_step_length() {
        // lat 50, 52, 51 → z −1.2247, 1.2247, 0; long 0, 0, 3 → mean 1, sd sqrt 2 →
        // z −0.7071, −0.7071, 1.4142. Every pair's squared step is 6: all distances 1.
        let p = profiles(
            "code,x\nA,1\nB,1\nC,1\n",
            &[("A", 50.0, 0.0), ("B", 52.0, 0.0), ("C", 51.0, -3.0)],
        );
        let m = model(vec![
            variable("location", VariableKind::Location, false, 1.0),
            variable("x", VariableKind::Numeric, false, 1.0),
        ]);
        let index = PeerIndex::new(&m, &p, &codes(&["A", "B", "C"])).expect("index");
        for (a, b) in [("A", "B"), ("A", "C"), ("B", "C")] {
            assert!(close(index.distance(a, b).expect("pair"), 1.0), "{a}{b}");
        }
        let near = index.nearest("A", 2).expect("nearest");
        assert!(close(near[0].shares[0].share_percent, 100.0));
        // x has no spread: it counts for nothing.
        assert!(close(near[0].shares[1].share_percent, 0.0));
        assert_eq!(near[1].shares[0].member_value, "50.00° N, 0.00° E");
        assert_eq!(near[1].shares[0].peer_value, "51.00° N, 3.00° W");
    }

    #[test]
    fn degenerate_populations_and_errors() {
        let p = profiles("code,x\nA,1\nB,1\nC,2\n", &[]);
        let m = model(vec![variable("x", VariableKind::Numeric, false, 1.0)]);
        let one = PeerIndex::new(&m, &p, &codes(&["A", "A"])).expect("one");
        assert_eq!(one.len(), 1);
        assert!(one.nearest("A", 5).expect("nearest").is_empty());
        let same = PeerIndex::new(&m, &p, &codes(&["A", "B"])).expect("same");
        let near = same.nearest("A", 5).expect("nearest");
        assert!(close(near[0].distance, 0.0));
        assert!(close(near[0].shares[0].share_percent, 0.0));
        let index = PeerIndex::new(&m, &p, &codes(&["A", "B", "Z9"])).expect("index");
        assert!(matches!(index.nearest("Z9", 3), Err(Error::NoProfile(_))));
        assert!(matches!(
            index.nearest("C", 3),
            Err(Error::NotInPopulation(_))
        ));
        assert_eq!(index.distance("A", "C"), None);
    }

    #[test]
    fn model_checks() {
        let good = embedded_model().expect("embedded model");
        assert_eq!(good.class, "LA");
        assert_eq!(good.k, 15);
        let text = serde_json::to_string(&good).expect("json");
        for (from, to, expect) in [
            ("\"k\":15", "\"k\":0", "`k`"),
            ("\"k\":15", "\"k\":101", "`k`"),
            ("\"weight\":3.0", "\"weight\":0.0", "weight"),
            ("\"weight\":3.0", "\"weight\":-1.0", "weight"),
            (
                "\"name\":\"density\"",
                "\"name\":\"population\"",
                "two variables",
            ),
            ("\"name\":\"density\"", "\"name\":\"\"", "name"),
            ("\"version\":\"2026.1\"", "\"version\":\"\"", "version"),
        ] {
            assert!(text.contains(from), "{from}");
            let e = parse_model(&text.replacen(from, to, 1))
                .expect_err(to)
                .to_string();
            assert!(e.contains(expect), "{to}: {e}");
        }
        let none = serde_json::to_string(&model(Vec::new())).expect("json");
        assert!(parse_model(&none).is_err());
    }

    #[test]
    fn kent_peers_are_county_councils() {
        let profiles = psn_orgdata::council_profiles().expect("profiles");
        let model = embedded_model().expect("model");
        // Councils with every variable of the model. Under the missing-value rule a council
        // with no population, area or location (three combined authorities in the source)
        // differs from others only by category, so it would come out near every English
        // council; a network of such members would see them among everyone's peers.
        let population: Vec<String> = profiles
            .iter()
            .filter(|p| {
                model
                    .variables
                    .iter()
                    .all(|v| p.values.contains_key(&v.name))
            })
            .map(|p| p.code.clone())
            .collect();
        assert!(population.len() > 380, "{}", population.len());
        let index = PeerIndex::new(&model, &profiles, &population).expect("index");
        let near = index
            .nearest("E10000016", model.k as usize)
            .expect("Kent's peers");
        assert_eq!(near.len(), 15);
        let kind = |code: &str| match profiles.get(code).and_then(|p| p.values.get("type")) {
            Some(ProfileValue::Category(c)) => c.clone(),
            _ => String::new(),
        };
        let counties = near.iter().filter(|n| kind(&n.code) == "County").count();
        let report: Vec<String> = near
            .iter()
            .map(|n| format!("{} {} {:.3}", n.code, kind(&n.code), n.distance))
            .collect();
        assert!(
            near[..10].iter().all(|n| kind(&n.code) == "County"),
            "{report:#?}"
        );
        assert!(counties >= 13, "{report:#?}");
        for n in &near {
            let total: f64 = n.shares.iter().map(|s| s.share_percent).sum();
            assert!((total - 100.0).abs() < 1e-6);
            assert!((0.0..=1.0).contains(&n.distance));
        }
        assert_eq!(near[0].shares[0].member_value, "1,589,057");
        let area = near[0]
            .shares
            .iter()
            .find(|s| s.variable == "area")
            .expect("area");
        assert_eq!(area.member_value, "3,544 km²");
    }
}
