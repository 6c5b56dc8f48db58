//! Renders the report's blocks as one self-contained HTML page (`report.html`): inline CSS and
//! JS only and the charts' SVG inlined, so the page fetches nothing. The verdict card has a
//! coloured badge; collapsible sections are `<details>`; every table sorts by clicking a
//! header (numerically for numeric columns, which are right-aligned). Text is HTML-escaped;
//! `**bold**` and `code` spans from the shared block text are turned into tags.

use std::collections::BTreeMap;

use super::doc::{Block, Tone};

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escapes, then turns `**x**` into <strong> and `x` into <code>.
fn inline(s: &str) -> String {
    let e = escape(s);
    let mut out = String::new();
    let (mut bold, mut code) = (false, false);
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '*' && chars.peek() == Some(&'*') && !code {
            chars.next();
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
        } else if c == '`' {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
        } else {
            out.push(c);
        }
    }
    if bold {
        out.push_str("</strong>");
    }
    if code {
        out.push_str("</code>");
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.2em;font-size:0.88em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#f2f2f2;cursor:pointer;user-select:none}th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}\
th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}figcaption{color:#555}\
code{background:#f4f4f4;padding:0 3px}\
.card{border:2px solid #888;border-radius:8px;padding:0.8em 1.2em;margin:1em 0 1.5em;background:#fafafa}\
.card h2{display:inline;font-size:1.25em;margin-left:0.5em;vertical-align:middle}.card ul{margin:0.6em 0 0;padding-left:1.2em}.card li{margin:0.3em 0}\
.badge{display:inline-block;padding:0.25em 0.7em;border-radius:5px;color:#fff;font-weight:bold;letter-spacing:0.04em;vertical-align:middle}\
.tone-good{border-color:#1a7f37}.tone-good .badge{background:#1a7f37}.tone-bad{border-color:#c62828}.tone-bad .badge{background:#c62828}\
.tone-unsure{border-color:#b26a00}.tone-unsure .badge{background:#b26a00}.tone-none{border-color:#666}.tone-none .badge{background:#666}\
details{margin:0.6em 0;border-top:1px solid #ddd;padding-top:0.4em}summary{cursor:pointer;font-weight:bold;font-size:1.1em}\
.links a{margin-right:0.8em;white-space:nowrap}";

/// Click a header to sort its table; numeric columns by value (n/a last), others as text.
const SCRIPT: &str = "document.querySelectorAll('table.sortable').forEach(function(t){\
var hs=t.querySelectorAll('th');hs.forEach(function(th,i){th.title='click to sort';\
th.addEventListener('click',function(){var num=th.classList.contains('num');\
var dir=th.getAttribute('aria-sort')==='ascending'?-1:1;\
hs.forEach(function(o){o.removeAttribute('aria-sort')});th.setAttribute('aria-sort',dir>0?'ascending':'descending');\
var b=t.tBodies[0];var rows=Array.prototype.slice.call(b.rows);\
var key=function(r){var s=r.cells[i]?r.cells[i].textContent:'';return num?parseFloat(s.replace(/[$,%]/g,'')):s;};\
rows.sort(function(x,y){var a=key(x),c=key(y);if(num){if(isNaN(a))return isNaN(c)?0:1;if(isNaN(c))return -1;return dir*(a-c);}return dir*a.localeCompare(c);});\
rows.forEach(function(r){b.appendChild(r);});});});t.classList.add('js-sortable');});";

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Good => "tone-good",
        Tone::Bad => "tone-bad",
        Tone::Unsure => "tone-unsure",
        Tone::None => "tone-none",
    }
}

/// `svgs` maps a chart stem to its SVG text.
pub fn render(title: &str, blocks: &[Block], svgs: &BTreeMap<String, String>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    );
    let mut cards = 0;
    for b in blocks {
        block(b, svgs, &mut cards, &mut out);
    }
    out.push_str(&format!("<script>{SCRIPT}</script>\n</body></html>\n"));
    out
}

fn block(b: &Block, svgs: &BTreeMap<String, String>, cards: &mut usize, out: &mut String) {
    match b {
        Block::Heading(level, text) => {
            out.push_str(&format!("<h{level}>{}</h{level}>\n", inline(text)))
        }
        Block::Para(text) => out.push_str(&format!("<p>{}</p>\n", inline(text))),
        Block::List(items) => {
            out.push_str("<ul>\n");
            for i in items {
                out.push_str(&format!("<li>{}</li>\n", inline(i)));
            }
            out.push_str("</ul>\n");
        }
        Block::Table {
            header,
            rows,
            numeric,
        } => {
            let class = |i: usize| {
                if numeric.get(i) == Some(&true) {
                    " class=\"num\""
                } else {
                    ""
                }
            };
            out.push_str("<table class=\"sortable\"><thead><tr>");
            for (i, h) in header.iter().enumerate() {
                out.push_str(&format!("<th{}>{}</th>", class(i), inline(h)));
            }
            out.push_str("</tr></thead><tbody>\n");
            for r in rows {
                out.push_str("<tr>");
                for (i, c) in r.iter().enumerate() {
                    out.push_str(&format!("<td{}>{}</td>", class(i), inline(c)));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody></table>\n");
        }
        Block::Chart { stem, caption } => {
            out.push_str(&format!("<figure id=\"chart-{}\">\n", escape(stem)));
            match svgs.get(stem) {
                Some(svg) => out.push_str(strip_xml_declaration(svg)),
                None => out.push_str("<p>(chart not drawn)</p>"),
            }
            out.push_str(&format!(
                "\n<figcaption>{}</figcaption></figure>\n",
                inline(caption)
            ));
        }
        Block::Card {
            badge,
            tone,
            title,
            lines,
        } => {
            let id = if *cards == 0 {
                "verdict".to_string()
            } else {
                format!("verdict-{cards}")
            };
            *cards += 1;
            out.push_str(&format!(
                "<section class=\"card {}\" id=\"{id}\"><span class=\"badge\">{}</span><h2>{}</h2><ul>\n",
                tone_class(*tone),
                escape(badge),
                inline(title)
            ));
            for l in lines {
                out.push_str(&format!("<li>{}</li>\n", inline(l)));
            }
            out.push_str("</ul></section>\n");
        }
        Block::Details {
            summary,
            open,
            blocks,
        } => {
            out.push_str(&format!(
                "<details{}><summary>{}</summary>\n",
                if *open { " open" } else { "" },
                inline(summary)
            ));
            for b in blocks {
                block(b, svgs, cards, out);
            }
            out.push_str("</details>\n");
        }
        Block::Links(links) => {
            out.push_str("<p class=\"links\">Files: ");
            for (label, href) in links {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a> ",
                    escape(href),
                    escape(label)
                ));
            }
            out.push_str("</p>\n");
        }
    }
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(svg, |(_, r)| r.trim_start()),
        None => svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_marks_up() {
        assert_eq!(
            inline("**SUPPORTED** <x> `--price a=1`"),
            "<strong>SUPPORTED</strong> &lt;x&gt; <code>--price a=1</code>"
        );
    }

    #[test]
    fn card_badge_numeric_cells_and_sections() {
        let html = render(
            "t",
            &[
                Block::Card {
                    badge: "SUPPORTED".into(),
                    tone: Tone::Good,
                    title: "a vs b".into(),
                    lines: vec!["x".into()],
                },
                Block::Details {
                    summary: "More".into(),
                    open: false,
                    blocks: vec![Block::Table {
                        header: vec!["p".into(), "v".into()],
                        rows: vec![vec!["a".into(), "1.5".into()]],
                        numeric: vec![false, true],
                    }],
                },
            ],
            &BTreeMap::new(),
        );
        assert!(html.contains("<section class=\"card tone-good\" id=\"verdict\"><span class=\"badge\">SUPPORTED</span>"));
        assert!(html.contains("<details><summary>More</summary>"));
        assert!(
            html.contains("<th class=\"num\">v</th>")
                && html.contains("<td class=\"num\">1.5</td>")
        );
        assert!(html.find("id=\"verdict\"") < html.find("<table"));
        assert!(html.contains("<script>") && !html.contains("src="));
    }
}
