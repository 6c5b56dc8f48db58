//! A tiny document model (headings, paragraphs, lists, tables, charts) that the report is
//! composed into once and then rendered as markdown and as HTML, so both say the same thing.

/// One block of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    List(Vec<String>),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A chart by file stem (`charts/<stem>.svg` and `.png`) with its caption.
    Chart {
        stem: String,
        caption: String,
    },
}

pub fn h(level: u8, text: impl Into<String>) -> Block {
    Block::Heading(level, text.into())
}

pub fn p(text: impl Into<String>) -> Block {
    Block::Para(text.into())
}

pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        header: header.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}
