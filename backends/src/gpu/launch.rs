//! A kernel launch as data: the kernel's name, grid, threads per block, dynamic shared memory
//! and arguments in the order of its C signature. The plans' launch functions build these
//! with no device; the CUDA binding hands them to the driver; tests compare them with the
//! kernels' signatures (parsed from the sources) and with their compiled resources (registers
//! and shared memory, backends/tests/cuda_nvrtc.rs), so a launch that cannot fit is caught
//! without a GPU.

/// A kernel argument, passed by value (device pointers as u64 addresses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KArg {
    Ptr(u64),
    I32(i32),
    I64(i64),
    F32(f32),
}

impl KArg {
    /// The C parameter kind this argument matches: `ptr`, `i32` (int), `i64` (long), `f32`.
    pub fn kind(&self) -> &'static str {
        match self {
            KArg::Ptr(_) => "ptr",
            KArg::I32(_) => "i32",
            KArg::I64(_) => "i64",
            KArg::F32(_) => "f32",
        }
    }
}

/// One kernel launch (1-D blocks).
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub kernel: &'static str,
    pub grid: (u32, u32, u32),
    /// Threads per block.
    pub block: u32,
    /// Dynamic shared memory per block, in bytes.
    pub smem: u32,
    pub args: Vec<KArg>,
}

/// What a launch asks of one multiprocessor: the part of a launch configuration that must
/// fit the kernel's compiled resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LaunchShape {
    pub kernel: &'static str,
    pub block: u32,
    pub smem: u32,
}

impl Launch {
    pub fn shape(&self) -> LaunchShape {
        LaunchShape {
            kernel: self.kernel,
            block: self.block,
            smem: self.smem,
        }
    }
}

/// Each `__global__` kernel's parameters as argument kinds ("ptr", "i32", "i64", "f32"),
/// parsed from CUDA source (the launch tests compare argument lists with it).
#[cfg(test)]
pub fn signatures(src: &str) -> std::collections::BTreeMap<String, Vec<&'static str>> {
    let mut out = std::collections::BTreeMap::new();
    for part in src.split("__global__").skip(1) {
        let head = &part[..part.find('{').expect("kernel body")];
        let head = head.trim_start().trim_start_matches("void").trim_start();
        let head = match head.strip_prefix("__launch_bounds__(") {
            Some(rest) => &rest[rest.find(')').unwrap() + 1..],
            None => head,
        };
        let open = head.find('(').unwrap();
        let name = head[..open].trim().to_string();
        let params = &head[open + 1..head.rfind(')').unwrap()];
        let kinds = params
            .split(',')
            .map(|p| {
                let p = p.trim();
                if p.contains('*') {
                    "ptr"
                } else if p.starts_with("int ") {
                    "i32"
                } else if p.starts_with("long ") {
                    "i64"
                } else if p.starts_with("float ") {
                    "f32"
                } else {
                    panic!("{name}: parameter type of {p:?}")
                }
            })
            .collect();
        out.insert(name, kinds);
    }
    out
}
