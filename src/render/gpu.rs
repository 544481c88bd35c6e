//! A wgpu adapter, device and queue for rendering. The command line and the workbench both
//! open one headless: the workbench's window draws with a device of its own, because wgpu 30
//! fails a surface reconfigure while another thread submits to the window's device (see
//! `gui::Workbench::new`); [`Gpu::from_parts`] wraps a device made elsewhere, which the
//! workbench uses to describe its window's adapter.

use std::sync::Arc;

use super::RenderError;

/// A wgpu adapter, device and queue, cheap to clone.
#[derive(Clone, Debug)]
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: Arc<wgpu::AdapterInfo>,
}

impl Gpu {
    /// Opens the best adapter without a window. Prefers a real GPU and falls back to a
    /// software one (Mesa's lavapipe) when that is all there is.
    pub fn headless() -> Result<Self, RenderError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
        .map_err(|e| RenderError::NoAdapter(e.to_string()))?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("unseen headless device"),
            required_features: wgpu::Features::empty(),
            required_limits: wgpu::Limits::default().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| RenderError::Device(e.to_string()))?;
        Ok(Self::from_parts(adapter, device, queue))
    }

    /// Wraps a device created elsewhere (e.g. eframe's).
    pub fn from_parts(adapter: wgpu::Adapter, device: wgpu::Device, queue: wgpu::Queue) -> Self {
        let info = Arc::new(adapter.get_info());
        Self {
            adapter,
            device,
            queue,
            info,
        }
    }

    /// True for CPU rasterisers such as llvmpipe / lavapipe.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// "NAME (backend, kind)", for status bars and logs.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {})",
            self.info.name,
            self.info.backend,
            if self.is_software() {
                "software"
            } else {
                "hardware"
            }
        )
    }
}
