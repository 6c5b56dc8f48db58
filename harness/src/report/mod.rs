//! `bench report` and `bench prices`: turns result files from any machines into the verdict on
//! the price-performance claim (markdown, self-contained HTML, CSV/JSON, SVG/PNG charts).
//! Data flows one way: input (run.json) → model (prices joined, pairing, bootstrap, verdicts)
//! → compose (text blocks) → markdown/html, plus summary and charts from the same model.

pub mod apply;
pub mod args;
pub mod card;
pub mod charts;
pub mod claims;
pub mod command;
pub mod compose;
pub mod coverage;
pub mod devices;
pub mod doc;
pub mod html;
pub mod inference;
pub mod input;
pub mod jobcost;
pub mod markdown;
pub mod metrics;
pub mod model;
pub mod pairing;
pub mod parallel;
pub mod plans;
pub mod points;
pub mod prices;
pub mod resample;
pub mod scenarios;
pub mod sides;
pub mod split;
pub mod summary;
pub mod tables;
pub mod units;
pub mod verdict;
pub mod weights;
