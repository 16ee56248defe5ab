//! A small SVG writer: the few elements the pictures use, with text escaped and numbers
//! printed with a fixed precision so the same picture is the same bytes.

use std::fmt::Write as _;

/// An SVG document being built.
#[derive(Debug, Clone)]
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

/// `&`, `<`, `>` and quotes escaped for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most one decimal, without a trailing `.0`.
pub fn num(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// The `points` attribute of a polyline or polygon: `x,y` pairs separated by spaces.
fn points_attr(points: &[(f64, f64)]) -> String {
    let mut p = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        if i > 0 {
            p.push(' ');
        }
        let _ = write!(p, "{},{}", num(*x), num(*y));
    }
    p
}

/// Where a text's anchor point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at the point.
    Start,
    /// The text is centred on the point.
    Middle,
    /// The text ends at the point.
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

impl Svg {
    /// An empty picture of this size (in pixels), on a white background.
    pub fn new(width: f64, height: f64) -> Svg {
        let mut svg = Svg {
            width,
            height,
            body: String::new(),
        };
        svg.rect(0.0, 0.0, width, height, "#ffffff", None);
        svg
    }

    /// A line; `style` is extra attributes such as `stroke-dasharray="4 3"` (may be empty).
    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &mut self,
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        colour: &str,
        width: f64,
        style: &str,
    ) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="{}"{}{style}/>"#,
            num(x1),
            num(y1),
            num(x2),
            num(y2),
            num(width),
            if style.is_empty() { "" } else { " " },
        );
    }

    /// A filled rectangle, with an outline colour if given.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        let stroke = stroke.map_or(String::new(), |s| format!(r#" stroke="{s}""#));
        let _ = writeln!(
            self.body,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}"{stroke}/>"#,
            num(x),
            num(y),
            num(w),
            num(h)
        );
    }

    /// An open polyline through `points`.
    pub fn polyline(&mut self, points: &[(f64, f64)], colour: &str, width: f64) {
        self.styled_polyline(points, colour, width, "");
    }

    /// An open polyline through `points`; `style` is extra attributes such as
    /// `stroke-dasharray="4 3"` (may be empty).
    pub fn styled_polyline(
        &mut self,
        points: &[(f64, f64)],
        colour: &str,
        width: f64,
        style: &str,
    ) {
        let p = points_attr(points);
        let _ = writeln!(
            self.body,
            r#"<polyline points="{p}" fill="none" stroke="{colour}" stroke-width="{}"{}{style}/>"#,
            num(width),
            if style.is_empty() { "" } else { " " },
        );
    }

    /// A filled polygon (an arrow head, a marker).
    pub fn polygon(&mut self, points: &[(f64, f64)], fill: &str) {
        let p = points_attr(points);
        let _ = writeln!(self.body, r#"<polygon points="{p}" fill="{fill}"/>"#);
    }

    /// Text in the picture's sans-serif (or monospace) face.
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        x: f64,
        y: f64,
        text: &str,
        size: f64,
        anchor: Anchor,
        colour: &str,
        mono: bool,
    ) {
        let family = if mono { "monospace" } else { "sans-serif" };
        let _ = writeln!(
            self.body,
            r#"<text x="{}" y="{}" font-family="{family}" font-size="{}" text-anchor="{}" fill="{colour}">{}</text>"#,
            num(x),
            num(y),
            num(size),
            anchor.name(),
            escape(text)
        );
    }

    /// Monospace text on a white halo, readable where lines cross it (an arrow's label).
    pub fn label(&mut self, x: f64, y: f64, text: &str, size: f64, anchor: Anchor, colour: &str) {
        let _ = writeln!(
            self.body,
            r##"<text x="{}" y="{}" font-family="monospace" font-size="{}" text-anchor="{}" fill="{colour}" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">{}</text>"##,
            num(x),
            num(y),
            num(size),
            anchor.name(),
            escape(text)
        );
    }

    /// Text turned 90° anticlockwise (a vertical axis label), centred on the point.
    pub fn vertical_text(&mut self, x: f64, y: f64, text: &str, size: f64, colour: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{0}" y="{1}" font-family="sans-serif" font-size="{2}" text-anchor="middle" fill="{colour}" transform="rotate(-90 {0} {1})">{3}</text>"#,
            num(x),
            num(y),
            num(size),
            escape(text)
        );
    }

    /// A tooltip for the element group that follows, shown on hover by browsers.
    pub fn title(&mut self, text: &str) {
        let _ = writeln!(self.body, "<title>{}</title>", escape(text));
    }

    /// The document.
    pub fn finish(&self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">\n{2}</svg>\n",
            num(self.width),
            num(self.height),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_are_short() {
        let mut s = Svg::new(10.0, 20.5);
        s.text(
            1.25,
            2.0,
            "a<b & \"c\"",
            12.0,
            Anchor::Middle,
            "#000",
            false,
        );
        let out = s.finish();
        assert!(out.contains("a&lt;b &amp; &quot;c&quot;"), "{out}");
        assert!(out.contains(r#"x="1.3" y="2""#), "{out}");
        assert!(
            out.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20.5""#)
        );
        assert_eq!(num(-0.04), "0");
    }
}
