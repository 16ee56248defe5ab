//! One self-contained HTML page about a run: its description, the summary and checks, the
//! sockets left open, a ladder of the connection most worth a look and the sockets per state
//! over time. Pictures are inline SVG and the style sheet is inline: the page fetches nothing
//! and opens from disk in any browser.

use std::fmt::Write as _;

use crate::svg::escape;

/// A titled part of the page.
#[derive(Debug, Clone)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// A sentence or two under the heading (plain text).
    pub caption: String,
    /// The body.
    pub body: Body,
}

/// What a section shows.
#[derive(Debug, Clone)]
pub enum Body {
    /// Preformatted text (a summary, a table as the terminal prints it).
    Text(String),
    /// An SVG picture, inlined.
    Svg(String),
}

/// The page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The scenario's name.
    pub title: String,
    /// What the scenario is about (plain text).
    pub description: String,
    /// A line under the title: seed, version, how to run it again.
    pub subtitle: String,
    /// Whether the run passed its checks.
    pub passed: bool,
    /// The run was cut short (`--until`) with checks not reached: a pass is a pass so far.
    pub cut_short: bool,
    /// The parts, in order.
    pub sections: Vec<Section>,
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1500px;padding:0 1em;color:#111}\
h1{margin-bottom:.2em}.sub{color:#555;font-family:monospace}\
.verdict{display:inline-block;padding:.2em .7em;border-radius:.3em;color:#fff;font-weight:bold}\
.pass{background:#1b7f3b}.fail{background:#b00020}.sofar{background:#b36b00}\
pre{background:#f6f6f6;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px;line-height:1.35}\
.fig{overflow-x:auto;border:1px solid #ddd}.cap{color:#444}\
nav a{margin-right:1em}section{margin-top:2em}";

impl Page {
    /// The page as HTML.
    pub fn html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            escape(&self.title)
        );
        let (class, verdict) = match (self.passed, self.cut_short) {
            (true, false) => ("pass", "PASS"),
            (true, true) => ("sofar", "PASS SO FAR (cut short)"),
            (false, _) => ("fail", "FAIL"),
        };
        let _ = writeln!(
            out,
            "<h1>{} <span class=\"verdict {class}\">{verdict}</span></h1>",
            escape(&self.title)
        );
        let _ = writeln!(out, "<p class=\"sub\">{}</p>", escape(&self.subtitle));
        for para in self.description.split("\n\n") {
            let _ = writeln!(out, "<p>{}</p>", escape(para.trim()));
        }
        out.push_str("<nav>");
        for (i, s) in self.sections.iter().enumerate() {
            let _ = write!(out, "<a href=\"#s{i}\">{}</a>", escape(&s.title));
        }
        out.push_str("</nav>\n");
        for (i, s) in self.sections.iter().enumerate() {
            let _ = writeln!(out, "<section id=\"s{i}\">\n<h2>{}</h2>", escape(&s.title));
            if !s.caption.is_empty() {
                let _ = writeln!(out, "<p class=\"cap\">{}</p>", escape(&s.caption));
            }
            match &s.body {
                Body::Text(text) => {
                    let _ = writeln!(out, "<pre>{}</pre>", escape(text));
                }
                Body::Svg(svg) => {
                    // Inline SVG needs no XML prolog; ours has none.
                    let _ = writeln!(out, "<div class=\"fig\">{svg}</div>");
                }
            }
            out.push_str("</section>\n");
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text is escaped, pictures are inlined as they are, and nothing is fetched.
    #[test]
    fn the_page_escapes_text_inlines_pictures_and_fetches_nothing() {
        let page = Page {
            title: "a <b>".into(),
            description: "one\n\ntwo & three".into(),
            subtitle: "seed 1".into(),
            passed: false,
            cut_short: true,
            sections: vec![
                Section {
                    title: "Summary".into(),
                    caption: String::new(),
                    body: Body::Text("x < y".into()),
                },
                Section {
                    title: "Ladder".into(),
                    caption: "the one".into(),
                    body: Body::Svg("<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into()),
                },
            ],
        };
        let html = page.html();
        assert!(html.contains("<title>a &lt;b&gt;</title>"));
        assert!(html.contains("<p>two &amp; three</p>"));
        assert!(html.contains("<pre>x &lt; y</pre>"));
        assert!(html.contains("<div class=\"fig\"><svg xmlns"));
        assert!(
            html.contains("verdict fail\">FAIL"),
            "a failure cut short is a failure"
        );
        let so_far = Page {
            passed: true,
            ..page.clone()
        };
        assert!(
            so_far
                .html()
                .contains("verdict sofar\">PASS SO FAR (cut short)")
        );
        for fetch in ["src=", "href=\"http", "<script", "@import", "url("] {
            assert!(!html.contains(fetch), "{fetch}");
        }
    }
}
