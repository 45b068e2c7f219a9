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
