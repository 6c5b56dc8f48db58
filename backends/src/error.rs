//! Errors a backend reports, with the context a user needs to act on them.

/// A backend failure: either the backend cannot run here at all, or one point failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unknown backend '{0}': use one of cpu, cuda, neuron")]
    UnknownBackend(String),
    /// The platform's library or device is absent; the run cannot start.
    #[error("the {backend} backend cannot run here: {why}")]
    Unavailable { backend: &'static str, why: String },
    /// Bad backend configuration given by the user (a missing NEFF directory, say).
    #[error("{0}")]
    Config(String),
    /// One point failed on the device or in the library.
    #[error("{0}")]
    Point(String),
    /// One point failed in a CUDA library call (the driver's, cuBLASLt's or NVRTC's error is
    /// its source).
    #[error(transparent)]
    Cuda(#[from] crate::cuda::CudaError),
}

impl BackendError {
    /// True when the error stops the whole run (exit 2) rather than one point.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            BackendError::UnknownBackend(_)
                | BackendError::Unavailable { .. }
                | BackendError::Config(_)
        )
    }
}

impl From<candle_core::Error> for BackendError {
    fn from(e: candle_core::Error) -> Self {
        BackendError::Point(format!("candle: {e}"))
    }
}
