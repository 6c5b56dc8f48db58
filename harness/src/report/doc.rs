//! A tiny document model (headings, paragraphs, lists, tables, charts, the verdict card,
//! collapsible sections and links) that the report is composed into once and then rendered as
//! markdown and as HTML, so both say the same thing.

/// How a verdict card's badge is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Unsure,
    None,
}

/// One block of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    List(Vec<String>),
    /// A table; `numeric[i]` right-aligns column i (numbers in one unit per column).
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        numeric: Vec<bool>,
    },
    /// A chart by file stem (`charts/<stem>.svg` and `.png`) with its caption.
    Chart {
        stem: String,
        caption: String,
    },
    /// The verdict card: a coloured badge, a title and its lines.
    Card {
        badge: String,
        tone: Tone,
        title: String,
        lines: Vec<String>,
    },
    /// A collapsible section (open or closed at first) holding blocks.
    Details {
        summary: String,
        open: bool,
        blocks: Vec<Block>,
    },
    /// Links to files beside the report: (label, relative path).
    Links(Vec<(String, String)>),
}

pub fn h(level: u8, text: impl Into<String>) -> Block {
    Block::Heading(level, text.into())
}

pub fn p(text: impl Into<String>) -> Block {
    Block::Para(text.into())
}

/// A table whose columns are all text.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Block {
    let numeric = vec![false; header.len()];
    table_aligned(header, &numeric, rows)
}

/// A table with numeric (right-aligned, numerically sorted) columns flagged.
pub fn table_aligned(
    header: &[impl AsRef<str>],
    numeric: &[bool],
    rows: Vec<Vec<String>>,
) -> Block {
    Block::Table {
        header: header.iter().map(|s| s.as_ref().to_string()).collect(),
        rows,
        numeric: numeric.to_vec(),
    }
}

/// A collapsible section.
pub fn details(summary: impl Into<String>, open: bool, blocks: Vec<Block>) -> Block {
    Block::Details {
        summary: summary.into(),
        open,
        blocks,
    }
}
