//! The claims a comparison is judged against: a small sourced table keyed by the pair of
//! platforms (challenger accelerator, baseline accelerator or GPU), each with the vendor's words,
//! who said them and when (from reference/prices-and-peaks.md §3), or the user's `--claim`. A
//! pair the table does not know gets no claim: a ratio and interval, and a verdict only against
//! a claim the user gives. A range claim (Trainium3 vs Trainium2, 1.30-1.40) is judged at both
//! ends: "holds at the high end", "holds at the low end", or neither. Pure.

use serde::Serialize;

use super::verdict::{verdict, Verdict};

/// What a side must be to match a table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// This accelerator (the price table's name, or a whole word of the run's device name).
    Accelerator(&'static str),
    /// Any GPU: a run of the cuda backend.
    Gpu,
}

/// One row of the claims table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub challenger: Platform,
    pub baseline: Platform,
    pub low: f64,
    pub high: f64,
    pub quote: &'static str,
    pub source: &'static str,
}

const JASSY: &str =
    "Andy Jassy, Amazon Q1-2026 earnings call, 2026-04-29, as quoted by Stratechery (2026-04-30)";

/// The sourced claims (reference/prices-and-peaks.md §3, source S9).
pub const TABLE: [Entry; 2] = [
    Entry {
        challenger: Platform::Accelerator("Trainium2"),
        baseline: Platform::Gpu,
        low: 1.30,
        high: 1.30,
        quote: "Our Trainium2 chip has about 30% better price performance than comparable GPUs",
        source: JASSY,
    },
    Entry {
        challenger: Platform::Accelerator("Trainium3"),
        baseline: Platform::Accelerator("Trainium2"),
        low: 1.30,
        high: 1.40,
        quote: "Trainium3 [...] is 30% to 40% more price performance than Trainium2",
        source: JASSY,
    },
];

/// What a side is, for matching the table.
#[derive(Debug, Clone, Copy)]
pub struct SidePlatform<'a> {
    pub accelerator: &'a str,
    pub device: &'a str,
    pub backend: &'a str,
}

fn whole_word(haystack: &str, word: &str) -> bool {
    haystack.match_indices(word).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

impl Platform {
    fn matches(self, s: &SidePlatform) -> bool {
        match self {
            Platform::Gpu => s.backend == "cuda",
            Platform::Accelerator(a) => s.accelerator == a || whole_word(s.device, a),
        }
    }
}

/// Where a comparison's claim came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimOrigin {
    /// The sourced claims table.
    Table,
    /// `--claim`.
    User,
}

/// The claim a comparison is judged against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    pub low: f64,
    pub high: f64,
    pub origin: ClaimOrigin,
    /// The vendor's words (empty for a user's claim).
    pub quote: String,
    pub source: String,
}

impl Claim {
    pub fn is_range(&self) -> bool {
        self.high > self.low
    }

    /// "1.3" or "1.3-1.4".
    pub fn text(&self) -> String {
        if self.is_range() {
            format!("{}-{}", self.low, self.high)
        } else {
            format!("{}", self.low)
        }
    }
}

/// The claim for a pair of sides: the user's when given, else the table's, else none.
pub fn claim_for(
    user: Option<(f64, f64)>,
    challenger: &SidePlatform,
    baseline: &SidePlatform,
) -> Option<Claim> {
    if let Some((low, high)) = user {
        return Some(Claim {
            low,
            high,
            origin: ClaimOrigin::User,
            quote: String::new(),
            source: "--claim".into(),
        });
    }
    TABLE
        .iter()
        .find(|e| e.challenger.matches(challenger) && e.baseline.matches(baseline))
        .map(|e| Claim {
            low: e.low,
            high: e.high,
            origin: ClaimOrigin::Table,
            quote: e.quote.into(),
            source: e.source.into(),
        })
}

/// A verdict against a claim: at its low end (a single claim has low = high).
pub fn judge(low: f64, high: f64, claim: &Claim) -> Verdict {
    verdict(low, high, claim.low)
}

/// For a range claim, which end holds: "holds at the high end" (interval ≥ high end), "holds
/// at the low end" (≥ low end only), "does not hold even at the low end" (below it), else
/// "inconclusive at the low end". None for a single-valued claim.
pub fn range_outcome(low: f64, high: f64, claim: &Claim) -> Option<&'static str> {
    if !claim.is_range() {
        return None;
    }
    Some(
        match (
            verdict(low, high, claim.low),
            verdict(low, high, claim.high),
        ) {
            (_, Verdict::Supported) => "holds at the high end",
            (Verdict::Supported, _) => "holds at the low end",
            (Verdict::Refuted, _) => "does not hold even at the low end",
            _ => "inconclusive at the low end",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side<'a>(accelerator: &'a str, device: &'a str, backend: &'a str) -> SidePlatform<'a> {
        SidePlatform {
            accelerator,
            device,
            backend,
        }
    }

    #[test]
    fn the_table_is_keyed_by_the_pair_of_platforms() {
        let trn2 = side("Trainium2", "Trainium2", "neuron");
        let h100 = side("H100 SXM", "NVIDIA H100 80GB HBM3", "cuda");
        let h200 = side("H200 SXM", "NVIDIA H200", "cuda");
        let trn3 = side("", "AWS Trainium3 NeuronCore (LNC=2), 8 visible", "neuron");
        let c = claim_for(None, &trn2, &h100).unwrap();
        assert_eq!((c.low, c.high, c.origin), (1.30, 1.30, ClaimOrigin::Table));
        assert!(c.quote.contains("about 30% better price performance"));
        assert!(claim_for(None, &trn2, &h200).is_some(), "any GPU");
        assert!(
            claim_for(None, &h200, &h100).is_none(),
            "no claim for H200 vs H100"
        );
        assert!(
            claim_for(None, &h100, &trn2).is_none(),
            "the table is directional"
        );
        let c = claim_for(None, &trn3, &trn2).unwrap();
        assert_eq!((c.low, c.high), (1.30, 1.40));
        assert_eq!(c.text(), "1.3-1.4");
        // a user's claim wins
        let c = claim_for(Some((1.5, 1.5)), &h200, &h100).unwrap();
        assert_eq!((c.low, c.origin), (1.5, ClaimOrigin::User));
        // whole words only: "Trainium20" is not Trainium2
        assert!(!whole_word("Trainium20", "Trainium2"));
        assert!(whole_word("AWS Trainium2 NeuronCore", "Trainium2"));
    }

    #[test]
    fn range_claims_say_which_end_holds() {
        let c = Claim {
            low: 1.30,
            high: 1.40,
            origin: ClaimOrigin::Table,
            quote: String::new(),
            source: String::new(),
        };
        assert_eq!(range_outcome(1.41, 1.5, &c), Some("holds at the high end"));
        assert_eq!(range_outcome(1.40, 1.5, &c), Some("holds at the high end"));
        assert_eq!(range_outcome(1.32, 1.5, &c), Some("holds at the low end"));
        assert_eq!(
            range_outcome(1.1, 1.29, &c),
            Some("does not hold even at the low end")
        );
        assert_eq!(
            range_outcome(1.2, 1.35, &c),
            Some("inconclusive at the low end")
        );
        assert_eq!(judge(1.32, 1.5, &c), Verdict::Supported);
        let single = Claim { high: 1.30, ..c };
        assert_eq!(range_outcome(1.32, 1.5, &single), None);
    }
}
