//! Renders the report's blocks as one self-contained HTML page (`report.html`): inline CSS and
//! the charts' SVG inlined, no external requests. Text is HTML-escaped; `**bold**` and `code`
//! spans from the shared block text are turned into tags.

use std::collections::BTreeMap;

use super::doc::Block;

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
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}\
th{background:#f2f2f2}figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}figcaption{color:#555}\
code{background:#f4f4f4;padding:0 3px}";

/// `svgs` maps a chart stem to its SVG text.
pub fn render(title: &str, blocks: &[Block], svgs: &BTreeMap<String, String>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    );
    for b in blocks {
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
            Block::Table { header, rows } => {
                out.push_str("<table><thead><tr>");
                for h in header {
                    out.push_str(&format!("<th>{}</th>", inline(h)));
                }
                out.push_str("</tr></thead><tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        out.push_str(&format!("<td>{}</td>", inline(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody></table>\n");
            }
            Block::Chart { stem, caption } => {
                out.push_str("<figure>\n");
                match svgs.get(stem) {
                    Some(svg) => out.push_str(strip_xml_declaration(svg)),
                    None => out.push_str("<p>(chart not drawn)</p>"),
                }
                out.push_str(&format!(
                    "\n<figcaption>{}</figcaption></figure>\n",
                    inline(caption)
                ));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
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
}
