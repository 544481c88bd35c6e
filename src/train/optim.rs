//! Adam whose state this crate saves and restores itself.
//!
//! burn-optim's `ModuleOptimizer::load_record` materialises the restored moments on
//! `Device::default()`, which with the `wgpu` feature enabled is a wgpu device: resuming a CPU
//! run would start a second, wgpu runtime (on a software adapter such as llvmpipe where there is
//! no GPU), and has nothing to start on a machine without any adapter. This
//! optimiser keeps its moments on the parameters' device and restores them onto the device the
//! caller names. The update rule is burn's (and PyTorch's) Adam, bit for bit in the order of
//! operations.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// File signature and format version of a saved optimiser state.
const MAGIC: &[u8; 12] = b"UNSEEN-ADAM1";

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamSettings {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

/// First and second moments of one parameter, flattened.
#[derive(Debug, Clone)]
struct Moments {
    time: u64,
    first: Tensor<1>,
    second: Tensor<1>,
}

/// Adam over every float parameter of a module that has a gradient.
#[derive(Debug, Clone)]
pub struct Adam {
    pub settings: AdamSettings,
    states: HashMap<ParamId, Moments>,
}

/// Why an optimiser state file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OptimStateError {
    #[error("cannot access optimiser state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("optimiser state {path} is corrupt: {problem}")]
    Corrupt { path: PathBuf, problem: String },
}

impl Adam {
    pub fn new(settings: AdamSettings) -> Self {
        Self {
            settings,
            states: HashMap::new(),
        }
    }

    /// Number of parameters with state.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Applies one update to every parameter of `module` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams) -> M {
        let mut mapper = AdamMapper {
            adam: self,
            grads: &mut grads,
        };
        module.map(&mut mapper)
    }

    /// Writes the moments (little-endian f32) to `path`.
    pub fn save(&self, path: &Path) -> Result<(), OptimStateError> {
        let io = |source| OptimStateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |problem: String| OptimStateError::Corrupt {
            path: path.to_path_buf(),
            problem,
        };
        let mut ids: Vec<&ParamId> = self.states.keys().collect();
        ids.sort_by_key(|id| id.val());
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(ids.len() as u64).to_le_bytes());
        for id in ids {
            let state = &self.states[id];
            let first = tensor_values(&state.first).map_err(&corrupt)?;
            let second = tensor_values(&state.second).map_err(&corrupt)?;
            out.extend_from_slice(&id.val().to_le_bytes());
            out.extend_from_slice(&state.time.to_le_bytes());
            out.extend_from_slice(&(first.len() as u64).to_le_bytes());
            for v in first.iter().chain(second.iter()) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut file = std::fs::File::create(path).map_err(io)?;
        file.write_all(&out).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads moments written by [`save`](Self::save) onto `device`.
    pub fn load(
        settings: AdamSettings,
        path: &Path,
        device: &Device,
    ) -> Result<Self, OptimStateError> {
        let bytes =
            crate::fsio::read_bounded(path, crate::fsio::FileKind::Checkpoint).map_err(|e| {
                OptimStateError::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(e.reason()),
                }
            })?;
        let corrupt = |problem: &str| OptimStateError::Corrupt {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        let mut reader = ByteReader {
            bytes: &bytes,
            at: 0,
        };
        if reader.take(MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(corrupt("not an unseen Adam state (bad signature)"));
        }
        let truncated = || corrupt("file is truncated");
        let count = reader.u64().ok_or_else(truncated)?;
        let mut states = HashMap::new();
        for _ in 0..count {
            let id = reader.u64().ok_or_else(truncated)?;
            let time = reader.u64().ok_or_else(truncated)?;
            let len = reader.u64().ok_or_else(truncated)? as usize;
            let first = reader.f32s(len).ok_or_else(truncated)?;
            let second = reader.f32s(len).ok_or_else(truncated)?;
            states.insert(
                ParamId::from(id),
                Moments {
                    time,
                    first: Tensor::from_data(TensorData::new(first, [len]), device),
                    second: Tensor::from_data(TensorData::new(second, [len]), device),
                },
            );
        }
        if reader.at != bytes.len() {
            return Err(corrupt("unexpected bytes after the last parameter"));
        }
        Ok(Self { settings, states })
    }
}

fn tensor_values(t: &Tensor<1>) -> Result<Vec<f32>, String> {
    t.to_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("moment tensor is not f32: {e:?}"))
}

struct ByteReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    fn f32s(&mut self, n: usize) -> Option<Vec<f32>> {
        let b = self.take(n.checked_mul(4)?)?;
        Some(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

struct AdamMapper<'a> {
    adam: &'a mut Adam,
    grads: &'a mut GradientsParams,
}

impl ModuleMapper for AdamMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = param.id;
        let Some(grad) = self.grads.remove::<D>(id) else {
            return param;
        };
        let s = self.adam.settings;
        param.map(|tensor| {
            let require_grad = tensor.is_require_grad();
            let shape = tensor.shape();
            let numel = shape.num_elements();
            let value = tensor.inner();
            let grad = grad.inner().reshape([numel]);
            let moments = match self.adam.states.remove(&id) {
                Some(m) => Moments {
                    time: m.time + 1,
                    first: m
                        .first
                        .to_device(&grad.device())
                        .mul_scalar(s.beta1)
                        .add(grad.clone().mul_scalar(1.0 - s.beta1)),
                    second: m
                        .second
                        .to_device(&grad.device())
                        .mul_scalar(s.beta2)
                        .add(grad.square().mul_scalar(1.0 - s.beta2)),
                },
                None => Moments {
                    time: 1,
                    first: grad.clone().mul_scalar(1.0 - s.beta1),
                    second: grad.square().mul_scalar(1.0 - s.beta2),
                },
            };
            let t = moments.time as i32;
            let bias2_sqrt = (1.0 - s.beta2.powi(t)).sqrt();
            let factor = bias2_sqrt / (1.0 - s.beta1.powi(t));
            let update = moments.first.clone().mul_scalar(factor).div(
                moments
                    .second
                    .clone()
                    .sqrt()
                    .add_scalar(s.epsilon * bias2_sqrt),
            );
            self.adam.states.insert(id, moments);
            let updated = value - update.mul_scalar(s.learning_rate).reshape(shape);
            let updated = updated.autodiff();
            if require_grad {
                updated.require_grad()
            } else {
                updated
            }
        })
    }
}
