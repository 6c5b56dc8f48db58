//! Renders the report's blocks as GitHub-flavoured markdown (`report.md`). The verdict card is
//! a block quote with the badge in bold, numeric columns are right-aligned (`---:`), a
//! collapsible section is a level-2 heading with its blocks, charts become image links to the
//! PNG with the SVG beside it. Cell text is escaped so a `|` cannot break a table.

use super::doc::Block;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        block(b, &mut out);
    }
    out
}

fn block(b: &Block, out: &mut String) {
    match b {
        Block::Heading(level, text) => {
            out.push_str(&"#".repeat(*level as usize));
            out.push(' ');
            out.push_str(text);
            out.push_str("\n\n");
        }
        Block::Para(text) => {
            out.push_str(text);
            out.push_str("\n\n");
        }
        Block::List(items) => {
            for i in items {
                out.push_str("- ");
                out.push_str(i);
                out.push('\n');
            }
            out.push('\n');
        }
        Block::Table {
            header,
            rows,
            numeric,
        } => {
            let line = |cells: &[String]| {
                format!(
                    "| {} |\n",
                    cells
                        .iter()
                        .map(|c| cell(c))
                        .collect::<Vec<_>>()
                        .join(" | ")
                )
            };
            out.push_str(&line(header));
            out.push('|');
            for i in 0..header.len() {
                out.push_str(if numeric.get(i) == Some(&true) {
                    "---:|"
                } else {
                    "---|"
                });
            }
            out.push('\n');
            for r in rows {
                out.push_str(&line(r));
            }
            out.push('\n');
        }
        Block::Chart { stem, caption } => {
            out.push_str(&format!(
                "![{caption}](charts/{stem}.png)\n\n{caption} ([SVG](charts/{stem}.svg))\n\n"
            ));
        }
        Block::Card {
            badge,
            title,
            lines,
            ..
        } => {
            out.push_str(&format!("> **{badge}** · {title}\n>\n"));
            for l in lines {
                out.push_str(&format!("> - {l}\n"));
            }
            out.push('\n');
        }
        Block::Details {
            summary, blocks, ..
        } => {
            out.push_str(&format!("## {summary}\n\n"));
            for b in blocks {
                block(b, out);
            }
        }
        Block::Links(links) => {
            out.push_str("Files: ");
            out.push_str(
                &links
                    .iter()
                    .map(|(label, href)| format!("[{label}]({href})"))
                    .collect::<Vec<_>>()
                    .join(" · "),
            );
            out.push_str("\n\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::doc::{details, table_aligned, Tone};

    #[test]
    fn card_quote_aligned_columns_and_sections() {
        let md = render(&[
            Block::Card {
                badge: "REFUTED".into(),
                tone: Tone::Bad,
                title: "a vs b".into(),
                lines: vec!["ratio 1.2".into()],
            },
            details(
                "More",
                false,
                vec![table_aligned(
                    &["point", "s"],
                    &[false, true],
                    vec![vec!["x|y".into(), "1.5".into()]],
                )],
            ),
        ]);
        assert_eq!(
            md,
            "> **REFUTED** · a vs b\n>\n> - ratio 1.2\n\n## More\n\n| point | s |\n|---|---:|\n| x\\|y | 1.5 |\n\n"
        );
    }
}
