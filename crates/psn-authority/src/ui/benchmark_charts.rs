//! The benchmark report's two charts, drawn on the server as SVG like `ui/chart.rs`: a report
//! (`psn_api::BenchmarkReport`) comes in, the geometry is computed here in drawing units, and
//! `templates/benchmark_distribution.html` and `templates/benchmark_scatter.html` write it out
//! as elements whose only variable parts are numbers and escaped text. Each chart carries a
//! summary in words (its `<desc>`), and the report page shows the same data as tables.
//!
//! Figures come from members' returns and providers' price lists, so nothing here trusts them:
//! a value that is not finite is left out, a negative one is drawn at zero, and an empty or flat
//! set of values still gives an axis with a width, so no NaN or infinity reaches the SVG.

use psn_api::Quartiles;

/// Room for labels around the plot, in drawing units; the SVG scales to its container's width.
const WIDTH: f64 = 800.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
/// Ticks along a money axis, both ends included.
const X_TICKS: usize = 5;

/// Drawing units, written with one decimal.
fn unit(v: f64) -> String {
    format!("{v:.1}")
}

/// A whole number with thousands separators, `1,589,100`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    // Digits are ASCII: the first group has one to three of them, then groups of three.
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    }
    .min(digits.len());
    let (first, rest) = digits.split_at(head);
    let mut grouped = first.to_owned();
    for chunk in rest.as_bytes().chunks(3) {
        grouped.push(',');
        grouped.extend(chunk.iter().copied().map(char::from));
    }
    grouped
}

/// Pounds per unit as people read them: fractions of a penny below £1, pence up to £1,000,
/// whole pounds with separators above.
pub fn money(v: f64) -> String {
    if !v.is_finite() {
        return "not available".into();
    }
    if v == 0.0 {
        return "£0".into();
    }
    if v.abs() >= 1000.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        // Finite and rounded: the cast saturates at worst.
        return format!("{sign}£{}", thousands(v.abs().round() as u64));
    }
    if v.abs() < 1.0 {
        format!("£{v:.3}")
    } else {
        format!("£{v:.2}")
    }
}

/// One labelled position on an axis.
pub struct Tick {
    pub at: String,
    pub label: String,
}

/// A value axis from 0 to a round number (1, 2, 2.5 or 5 times a power of ten) at or above
/// every finite value; 1 when there is none above zero, so the axis always has a width.
fn money_axis(values: impl Iterator<Item = f64>) -> f64 {
    let top = values.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    if top <= 0.0 {
        return 1.0;
    }
    (-4..=12)
        .flat_map(|power| [1.0, 2.0, 2.5, 5.0].map(|m| m * 10_f64.powi(power)))
        .find(|round| *round >= top)
        .unwrap_or(top)
}

/// A horizontal money scale over the plot's width.
struct Scale {
    top: f64,
}

impl Scale {
    /// The x of `v`, clamped into the axis (a negative figure sits at zero).
    fn x(&self, v: f64) -> f64 {
        let v = if v.is_finite() { v } else { 0.0 };
        LEFT + (WIDTH - LEFT - RIGHT) * v.clamp(0.0, self.top) / self.top
    }

    fn ticks(&self) -> Vec<Tick> {
        (0..X_TICKS)
            .map(|k| {
                let v = self.top * k as f64 / (X_TICKS - 1) as f64;
                Tick {
                    at: unit(self.x(v)),
                    label: money(v),
                }
            })
            .collect()
    }
}

/// Where a label sits beside a marker: to its right, or to its left in the right half.
fn anchor(x: f64) -> &'static str {
    if x > WIDTH / 2.0 {
        "end"
    } else {
        "start"
    }
}

/// The subject member's figure as the charts mark it.
pub struct Subject<'a> {
    pub name: &'a str,
    pub cost_per_unit: f64,
}

/// The quartile box.
pub struct QuartileBox {
    pub top: String,
    pub height: String,
    pub bottom: String,
    pub q1: String,
    pub median: String,
    /// `q3 - q1`, at least a hairline so equal quartiles still show.
    pub width: String,
}

/// The member's marker: a diamond on a line down to the axis, with its name and figure.
pub struct Marker {
    pub x: String,
    /// Where its line starts and its label's baseline.
    pub top: String,
    pub label_y: String,
    /// The diamond's `points`.
    pub diamond: String,
    pub label: String,
    pub label_anchor: &'static str,
}

/// What `templates/benchmark_distribution.html` draws.
pub struct DistributionChart {
    pub title: String,
    pub summary: String,
    pub view_box: String,
    pub left: String,
    pub right: String,
    pub axis_y: String,
    pub grid_top: String,
    pub ticks: Vec<Tick>,
    /// One dot per published figure; figures at the same place stack upwards.
    pub dots: Vec<(String, String)>,
    pub quartiles: Option<QuartileBox>,
    pub member: Option<Marker>,
}

const DIST_HEIGHT: f64 = 230.0;
const DIST_AXIS: f64 = 185.0;
/// The quartile box sits between the dots and the axis.
const BOX_TOP: f64 = 150.0;
const BOX_HEIGHT: f64 = 25.0;
/// Gridlines start here, below the member's label.
const GRID_TOP: f64 = 30.0;
/// Dots stack upwards from here, one `DOT_STEP` apart, at most `DOT_ROWS` high.
const DOT_BASE: f64 = 138.0;
const DOT_STEP: f64 = 8.0;
const DOT_ROWS: usize = 10;
/// Figures closer than this, in drawing units, share a stack.
const DOT_BIN: f64 = 8.0;
/// The member's diamond and label.
const MARKER_Y: f64 = 42.0;
const MARKER_SIZE: f64 = 9.0;

/// Draws the distribution of published costs per unit with the quartile box and the member.
pub fn distribution(
    unit_name: &str,
    published: &[f64],
    quartiles: Option<&Quartiles>,
    subject: Option<&Subject<'_>>,
) -> DistributionChart {
    let values: Vec<f64> = published
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let scale = Scale {
        top: money_axis(
            values
                .iter()
                .copied()
                .chain(quartiles.map(|q| q.q3))
                .chain(subject.map(|s| s.cost_per_unit)),
        ),
    };
    let mut heights: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    let dots = values
        .iter()
        .map(|v| {
            let x = scale.x(*v);
            // A bin index of a clamped, finite x: always within i64.
            let stack = heights.entry((x / DOT_BIN).round() as i64).or_insert(0);
            let y = DOT_BASE - DOT_STEP * (*stack).min(DOT_ROWS - 1) as f64;
            *stack += 1;
            (unit(x), unit(y))
        })
        .collect();
    let quartile_box = quartiles
        .filter(|q| q.q1.is_finite() && q.median.is_finite() && q.q3.is_finite())
        .map(|q| QuartileBox {
            top: unit(BOX_TOP),
            height: unit(BOX_HEIGHT),
            bottom: unit(BOX_TOP + BOX_HEIGHT),
            q1: unit(scale.x(q.q1)),
            median: unit(scale.x(q.median)),
            width: unit((scale.x(q.q3) - scale.x(q.q1)).max(1.0)),
        });
    let member = subject.filter(|s| s.cost_per_unit.is_finite()).map(|s| {
        let x = scale.x(s.cost_per_unit);
        let m = MARKER_SIZE;
        Marker {
            x: unit(x),
            top: unit(MARKER_Y),
            label_y: unit(MARKER_Y - MARKER_SIZE - 8.0),
            diamond: format!(
                "{},{} {},{} {},{} {},{}",
                unit(x),
                unit(MARKER_Y - m),
                unit(x + m),
                unit(MARKER_Y),
                unit(x),
                unit(MARKER_Y + m),
                unit(x - m),
                unit(MARKER_Y)
            ),
            label: format!("{}: {}", s.name, money(s.cost_per_unit)),
            label_anchor: anchor(x),
        }
    });
    let title = format!("Cost per {unit_name} across the network");
    let summary = distribution_summary(&title, &values, quartiles, subject);
    DistributionChart {
        title,
        summary,
        view_box: format!("0 0 {WIDTH} {DIST_HEIGHT}"),
        left: unit(LEFT),
        right: unit(WIDTH - RIGHT),
        axis_y: unit(DIST_AXIS),
        grid_top: unit(GRID_TOP),
        ticks: scale.ticks(),
        dots,
        quartiles: quartile_box,
        member,
    }
}

fn distribution_summary(
    title: &str,
    values: &[f64],
    quartiles: Option<&Quartiles>,
    subject: Option<&Subject<'_>>,
) -> String {
    let low = values.iter().copied().min_by(f64::total_cmp);
    let high = values.iter().copied().max_by(f64::total_cmp);
    let mut words = match (low, high) {
        (Some(low), Some(high)) => format!(
            "{title}: {} published {}, from {} to {}.",
            values.len(),
            if values.len() == 1 {
                "figure"
            } else {
                "figures"
            },
            money(low),
            money(high)
        ),
        _ => format!("{title}: no figures are published for this year."),
    };
    if let Some(q) = quartiles {
        words.push_str(&format!(
            " Lower quartile {}, median {}, upper quartile {} ({} contributors).",
            money(q.q1),
            money(q.median),
            money(q.q3),
            q.contributors
        ));
    }
    if let Some(s) = subject {
        words.push_str(&format!(
            " {}, marked with a diamond: {}.",
            s.name,
            money(s.cost_per_unit)
        ));
    }
    words
}

/// A provider to plot: its price range per unit a year and its measured availability.
pub struct Offer<'a> {
    pub title: &'a str,
    pub low: f64,
    pub high: f64,
    pub availability: f64,
}

/// One provider on the scatter: a dot at the low end of its price, a line to the high end.
pub struct Point {
    pub title: String,
    pub x_low: String,
    pub x_high: String,
    pub y: String,
}

/// What `templates/benchmark_scatter.html` draws.
pub struct ScatterChart {
    pub title: String,
    pub summary: String,
    pub view_box: String,
    pub left: String,
    pub right: String,
    pub top: String,
    pub bottom: String,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub points: Vec<Point>,
    /// The member's own cost per unit, a vertical line with its label.
    pub member: Option<Marker>,
}

const SCATTER_HEIGHT: f64 = 340.0;
const SCATTER_TOP: f64 = 40.0;
const SCATTER_BOTTOM: f64 = 50.0;
const Y_TICKS: usize = 5;

/// An availability axis up to 100 %, from a whole ten below every value (90 % at most).
fn availability_floor(values: impl Iterator<Item = f64>) -> f64 {
    let low = values.filter(|v| v.is_finite()).fold(100.0_f64, f64::min);
    (((low - 0.5) / 10.0).floor() * 10.0).clamp(0.0, 90.0)
}

/// Draws providers' prices per unit a year against their measured availability, with the
/// member's own cost per unit as a vertical line. Offers with a non-finite figure are left out.
pub fn scatter(
    unit_name: &str,
    offers: &[Offer<'_>],
    subject: Option<&Subject<'_>>,
) -> ScatterChart {
    let offers: Vec<&Offer<'_>> = offers
        .iter()
        .filter(|o| o.low.is_finite() && o.high.is_finite() && o.availability.is_finite())
        .collect();
    let scale = Scale {
        top: money_axis(
            offers
                .iter()
                .flat_map(|o| [o.low, o.high])
                .chain(subject.map(|s| s.cost_per_unit)),
        ),
    };
    let floor = availability_floor(offers.iter().map(|o| o.availability));
    let bottom = SCATTER_HEIGHT - SCATTER_BOTTOM;
    let y = |a: f64| {
        bottom - (bottom - SCATTER_TOP) * (a.clamp(floor, 100.0) - floor) / (100.0 - floor)
    };
    let points = offers
        .iter()
        .map(|o| Point {
            title: format!(
                "{}: {} to {} per {unit_name} a year, {:.2}% available",
                o.title,
                money(o.low),
                money(o.high),
                o.availability
            ),
            x_low: unit(scale.x(o.low.min(o.high))),
            x_high: unit(scale.x(o.low.max(o.high))),
            y: unit(y(o.availability)),
        })
        .collect();
    let y_ticks = (0..Y_TICKS)
        .map(|k| {
            let a = floor + (100.0 - floor) * k as f64 / (Y_TICKS - 1) as f64;
            Tick {
                at: unit(y(a)),
                label: format!("{a:.1}%"),
            }
        })
        .collect();
    let member = subject.filter(|s| s.cost_per_unit.is_finite()).map(|s| {
        let x = scale.x(s.cost_per_unit);
        Marker {
            x: unit(x),
            top: unit(SCATTER_TOP),
            label_y: unit(SCATTER_TOP - 12.0),
            diamond: String::new(),
            label: format!("{}: {}", s.name, money(s.cost_per_unit)),
            label_anchor: anchor(x),
        }
    });
    let title = format!("Price per {unit_name} a year against measured availability");
    let mut summary = if offers.is_empty() {
        format!("{title}: no provider lists a comparable price with a measured availability.")
    } else {
        let each: Vec<String> = offers
            .iter()
            .map(|o| {
                format!(
                    "{} {} to {}, {:.2}%",
                    o.title,
                    money(o.low),
                    money(o.high),
                    o.availability
                )
            })
            .collect();
        format!(
            "{title}: {} {}: {}.",
            offers.len(),
            if offers.len() == 1 {
                "provider"
            } else {
                "providers"
            },
            each.join("; ")
        )
    };
    if let Some(s) = subject {
        summary.push_str(&format!(
            " The vertical line is {}'s own cost per {unit_name}, {}.",
            s.name,
            money(s.cost_per_unit)
        ));
    }
    ScatterChart {
        title,
        summary,
        view_box: format!("0 0 {WIDTH} {SCATTER_HEIGHT}"),
        left: unit(LEFT),
        right: unit(WIDTH - RIGHT),
        top: unit(SCATTER_TOP),
        bottom: unit(bottom),
        x_ticks: scale.ticks(),
        y_ticks,
        points,
        member,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot_width() -> f64 {
        WIDTH - LEFT - RIGHT
    }

    fn no_nan(texts: &[&str]) {
        for t in texts {
            assert!(
                !t.contains("NaN") && !t.contains("inf"),
                "a number that is not one reached the SVG: {t}"
            );
        }
    }

    #[test]
    fn the_money_axis_is_round_and_never_zero_wide() {
        assert_eq!(money_axis([3.4, 2.1].into_iter()), 5.0);
        assert!((money_axis([0.012].into_iter()) - 0.02).abs() < 1e-12);
        assert_eq!(money_axis([10.0].into_iter()), 10.0);
        assert_eq!(money_axis(std::iter::empty()), 1.0);
        assert_eq!(money_axis([0.0, -4.0].into_iter()), 1.0);
        assert_eq!(money_axis([f64::NAN, f64::INFINITY, 2.2].into_iter()), 2.5);
    }

    #[test]
    fn the_member_is_marked_where_its_figure_is() {
        let q = Quartiles {
            contributors: 5,
            q1: 1.0,
            median: 2.0,
            q3: 3.0,
        };
        let kent = Subject {
            name: "Kent County Council",
            cost_per_unit: 4.0,
        };
        let chart = distribution("invoice", &[1.0, 2.0, 3.0, 4.0, 5.0], Some(&q), Some(&kent));
        // Axis 0 to £5: £4 is four fifths along.
        let marker = chart.member.expect("marker");
        assert_eq!(marker.x, unit(LEFT + plot_width() * 0.8));
        assert_eq!(marker.label, "Kent County Council: £4.00");
        assert_eq!(marker.label_anchor, "end");
        assert!(marker.diamond.starts_with(&format!("{},", marker.x)));
        let b = chart.quartiles.expect("box");
        assert_eq!(b.q1, unit(LEFT + plot_width() * 0.2));
        assert_eq!(b.median, unit(LEFT + plot_width() * 0.4));
        assert_eq!(b.width, unit(plot_width() * 0.4));
        assert_eq!(chart.dots.len(), 5);
        assert_eq!(chart.ticks.first().map(|t| t.label.as_str()), Some("£0"));
        assert_eq!(chart.ticks.last().map(|t| t.label.as_str()), Some("£5.00"));
        assert!(chart
            .summary
            .contains("5 published figures, from £1.00 to £5.00"));
        assert!(chart.summary.contains("median £2.00"));
        assert!(chart
            .summary
            .contains("Kent County Council, marked with a diamond: £4.00"));
    }

    #[test]
    fn no_figures_still_give_an_axis_and_say_so() {
        let chart = distribution("invoice", &[], None, None);
        assert!(chart.dots.is_empty());
        assert!(chart.quartiles.is_none() && chart.member.is_none());
        assert_eq!(chart.ticks.len(), X_TICKS);
        assert!(chart.summary.contains("no figures are published"));
        let scatter = scatter("invoice", &[], None);
        assert!(scatter.points.is_empty());
        assert!(scatter.summary.contains("no provider lists"));
        assert_eq!(
            scatter.y_ticks.first().map(|t| t.label.as_str()),
            Some("90.0%")
        );
    }

    #[test]
    fn equal_figures_stack_and_one_figure_is_drawn() {
        let chart = distribution("payslip", &[2.0; 4], None, None);
        let xs: Vec<&str> = chart.dots.iter().map(|(x, _)| x.as_str()).collect();
        assert!(xs.iter().all(|x| *x == xs[0]), "same place: {xs:?}");
        let ys: Vec<&str> = chart.dots.iter().map(|(_, y)| y.as_str()).collect();
        assert_eq!(
            ys,
            [
                unit(DOT_BASE),
                unit(DOT_BASE - DOT_STEP),
                unit(DOT_BASE - 2.0 * DOT_STEP),
                unit(DOT_BASE - 3.0 * DOT_STEP)
            ]
        );
        let q = Quartiles {
            contributors: 4,
            q1: 2.0,
            median: 2.0,
            q3: 2.0,
        };
        let chart = distribution("payslip", &[2.0], Some(&q), None);
        assert_eq!(chart.dots.len(), 1);
        assert!(chart.summary.contains("1 published figure,"));
        assert_eq!(
            chart.quartiles.map(|b| b.width),
            Some(unit(1.0)),
            "a hairline"
        );
    }

    #[test]
    fn hostile_figures_never_reach_the_svg_as_nan() {
        let q = Quartiles {
            contributors: 5,
            q1: f64::NAN,
            median: 1.0,
            q3: 2.0,
        };
        let subject = Subject {
            name: "Kent",
            cost_per_unit: -3.0,
        };
        let chart = distribution(
            "invoice",
            &[f64::NAN, -1.0, 0.0, f64::INFINITY, 2.0],
            Some(&q),
            Some(&subject),
        );
        assert!(
            chart.quartiles.is_none(),
            "quartiles with a NaN are not drawn"
        );
        assert_eq!(chart.dots.len(), 3, "non-finite figures are left out");
        let zero = unit(LEFT);
        assert_eq!(chart.dots[0].0, zero, "a negative figure sits at zero");
        let marker = chart.member.expect("marker");
        assert_eq!(marker.x, zero);
        let mut all: Vec<&str> = chart
            .dots
            .iter()
            .flat_map(|(x, y)| [x.as_str(), y.as_str()])
            .collect();
        all.extend([marker.x.as_str(), marker.diamond.as_str()]);
        all.extend(chart.ticks.iter().map(|t| t.at.as_str()));
        no_nan(&all);

        let offers = [
            Offer {
                title: "Payables",
                low: 0.5,
                high: 0.4,
                availability: 99.5,
            },
            Offer {
                title: "Broken",
                low: f64::NAN,
                high: 1.0,
                availability: 99.0,
            },
            Offer {
                title: "Down",
                low: 0.2,
                high: 0.3,
                availability: -5.0,
            },
        ];
        let s = scatter("invoice", &offers, Some(&subject));
        assert_eq!(s.points.len(), 2);
        let end = |t: &str| t.parse::<f64>().expect("a number");
        assert!(
            end(&s.points[0].x_low) < end(&s.points[0].x_high),
            "low end first"
        );
        let bottom = unit(SCATTER_HEIGHT - SCATTER_BOTTOM);
        assert_eq!(
            s.points[1].y, bottom,
            "availability below the axis sits on it"
        );
        assert_eq!(s.y_ticks.first().map(|t| t.label.as_str()), Some("0.0%"));
        let mut all: Vec<&str> = s
            .points
            .iter()
            .flat_map(|p| [p.x_low.as_str(), p.x_high.as_str(), p.y.as_str()])
            .collect();
        all.extend(s.x_ticks.iter().chain(&s.y_ticks).map(|t| t.at.as_str()));
        no_nan(&all);
    }

    #[test]
    fn the_scatter_places_prices_and_availability() {
        let offers = [Offer {
            title: "Accounts payable service",
            low: 1.0,
            high: 2.0,
            availability: 95.0,
        }];
        let kent = Subject {
            name: "Kent County Council",
            cost_per_unit: 3.0,
        };
        let s = scatter("invoice", &offers, Some(&kent));
        // Axis 0 to £5; availability 90 % to 100 %, 95 % half way up.
        let p = &s.points[0];
        assert_eq!(p.x_low, unit(LEFT + plot_width() * 0.2));
        assert_eq!(p.x_high, unit(LEFT + plot_width() * 0.4));
        let bottom = SCATTER_HEIGHT - SCATTER_BOTTOM;
        assert_eq!(p.y, unit(bottom - (bottom - SCATTER_TOP) * 0.5));
        assert_eq!(s.member.map(|m| m.x), Some(unit(LEFT + plot_width() * 0.6)));
        assert!(s
            .summary
            .contains("1 provider: Accounts payable service £1.00 to £2.00, 95.00%"));
        assert!(s
            .summary
            .contains("Kent County Council's own cost per invoice, £3.00"));
    }

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(money(3.4), "£3.40");
        assert_eq!(money(0.0123), "£0.012");
        assert_eq!(money(f64::NAN), "not available");
        assert_eq!(money(10_000.0), "£10,000");
        assert_eq!(thousands(1_589_100), "1,589,100");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(0), "0");
    }
}
