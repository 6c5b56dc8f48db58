//! Host-side tensors: the inputs a workload hands to a backend and the outputs it gets back.
//! Floating values are stored as f32 already rounded to the point's dtype, so a backend that
//! converts them to bf16/f16 loses nothing and the f64 reference sees the same numbers.
//! A [`TensorSpec`] is a tensor's name, shape and storage type without its values: what plan
//! files tell the scripts that lower or time a point.

use crate::storage::Elem;

/// A tensor's name, shape and storage element type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub elem: Elem,
}

impl TensorSpec {
    pub fn new(name: &str, shape: Vec<usize>, elem: Elem) -> Self {
        TensorSpec {
            name: name.to_string(),
            shape,
            elem,
        }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Element storage of a host tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

/// A named, shaped, row-major host tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl HostTensor {
    pub fn f32(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        HostTensor {
            name: name.to_string(),
            shape,
            data: TensorData::F32(data),
        }
    }

    pub fn i32(name: &str, shape: Vec<usize>, data: Vec<i32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        HostTensor {
            name: name.to_string(),
            shape,
            data: TensorData::I32(data),
        }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its name, shape and element type when its floating values are stored as `dtype`.
    pub fn spec(&self, dtype: crate::DType) -> TensorSpec {
        let elem = match self.data {
            TensorData::F32(_) => dtype.storage(),
            TensorData::I32(_) => Elem::I32,
        };
        TensorSpec::new(&self.name, self.shape.clone(), elem)
    }

    /// The f32 values; panics on an integer tensor, which is a programming error.
    pub fn as_f32(&self) -> &[f32] {
        match &self.data {
            TensorData::F32(v) => v,
            TensorData::I32(_) => panic!("tensor {} holds integers, not f32", self.name),
        }
    }

    /// The integer values; panics on a float tensor, which is a programming error.
    pub fn as_i32(&self) -> &[i32] {
        match &self.data {
            TensorData::I32(v) => v,
            TensorData::F32(_) => panic!("tensor {} holds f32, not integers", self.name),
        }
    }
}

/// Finds an input by name; panics if a workload forgot to declare it (a programming error).
pub fn find<'a>(inputs: &'a [HostTensor], name: &str) -> &'a HostTensor {
    inputs
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("input '{name}' is not among the workload's inputs"))
}
