//! Where tensors are computed: burn's wgpu backend on a real GPU, burn's `flex` CPU backend
//! otherwise.
//!
//! A software Vulkan adapter (llvmpipe, lavapipe, SwiftShader) runs burn's kernels many times
//! slower than `flex` on the same cores, so `auto` only takes wgpu when an adapter that is not
//! of CPU type exists.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, DeviceKind};

/// What the user asked for (`--device auto|gpu|cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComputeDevice {
    /// wgpu when a real GPU adapter exists, else `flex`.
    #[default]
    Auto,
    /// wgpu on a real GPU adapter, or an error.
    Gpu,
    /// burn's pure-Rust `flex` backend.
    Cpu,
}

impl FromStr for ComputeDevice {
    type Err = ComputeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            _ => Err(ComputeError::UnknownChoice(s.to_string())),
        }
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Gpu => "gpu",
            Self::Cpu => "cpu",
        })
    }
}

/// Why no compute device could be provided.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("unknown compute device {0:?} (use auto, gpu or cpu)")]
    UnknownChoice(String),
    #[error("no GPU adapter found (adapters seen: {seen}); use --device cpu or auto")]
    NoGpu { seen: String },
    #[error("could not start burn's wgpu runtime on {adapter}: {message}")]
    Wgpu { adapter: String, message: String },
}

/// A burn device plus what to tell the user about it.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    /// The inference device; call `.autodiff()` on it to train.
    pub device: Device,
    /// "flex CPU" or "wgpu on <adapter name>".
    pub description: String,
    pub is_gpu: bool,
}

impl SelectedDevice {
    /// burn's pure-Rust CPU backend.
    pub fn flex() -> Self {
        Self {
            device: Device::flex(),
            description: "flex CPU".to_string(),
            is_gpu: false,
        }
    }
}

/// A hardware adapter found by [`find_gpu_adapter`].
#[derive(Debug, Clone)]
pub struct GpuAdapter {
    pub name: String,
    pub backend: wgpu::Backend,
    /// burn's selector for this adapter (type + index among adapters of that type).
    pub kind: DeviceKind,
}

/// Resolves `choice` to a device.
pub fn select_device(choice: ComputeDevice) -> Result<SelectedDevice, ComputeError> {
    match choice {
        ComputeDevice::Cpu => Ok(SelectedDevice::flex()),
        ComputeDevice::Auto => match find_gpu_adapter() {
            Ok(gpu) => Ok(wgpu_device(&gpu)),
            Err(_) => Ok(SelectedDevice::flex()),
        },
        ComputeDevice::Gpu => find_gpu_adapter().map(|gpu| wgpu_device(&gpu)),
    }
}

/// Finds the best non-CPU adapter, looking through the graphics APIs in the order burn's
/// `WgpuBackend::Auto` tries them, so the index in [`GpuAdapter::kind`] means the same adapter
/// to burn.
pub fn find_gpu_adapter() -> Result<GpuAdapter, ComputeError> {
    let mut seen = Vec::new();
    for backend in [
        wgpu::Backend::Vulkan,
        wgpu::Backend::Metal,
        wgpu::Backend::Dx12,
        wgpu::Backend::Gl,
    ] {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: backend.into(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let infos: Vec<wgpu::AdapterInfo> =
            pollster::block_on(instance.enumerate_adapters(backend.into()))
                .iter()
                .map(wgpu::Adapter::get_info)
                .collect();
        seen.extend(
            infos
                .iter()
                .map(|i| format!("{} ({:?}, {:?})", i.name, i.device_type, i.backend)),
        );
        let rank = |t: wgpu::DeviceType| match t {
            wgpu::DeviceType::DiscreteGpu => Some(0),
            wgpu::DeviceType::IntegratedGpu => Some(1),
            wgpu::DeviceType::VirtualGpu => Some(2),
            wgpu::DeviceType::Other => Some(3),
            wgpu::DeviceType::Cpu => None,
        };
        let best = infos
            .iter()
            .enumerate()
            .filter_map(|(i, info)| rank(info.device_type).map(|r| (r, i)))
            .min();
        if let Some((_, position)) = best {
            let info = &infos[position];
            let same_type_before = infos[..position]
                .iter()
                .filter(|i| i.device_type == info.device_type)
                .count();
            let kind = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu(same_type_before),
                wgpu::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu(same_type_before),
                wgpu::DeviceType::VirtualGpu => DeviceKind::VirtualGpu(same_type_before),
                _ => DeviceKind::DefaultDevice,
            };
            return Ok(GpuAdapter {
                name: info.name.clone(),
                backend: info.backend,
                kind,
            });
        }
    }
    Err(ComputeError::NoGpu {
        seen: if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        },
    })
}

fn wgpu_device(gpu: &GpuAdapter) -> SelectedDevice {
    SelectedDevice {
        device: Device::wgpu(gpu.kind.clone()),
        description: format!("wgpu on {}", gpu.name),
        is_gpu: true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices() {
        assert_eq!(
            "auto".parse::<ComputeDevice>().ok(),
            Some(ComputeDevice::Auto)
        );
        assert_eq!(
            "GPU".parse::<ComputeDevice>().ok(),
            Some(ComputeDevice::Gpu)
        );
        assert_eq!(
            "cpu".parse::<ComputeDevice>().ok(),
            Some(ComputeDevice::Cpu)
        );
        let err = "tpu".parse::<ComputeDevice>().unwrap_err().to_string();
        assert!(
            err.contains("tpu") && err.contains("auto, gpu or cpu"),
            "{err}"
        );
    }

    #[test]
    fn cpu_is_flex() {
        let selected = select_device(ComputeDevice::Cpu).unwrap();
        assert_eq!(selected.description, "flex CPU");
        assert!(!selected.is_gpu);
    }
}
