//! The scheduler's own commands (sbatch, squeue, sacct, scancel, kubectl): found on PATH before
//! anything is written, run with their output captured, and their failures turned into one
//! line that names the tool, what it said and what to do.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scheduler command that is absent or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool} not found on PATH: {hint}")]
    Missing { tool: String, hint: String },
    #[error("cannot start {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed ({status}): {said}")]
    Failed {
        tool: String,
        status: String,
        said: String,
    },
}

/// The first executable called `tool` on PATH.
pub fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `tool` on PATH, or [`ToolError::Missing`] with `hint` (what to do instead).
pub fn require(tool: &str, hint: &str) -> Result<PathBuf, ToolError> {
    find(tool).ok_or_else(|| ToolError::Missing {
        tool: tool.into(),
        hint: hint.into(),
    })
}

/// Runs `tool args..`, capturing its output; a non-zero exit is [`ToolError::Failed`] with
/// the first line it wrote to stderr (or stdout).
pub fn run<I, S>(tool: &Path, args: I) -> Result<Output, ToolError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let name = tool
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| tool.display().to_string());
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|source| ToolError::Spawn {
            tool: name.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(out);
    }
    let status = match out.status.code() {
        Some(c) => format!("exit {c}"),
        None => "killed by a signal".into(),
    };
    Err(ToolError::Failed {
        tool: name,
        status,
        said: said(&out),
    })
}

/// The first non-empty line of stderr, else of stdout, else "no output".
pub fn said(out: &Output) -> String {
    [&out.stderr, &out.stdout]
        .iter()
        .filter_map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .next()
        .unwrap_or_else(|| "no output".into())
}
