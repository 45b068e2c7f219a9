//! Line charts drawn on the server as SVG, so a report's charts need no JavaScript and pass the
//! CSP: the geometry is computed here, and `templates/chart.html` writes it out as elements
//! whose only variable parts are numbers and escaped text. Every chart comes with a summary in
//! words (its SVG `<desc>`) and the page shows its data as a table too, for people who cannot
//! see it.

/// The drawing's coordinate space; the SVG scales to its container's width.
const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 320.0;
/// Room for the axes' labels.
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 50.0;
/// Horizontal gridlines (and value labels) including both ends of the value axis.
const Y_TICKS: usize = 5;
/// Labels along the time axis, including both ends.
const X_TICKS: usize = 4;

/// One labelled position on an axis.
pub struct Tick {
    pub at: String,
    pub label: String,
}

/// What the template draws.
pub struct Chart {
    /// Prefix of the element ids (`{id}-title`, `{id}-desc`); unique on the page.
    pub id: &'static str,
    pub title: String,
    /// The chart in words: what it shows, its extremes and the target.
    pub summary: String,
    pub view_box: String,
    /// Plot area edges, in drawing units.
    pub left: String,
    pub right: String,
    pub top: String,
    pub bottom: String,
    /// Runs of consecutive points with values, as `points` attributes; a gap in the data is a
    /// gap in the line.
    pub lines: Vec<String>,
    /// Points with no neighbour to join, drawn as dots (a one-point line would not show).
    pub dots: Vec<(String, String)>,
    /// The target's height, if there is one within the value axis.
    pub target_y: Option<String>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
}

/// A chart to draw: values in time order (`None` where nothing was measured).
pub struct Series<'a> {
    pub id: &'static str,
    pub title: String,
    /// The values' unit, after a number in words and labels (`%`, ` ms`).
    pub unit: &'static str,
    pub values: &'a [Option<f64>],
    /// Labels for the time axis: one per value, the time each step starts.
    pub times: &'a [String],
    /// The value axis's range.
    pub range: (f64, f64),
    pub target: Option<f64>,
    /// How a value is written (decimals suit availability, not milliseconds).
    pub decimals: usize,
}

/// Drawing units, written with one decimal (enough at this size, and short).
fn unit(v: f64) -> String {
    format!("{v:.1}")
}

impl Series<'_> {
    fn number(&self, v: f64) -> String {
        format!("{v:.prec$}{}", self.unit, prec = self.decimals)
    }

    fn x(&self, index: usize) -> f64 {
        let steps = self.values.len().saturating_sub(1).max(1) as f64;
        LEFT + (WIDTH - LEFT - RIGHT) * index as f64 / steps
    }

    fn y(&self, v: f64) -> f64 {
        let (lo, hi) = self.range;
        let span = if hi > lo { hi - lo } else { 1.0 };
        let clamped = v.clamp(lo, hi);
        HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (clamped - lo) / span
    }

    /// The summary in words: the measured range, and how many steps missed the target.
    fn summary(&self) -> String {
        let measured: Vec<(usize, f64)> = self
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .collect();
        let time = |i: usize| self.times.get(i).cloned().unwrap_or_default();
        let Some(&(low_at, low)) = measured.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
            return format!("{}: nothing was measured in this period.", self.title);
        };
        let Some(&(high_at, high)) = measured.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
            return format!("{}: nothing was measured in this period.", self.title);
        };
        let mut words = format!(
            "{}: {} of {} steps measured; lowest {} (step from {}), highest {} (step from {}).",
            self.title,
            measured.len(),
            self.values.len(),
            self.number(low),
            time(low_at),
            self.number(high),
            time(high_at),
        );
        if let Some(target) = self.target {
            words.push_str(&format!(" Target {}.", self.number(target)));
        }
        words
    }

    /// The chart's geometry.
    pub fn draw(&self) -> Chart {
        let mut lines = Vec::new();
        let mut dots = Vec::new();
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut flush = |run: &mut Vec<(f64, f64)>| {
            match run.as_slice() {
                [] => {}
                [(x, y)] => dots.push((unit(*x), unit(*y))),
                points => lines.push(
                    points
                        .iter()
                        .map(|(x, y)| format!("{},{}", unit(*x), unit(*y)))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            }
            run.clear();
        };
        for (i, v) in self.values.iter().enumerate() {
            match v {
                Some(v) => run.push((self.x(i), self.y(*v))),
                None => flush(&mut run),
            }
        }
        flush(&mut run);
        let (lo, hi) = self.range;
        let y_ticks = (0..Y_TICKS)
            .map(|k| {
                let v = lo + (hi - lo) * k as f64 / (Y_TICKS - 1) as f64;
                Tick {
                    at: unit(self.y(v)),
                    label: self.number(v),
                }
            })
            .collect();
        let last = self.values.len().saturating_sub(1);
        let mut x_indexes: Vec<usize> = (0..X_TICKS).map(|k| last * k / (X_TICKS - 1)).collect();
        x_indexes.dedup();
        let x_ticks = x_indexes
            .into_iter()
            .filter_map(|i| {
                self.times.get(i).map(|label| Tick {
                    at: unit(self.x(i)),
                    label: label.clone(),
                })
            })
            .collect();
        Chart {
            id: self.id,
            title: self.title.clone(),
            summary: self.summary(),
            view_box: format!("0 0 {WIDTH} {HEIGHT}"),
            left: unit(LEFT),
            right: unit(WIDTH - RIGHT),
            top: unit(TOP),
            bottom: unit(HEIGHT - BOTTOM),
            lines,
            dots,
            target_y: self
                .target
                .filter(|t| (lo..=hi).contains(t))
                .map(|t| unit(self.y(t))),
            y_ticks,
            x_ticks,
        }
    }
}

/// A value axis from 0 to a round number (1, 2, 2.5 or 5 times a power of ten, at least 10)
/// at least a tenth above every value and the target.
pub fn latency_range(values: &[Option<f64>], target: Option<f64>) -> (f64, f64) {
    let top = values
        .iter()
        .flatten()
        .copied()
        .chain(target)
        .fold(0.0_f64, f64::max)
        * 1.1;
    let round = (1..=15)
        .flat_map(|power| [1.0, 2.0, 2.5, 5.0].map(|m| m * 10_f64.powi(power)))
        .find(|round| *round >= top)
        .unwrap_or_else(|| top.ceil());
    (0.0, round)
}

/// An availability axis up to 100 %, from a floor a whole ten below every value and the target.
pub fn availability_range(values: &[Option<f64>], target: Option<f64>) -> (f64, f64) {
    let low = values
        .iter()
        .flatten()
        .copied()
        .chain(target)
        .fold(100.0_f64, f64::min);
    let floor = ((low - 0.5) / 10.0).floor() * 10.0;
    (floor.clamp(0.0, 90.0), 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    fn series<'a>(values: &'a [Option<f64>], times: &'a [String]) -> Series<'a> {
        Series {
            id: "c",
            title: "Availability".into(),
            unit: "%",
            values,
            times,
            range: (90.0, 100.0),
            target: Some(99.0),
            decimals: 1,
        }
    }

    #[test]
    fn gaps_split_the_line_and_lone_points_are_dots() {
        let values = [
            Some(100.0),
            Some(95.0),
            None,
            Some(99.0),
            None,
            Some(90.0),
            Some(91.0),
        ];
        let t = times(values.len());
        let chart = series(&values, &t).draw();
        assert_eq!(chart.lines.len(), 2, "{:?}", chart.lines);
        assert_eq!(chart.lines[0].split(' ').count(), 2);
        assert_eq!(chart.dots.len(), 1);
        // 100 % is the top of the plot, 90 % its bottom.
        assert!(chart.lines[0].starts_with(&format!("{},{}", unit(LEFT), unit(TOP))));
        assert!(chart.lines[1].contains(&unit(HEIGHT - BOTTOM)));
        assert_eq!(
            chart.target_y,
            Some(unit(TOP + (HEIGHT - TOP - BOTTOM) * 0.1))
        );
    }

    #[test]
    fn the_summary_names_extremes_and_target() {
        let values = [Some(99.5), None, Some(97.24)];
        let t = times(3);
        let summary = series(&values, &t).draw().summary;
        assert!(summary.contains("2 of 3 steps measured"), "{summary}");
        assert!(summary.contains("lowest 97.2% (step from t2)"), "{summary}");
        assert!(
            summary.contains("highest 99.5% (step from t0)"),
            "{summary}"
        );
        assert!(summary.contains("Target 99.0%"), "{summary}");
        let empty = [None, None];
        let t = times(2);
        assert!(series(&empty, &t)
            .draw()
            .summary
            .contains("nothing was measured"));
    }

    #[test]
    fn values_outside_the_axis_are_clamped_to_it() {
        let values = [Some(50.0), Some(150.0)];
        let t = times(2);
        let chart = series(&values, &t).draw();
        let points = chart.lines[0].clone();
        assert_eq!(
            points,
            format!(
                "{},{} {},{}",
                unit(LEFT),
                unit(HEIGHT - BOTTOM),
                unit(WIDTH - RIGHT),
                unit(TOP)
            )
        );
    }

    #[test]
    fn axes_cover_values_and_target() {
        assert_eq!(
            availability_range(&[Some(99.95)], Some(99.9)),
            (90.0, 100.0)
        );
        assert_eq!(availability_range(&[Some(42.0)], Some(99.9)), (40.0, 100.0));
        assert_eq!(availability_range(&[Some(0.0)], None), (0.0, 100.0));
        assert_eq!(availability_range(&[], None), (90.0, 100.0));
        assert_eq!(
            latency_range(&[Some(120.0), None], Some(500.0)),
            (0.0, 1_000.0)
        );
        assert_eq!(latency_range(&[Some(3.0)], None), (0.0, 10.0));
        assert_eq!(latency_range(&[Some(20.0)], None), (0.0, 25.0));
        assert_eq!(latency_range(&[Some(4_000.0)], Some(500.0)), (0.0, 5_000.0));
    }

    #[test]
    fn one_value_is_drawn_and_labelled_once() {
        let values = [Some(99.0)];
        let t = times(1);
        let chart = series(&values, &t).draw();
        assert_eq!(chart.dots.len(), 1);
        assert_eq!(chart.x_ticks.len(), 1);
        assert_eq!(chart.y_ticks.len(), Y_TICKS);
    }
}
