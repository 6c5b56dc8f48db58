//! A job's state as the scheduler words it (Slurm's `PENDING`, `COMPLETED`, `CANCELLED`..., a
//! Kubernetes Job's conditions), with the one distinction the commands need: still going,
//! finished well, or over without success. Pure.

use serde::{Deserialize, Serialize};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Queued or running: `collect --wait` keeps waiting.
    Active,
    /// Ended with exit status 0.
    Succeeded,
    /// Ended otherwise (failed, cancelled, timed out, lost, never submitted).
    Failed,
}

/// A job's state: the scheduler's word, a detail (reason, exit code) and the phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    pub state: String,
    pub detail: String,
    pub phase: Phase,
}

impl JobState {
    pub fn new(state: &str, detail: impl Into<String>, phase: Phase) -> JobState {
        JobState {
            state: state.to_string(),
            detail: detail.into(),
            phase,
        }
    }

    /// A state from Slurm (squeue's `%T`, sacct's `State`, e.g. `CANCELLED by 0`).
    pub fn slurm(state: &str, detail: impl Into<String>) -> JobState {
        let word = state.split_whitespace().next().unwrap_or("UNKNOWN");
        let word = word.trim_end_matches('+');
        let phase = match word {
            "COMPLETED" => Phase::Succeeded,
            "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "REQUEUED"
            | "REQUEUE_FED" | "REQUEUE_HOLD" | "RESIZING" | "SIGNALING" | "STAGE_OUT"
            | "RESV_DEL_HOLD" | "STOPPED" => Phase::Active,
            _ => Phase::Failed,
        };
        JobState::new(word, detail, phase)
    }

    /// No job was submitted for the target (a dry run, or the scheduler refused it).
    pub fn not_submitted(why: &str) -> JobState {
        JobState::new("NOT_SUBMITTED", why, Phase::Failed)
    }

    pub fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// `COMPLETED` or `FAILED (exit 2)`.
    pub fn describe(&self) -> String {
        if self.detail.is_empty() {
            self.state.clone()
        } else {
            format!("{} ({})", self.state, self.detail)
        }
    }
}

/// A Slurm wait status (`squeue -O exit_code`, e.g. 512) as `exit 2` or `signal 9`.
pub fn slurm_wait_status(raw: u32) -> String {
    let signal = raw & 0x7f;
    if signal != 0 {
        format!("signal {signal}")
    } else {
        format!("exit {}", raw >> 8)
    }
}

/// sacct's `ExitCode` (`2:0` = exit 2, `0:9` = signal 9) in the same words.
pub fn sacct_exit_code(text: &str) -> String {
    match text.split_once(':') {
        Some((_, sig)) if sig.trim() != "0" && !sig.trim().is_empty() => {
            format!("signal {}", sig.trim())
        }
        Some((code, _)) => format!("exit {}", code.trim()),
        None => text.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_words_map_to_phases() {
        assert_eq!(JobState::slurm("PENDING", "Priority").phase, Phase::Active);
        assert_eq!(JobState::slurm("COMPLETING", "").phase, Phase::Active);
        assert_eq!(
            JobState::slurm("COMPLETED", "exit 0").phase,
            Phase::Succeeded
        );
        let c = JobState::slurm("CANCELLED by 0", "");
        assert_eq!((c.state.as_str(), c.phase), ("CANCELLED", Phase::Failed));
        assert_eq!(JobState::slurm("TIMEOUT", "").phase, Phase::Failed);
        assert_eq!(JobState::slurm("NODE_FAIL", "").phase, Phase::Failed);
        assert_eq!(JobState::slurm("OUT_OF_MEMORY", "").phase, Phase::Failed);
        assert_eq!(JobState::slurm("RUNNING", "").describe(), "RUNNING");
        assert_eq!(
            JobState::slurm("FAILED", "exit 2").describe(),
            "FAILED (exit 2)"
        );
    }

    #[test]
    fn exit_codes_read_as_words() {
        assert_eq!(slurm_wait_status(0), "exit 0");
        assert_eq!(slurm_wait_status(512), "exit 2");
        assert_eq!(slurm_wait_status(9), "signal 9");
        assert_eq!(sacct_exit_code("2:0"), "exit 2");
        assert_eq!(sacct_exit_code("0:15"), "signal 15");
    }
}
