//! Charts drawn on an [`Svg`]: a line chart (series of points over a numeric x axis) and a
//! horizontal bar chart, each with its title, axes ticked at 1-2-5 steps, axis labels with
//! units and a legend or value labels. A chart draws itself into a rectangle of a larger
//! picture, so one picture can stack several. What a series means (states, rates, failure
//! kinds) is the caller's business.

use std::borrow::Cow;

use crate::svg::{Anchor, Svg};

/// Size of tick labels and legend text.
const SMALL: f64 = 11.0;
/// Size of axis labels.
const LABEL: f64 = 12.0;
/// Size of a chart's title.
const TITLE: f64 = 13.0;
/// Light grey of grid lines.
const GRID: &str = "#e6e6e6";
/// Grey of secondary text.
const MUTED: &str = "#555";
/// Most bars a bar chart draws; the rest are summed into one.
pub const BARS_MAX: usize = 30;
/// Room above a chart's plot area (for its title) and below it (for tick labels and the
/// axis label), line charts and bar charts alike.
const TOP: f64 = 34.0;
const BOTTOM: f64 = 46.0;
/// Width of a character, as a share of the font size (see [`text_width`]).
const CHAR_WIDTH: f64 = 0.62;

/// A rectangle of the picture, in pixels from its top left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Frame {
    /// The rectangle at `(x, y)` of size `w` × `h`.
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> Frame {
        Frame { x, y, w, h }
    }
}

/// Tick values of an axis from 0, a 1-2-5 step apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// Distance between ticks.
    pub step: f64,
    /// The value at the far end of the axis.
    pub top: f64,
    /// The ticks, from 0 to `top`.
    pub values: Vec<f64>,
}

impl Ticks {
    /// About `count` intervals from 0 up to the first tick at or above `max`, which becomes
    /// the top of the axis; the step is at least `step_min` (1 for counts of things).
    pub fn covering(max: f64, count: usize, step_min: f64) -> Ticks {
        let step = nice_step(max, count).max(step_min);
        let n = (max / step - 1e-9).ceil().max(1.0) as usize;
        Ticks {
            step,
            top: step * n as f64,
            values: (0..=n).map(|i| step * i as f64).collect(),
        }
    }

    /// About `count` intervals over exactly `[0, max]`: ticks at the multiples of the step
    /// that do not pass `max`.
    pub fn within(max: f64, count: usize) -> Ticks {
        let max = if max > 0.0 { max } else { 1.0 };
        let step = nice_step(max, count);
        let n = (max / step + 1e-9).floor() as usize;
        Ticks {
            step,
            top: max,
            values: (0..=n).map(|i| step * i as f64).collect(),
        }
    }

    /// A tick's label, with as many decimals as the step needs.
    pub fn label(&self, value: f64) -> String {
        let decimals = if self.step >= 1.0 {
            0
        } else {
            (-self.step.log10() - 1e-9).ceil() as usize
        };
        format!("{value:.decimals$}")
    }
}

/// The 1, 2 or 5 times a power of ten nearest above `max / count` (1 for an empty range).
fn nice_step(max: f64, count: usize) -> f64 {
    if !(max > 0.0 && max.is_finite()) {
        return 1.0;
    }
    let raw = max / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// The unit a time axis counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds, for runs shorter than a second.
    Millis,
    /// Seconds.
    Seconds,
}

impl TimeUnit {
    /// Milliseconds for a span under a second, seconds otherwise.
    pub fn for_span(nanos: u64) -> TimeUnit {
        if nanos < 1_000_000_000 {
            TimeUnit::Millis
        } else {
            TimeUnit::Seconds
        }
    }

    /// `ms` or `s`.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
        }
    }

    /// Nanoseconds in this unit.
    pub fn of(self, nanos: u64) -> f64 {
        match self {
            TimeUnit::Millis => nanos as f64 / 1e6,
            TimeUnit::Seconds => nanos as f64 / 1e9,
        }
    }
}

/// The points of a step line: `values[i]` holds from `i * dx` to `(i + 1) * dx`, the last
/// one up to `x_end`. Only the corners are kept, so a flat stretch costs two points.
pub fn steps(values: impl IntoIterator<Item = f64>, dx: f64, x_end: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut last = None;
    for (i, v) in values.into_iter().enumerate() {
        let x = (i as f64 * dx).min(x_end);
        match last {
            None => points.push((x, v)),
            Some(prev) if prev != v => {
                points.push((x, prev));
                points.push((x, v));
            }
            Some(_) => {}
        }
        last = Some(v);
    }
    if let Some(v) = last {
        points.push((x_end, v));
    }
    points
}

/// The stretches of a line that are not lying on the x axis: a stretch at zero is left out
/// (the axis draws it), so that lines resting at zero do not hide each other and the last one
/// drawn does not paint the axis its colour. A line at zero throughout draws nothing.
fn off_the_axis(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i - 1].1 == 0.0 && points[i].1 == 0.0 {
            if i - 1 > start {
                runs.push(&points[start..i]);
            }
            start = i;
        }
    }
    if points.len() > start + 1 {
        runs.push(&points[start..]);
    }
    runs
}

/// Width of `text` in a sans-serif face at `size`, estimated (no font is at hand): wide
/// enough for capitals, which the labels are full of.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * CHAR_WIDTH
}

/// One tick of a horizontal axis at `x`: its grid line up to `top`, its mark below `bottom`
/// (the axis) and its label under the mark.
fn tick(svg: &mut Svg, x: f64, top: f64, bottom: f64, label: &str) {
    svg.line(x, top, x, bottom, GRID, 1.0, "");
    svg.line(x, bottom, x, bottom + 5.0, "#000", 1.0, "");
    svg.text(
        x,
        bottom + 18.0,
        label,
        SMALL,
        Anchor::Middle,
        "#000",
        false,
    );
}

/// The two axes of a plot area: the vertical one on its left, the horizontal one at its
/// bottom.
fn axes(svg: &mut Svg, left: f64, top: f64, right: f64, bottom: f64) {
    svg.line(left, top, left, bottom, "#000", 1.0, "");
    svg.line(left, bottom, right, bottom, "#000", 1.0, "");
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A solid line.
    Solid,
    /// A dashed line, drawn over the solid ones so that a line it lies on shows between its
    /// dashes: for a background count such as listening sockets.
    Dashed,
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Its colour.
    pub colour: &'static str,
    /// Solid or dashed.
    pub stroke: Stroke,
    /// Its points, in the chart's units, joined in order.
    pub points: Vec<(f64, f64)>,
}

impl Stroke {
    /// The extra attributes of the line.
    fn dashes(self) -> &'static str {
        match self {
            Stroke::Solid => "",
            Stroke::Dashed => r#"stroke-dasharray="6 4""#,
        }
    }
}

/// Lines over a numeric x axis from 0 to `x_max` (time) and a y axis from 0.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Above the chart.
    pub title: String,
    /// Under the x axis, with the unit.
    pub x_label: String,
    /// Beside the y axis, with the unit.
    pub y_label: String,
    /// Right end of the x axis.
    pub x_max: f64,
    /// Smallest step between y ticks (1 for counts of things, 0 for rates).
    pub y_step_min: f64,
    /// The lines, drawn in order (the last on top), listed in this order in the legend.
    pub series: Vec<Series>,
}

/// Room around a line chart's plot area: tick labels and the y label on the left, the legend
/// on the right ([`TOP`] above for the title, [`BOTTOM`] below for tick labels and the x
/// label).
const LINE_LEFT: f64 = 76.0;
const LINE_RIGHT: f64 = 230.0;

impl LineChart {
    /// Draws the chart into `frame` of `svg`.
    pub fn draw(&self, svg: &mut Svg, frame: Frame) {
        let plot = Frame::new(
            frame.x + LINE_LEFT,
            frame.y + TOP,
            frame.w - LINE_LEFT - LINE_RIGHT,
            frame.h - TOP - BOTTOM,
        );
        svg.text(
            plot.x,
            frame.y + 22.0,
            &self.title,
            TITLE,
            Anchor::Start,
            "#000",
            false,
        );
        let y_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        // Some room above the highest point, so that a line at its peak stays off the frame.
        let ys = Ticks::covering(y_max * 1.05, 5, self.y_step_min);
        let xs = Ticks::within(self.x_max, 10);
        let sx = |x: f64| plot.x + x / xs.top * plot.w;
        let sy = |y: f64| plot.y + plot.h - y / ys.top * plot.h;
        let bottom = plot.y + plot.h;
        for v in &ys.values {
            let y = sy(*v);
            svg.line(plot.x, y, plot.x + plot.w, y, GRID, 1.0, "");
            svg.text(
                plot.x - 6.0,
                y + 4.0,
                &ys.label(*v),
                SMALL,
                Anchor::End,
                "#000",
                false,
            );
        }
        for v in &xs.values {
            tick(svg, sx(*v), plot.y, bottom, &xs.label(*v));
        }
        axes(svg, plot.x, plot.y, plot.x + plot.w, bottom);
        svg.text(
            plot.x + plot.w / 2.0,
            frame.y + frame.h - 6.0,
            &self.x_label,
            LABEL,
            Anchor::Middle,
            "#000",
            false,
        );
        svg.vertical_text(
            frame.x + 18.0,
            plot.y + plot.h / 2.0,
            &self.y_label,
            LABEL,
            "#000",
        );
        if self.series.is_empty() {
            svg.text(
                plot.x + plot.w / 2.0,
                plot.y + plot.h / 2.0,
                "nothing to show",
                LABEL,
                Anchor::Middle,
                MUTED,
                false,
            );
        }
        // Solid lines first, each thinner than the one before, so a line lying on another
        // still shows as its edge; dashed lines on top.
        let solid: Vec<&Series> = self
            .series
            .iter()
            .filter(|s| s.stroke == Stroke::Solid)
            .collect();
        let dashed = self.series.iter().filter(|s| s.stroke == Stroke::Dashed);
        let widths = (0..solid.len()).map(|i| (1.5 + 0.6 * (solid.len() - 1 - i) as f64).min(4.5));
        let drawn = solid
            .iter()
            .copied()
            .zip(widths)
            .chain(dashed.map(|s| (s, 1.5)));
        for (s, width) in drawn {
            for run in off_the_axis(&s.points) {
                let points: Vec<(f64, f64)> = run.iter().map(|(x, y)| (sx(*x), sy(*y))).collect();
                svg.styled_polyline(&points, s.colour, width, s.stroke.dashes());
            }
        }
        let legend_x = plot.x + plot.w + 16.0;
        for (i, s) in self.series.iter().enumerate() {
            let y = plot.y + 8.0 + 17.0 * i as f64;
            svg.line(
                legend_x,
                y,
                legend_x + 20.0,
                y,
                s.colour,
                3.0,
                s.stroke.dashes(),
            );
            svg.text(
                legend_x + 26.0,
                y + 4.0,
                &s.name,
                SMALL,
                Anchor::Start,
                "#000",
                false,
            );
        }
    }
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// What it counts, written on its left.
    pub label: String,
    /// How many.
    pub value: u64,
    /// Its colour.
    pub colour: &'static str,
}

/// Horizontal bars, one per row, a label on the left of each and its value at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Above the chart.
    pub title: String,
    /// Under the value axis, with the unit.
    pub value_label: String,
    /// Written instead of bars when there are none.
    pub empty: String,
    /// The bars, top to bottom; past [`BARS_MAX`], the last ones are summed into one.
    pub bars: Vec<Bar>,
}

/// Room around a bar chart's bars ([`TOP`] above, [`BOTTOM`] below), and the height of a row.
const BAR_ROW: f64 = 22.0;
const BAR_RIGHT: f64 = 60.0;

impl BarChart {
    /// The bars drawn: the first [`BARS_MAX`] - 1 and one for the rest, when there are
    /// more than [`BARS_MAX`].
    fn shown(&self) -> Cow<'_, [Bar]> {
        if self.bars.len() <= BARS_MAX {
            return Cow::Borrowed(&self.bars);
        }
        let (head, tail) = self.bars.split_at(BARS_MAX - 1);
        let mut shown = head.to_vec();
        shown.push(Bar {
            label: format!("{} more", tail.len()),
            value: tail.iter().map(|b| b.value).sum(),
            colour: "#7f7f7f",
        });
        Cow::Owned(shown)
    }

    /// The height the chart takes.
    pub fn height(&self) -> f64 {
        // As many rows as `shown` has bars.
        match self.bars.len().min(BARS_MAX) {
            0 => TOP + BAR_ROW,
            n => TOP + BOTTOM + BAR_ROW * n as f64,
        }
    }

    /// Draws the chart `w` wide with its top left corner at `(x, y)`; it is
    /// [`BarChart::height`] high.
    pub fn draw(&self, svg: &mut Svg, x: f64, y: f64, w: f64) {
        svg.text(
            x + 16.0,
            y + 22.0,
            &self.title,
            TITLE,
            Anchor::Start,
            "#000",
            false,
        );
        let bars = self.shown();
        if bars.is_empty() {
            svg.text(
                x + 16.0,
                y + TOP + 15.0,
                &self.empty,
                LABEL,
                Anchor::Start,
                MUTED,
                false,
            );
            return;
        }
        // The labels take what they need, up to half the width; longer ones are cut.
        let label_max = w * 0.5;
        let widest = bars
            .iter()
            .map(|b| text_width(&b.label, SMALL))
            .fold(0.0, f64::max);
        let left = x + 16.0 + widest.min(label_max) + 10.0;
        let right = x + w - BAR_RIGHT;
        let max = bars.iter().map(|b| b.value).max().unwrap_or(0) as f64;
        let ticks = Ticks::covering(max, 6, 1.0);
        let sx = |v: f64| left + v / ticks.top * (right - left);
        let top = y + TOP;
        let bottom = top + BAR_ROW * bars.len() as f64;
        for v in &ticks.values {
            tick(svg, sx(*v), top, bottom, &ticks.label(*v));
        }
        for (i, b) in bars.iter().enumerate() {
            let row = top + BAR_ROW * i as f64;
            let label = fit(&b.label, label_max, SMALL);
            svg.text(
                left - 8.0,
                row + 15.0,
                &label,
                SMALL,
                Anchor::End,
                "#000",
                false,
            );
            let end = sx(b.value as f64);
            svg.rect(left, row + 4.0, end - left, BAR_ROW - 8.0, b.colour, None);
            svg.text(
                end + 4.0,
                row + 15.0,
                &b.value.to_string(),
                SMALL,
                Anchor::Start,
                "#000",
                false,
            );
        }
        axes(svg, left, top, right, bottom);
        svg.text(
            (left + right) / 2.0,
            bottom + 38.0,
            &self.value_label,
            LABEL,
            Anchor::Middle,
            "#000",
            false,
        );
    }
}

/// `text`, cut with an ellipsis to fit `width` at `size`.
fn fit(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let keep = ((width / (size * CHAR_WIDTH)) as usize).saturating_sub(1);
    let mut cut: String = text.chars().take(keep).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ticks step 1, 2 or 5 times a power of ten, about `count` of them; `covering` rounds the
    /// top up to a tick, never below the step minimum, and an empty range is 0 to one step.
    #[test]
    fn ticks_step_by_1_2_5() {
        for (max, count, step_min, step, top) in [
            (11_433.0, 5, 1.0, 5000.0, 15_000.0),
            (199.0, 5, 1.0, 50.0, 200.0),
            (1.0, 5, 1.0, 1.0, 1.0),
            (0.0, 5, 1.0, 1.0, 1.0),
            (0.0, 5, 0.0, 1.0, 1.0),
            (0.7, 5, 0.0, 0.2, 0.8),
            (3.0, 6, 1.0, 1.0, 3.0),
            (2048.0, 5, 0.0, 500.0, 2500.0),
        ] {
            let t = Ticks::covering(max, count, step_min);
            assert_eq!((t.step, t.top), (step, top), "covering({max}, {count})");
            assert_eq!(t.values.len() as f64, top / step + 1.0);
        }
        let t = Ticks::within(213.0, 10);
        assert_eq!((t.step, t.top), (50.0, 213.0));
        assert_eq!(t.values, [0.0, 50.0, 100.0, 150.0, 200.0]);
        let t = Ticks::within(2.0, 10);
        assert_eq!(t.step, 0.2);
        assert_eq!(t.values.len(), 11, "the end is a tick when it falls on one");
        assert_eq!(t.label(0.6000000000000001), "0.6");
        assert_eq!(Ticks::within(0.05, 10).label(0.005), "0.005");
        assert_eq!(Ticks::covering(15_000.0, 5, 1.0).label(5000.0), "5000");
        let t = Ticks::covering(0.5, 5, 0.0);
        assert_eq!((t.step, t.label(0.30000000000000004)), (0.1, "0.3".into()));
        let t = Ticks::within(0.0, 10);
        assert_eq!(
            (t.top, t.values.len()),
            (1.0, 11),
            "an empty axis still spans 0 to 1"
        );
    }

    /// Runs under a second are drawn in milliseconds, longer ones in seconds.
    #[test]
    fn time_axes_count_in_ms_under_a_second() {
        let unit = TimeUnit::for_span(300_000_000);
        assert_eq!(
            (unit, unit.name(), unit.of(300_000_000)),
            (TimeUnit::Millis, "ms", 300.0)
        );
        let unit = TimeUnit::for_span(1_000_000_000);
        assert_eq!(
            (unit, unit.name(), unit.of(1_500_000_000)),
            (TimeUnit::Seconds, "s", 1.5)
        );
    }

    /// A step line keeps only its corners and ends at the end of the axis.
    #[test]
    fn steps_keep_only_the_corners() {
        assert_eq!(
            steps([0.0, 0.0, 2.0, 2.0, 2.0, 1.0], 10.0, 55.0),
            [
                (0.0, 0.0),
                (20.0, 0.0),
                (20.0, 2.0),
                (50.0, 2.0),
                (50.0, 1.0),
                (55.0, 1.0)
            ]
        );
        assert!(steps([], 1.0, 5.0).is_empty());
    }

    /// The stretches of a line lying on the axis are left out; the edges up and down stay.
    #[test]
    fn a_line_at_zero_is_not_drawn_over_the_axis() {
        let line = steps([0.0, 0.0, 1.0, 0.0, 0.0, 3.0], 1.0, 6.0);
        let runs = off_the_axis(&line);
        assert_eq!(
            runs,
            [
                &[(2.0, 0.0), (2.0, 1.0), (3.0, 1.0), (3.0, 0.0)][..],
                &[(5.0, 0.0), (5.0, 3.0), (6.0, 3.0)][..],
            ]
        );
        assert!(off_the_axis(&steps([0.0, 0.0], 1.0, 2.0)).is_empty());
    }

    /// Past BARS_MAX bars, the last ones are summed into one.
    #[test]
    fn too_many_bars_are_summed_into_one() {
        let chart = BarChart {
            title: String::new(),
            value_label: String::new(),
            empty: String::new(),
            bars: (0..40)
                .map(|i| Bar {
                    label: format!("kind {i}"),
                    value: 1,
                    colour: "#000",
                })
                .collect(),
        };
        let shown = chart.shown();
        assert_eq!(shown.len(), BARS_MAX);
        assert_eq!(shown[BARS_MAX - 1].label, "11 more");
        assert_eq!(shown[BARS_MAX - 1].value, 11);
        assert_eq!(fit("abcdefghij", 6.0 * 11.0 * 0.62, 11.0), "abcde…");
    }
}
