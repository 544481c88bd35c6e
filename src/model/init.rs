//! Seeded, backend-independent weight initialisation.
//!
//! burn's initialisers draw from the backend's global generator; re-initialising every weight
//! from [`Rng`] instead makes a fresh model a pure function of its seed.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData};

use crate::rng::Rng;

/// Re-initialises `module` from `seed` (one independent stream per `stream` name):
/// - `weight` tensors: uniform in ±1/√fan_in (PyTorch's default for conv and linear layers);
/// - `bias` tensors: zero;
/// - `u` tensors (spectral-norm power-iteration vectors): a random unit vector;
/// - everything else (BatchNorm γ/β and running statistics) keeps its constant initial value.
pub fn seeded_init<M: Module>(module: M, seed: u64, stream: &str) -> M {
    let mut mapper = SeededInit {
        path: Vec::new(),
        rng: Rng::for_stream(seed, stream),
    };
    module.map(&mut mapper)
}

struct SeededInit {
    /// (field name, type of the struct holding it) from the root to the current parameter.
    path: Vec<(String, String)>,
    rng: Rng,
}

impl ModuleMapper for SeededInit {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let shape = param.lazy_shape();
        let dims = shape.to_vec();
        let len: usize = dims.iter().product();
        let (name, container) = match self.path.last() {
            Some((name, container)) => (name.as_str(), container.as_str()),
            None => return param,
        };
        let values: Vec<f32> = match name {
            "weight" => {
                // burn's `Linear` stores `[d_in, d_out]`; convolutions and our spectral layers
                // store the output dimension first.
                let fan_in = if container == "Struct:Linear" {
                    dims.first().copied().unwrap_or(1)
                } else {
                    len / dims.first().copied().unwrap_or(1).max(1)
                }
                .max(1);
                let bound = 1.0 / (fan_in as f32).sqrt();
                (0..len)
                    .map(|_| self.rng.uniform_f32(-bound, bound))
                    .collect()
            }
            "bias" => vec![0.0; len],
            "u" => {
                let v = self.rng.normals_f32(len);
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.into_iter().map(|x| x / norm).collect()
            }
            _ => return param,
        };
        param.map(|old| {
            let fresh = Tensor::<D>::from_data(TensorData::new(values, shape), &old.device());
            if old.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}
