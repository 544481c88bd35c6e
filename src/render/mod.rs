//! The wgpu renderer: draws many views of one or more meshes, each into its own layer of a
//! supersampled texture array (so a view renders the same bits whichever batch it is in),
//! reduces them to the output resolution on the GPU, and reads the batch back in one copy.

pub mod camera;
pub mod gpu;
pub mod readback;

use bytemuck::{Pod, Zeroable};
use glam::Mat4;

pub use camera::{Camera, Lighting, PART_AMBIENT_IDS, Sensor};
pub use gpu::Gpu;

use crate::product::Mesh;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no graphics adapter found ({0}). unseen renders with wgpu and needs a Vulkan, Metal or \
         DirectX 12 driver; on Debian/Ubuntu without a GPU install Mesa's software Vulkan: \
         `apt-get install mesa-vulkan-drivers libvulkan1`"
    )]
    NoAdapter(String),
    #[error("the graphics adapter refused to open a device: {0}")]
    Device(String),
    #[error("reading the rendered images back failed: {0}")]
    Readback(String),
    #[error("render size {0} is out of range (8 to 1024 pixels)")]
    BadSize(u32),
}

const SHADE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const LINEAR_DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Views per batch: wgpu's default limit on texture array layers.
/// Also the length of the per-layer `sensors` array in `shaders/downsample.wgsl`.
const MAX_LAYERS: u32 = 256;
/// Supersampled pixels per batch, to bound memory at large sizes.
const MAX_BATCH_PIXELS: u64 = 16 << 20;
/// Uniform blocks are bound with dynamic offsets, which must be multiples of 256.
const VIEW_STRIDE: u64 = 512;
/// Depth bias of the shadow pass, in units of the shadow map's depth resolution and of the
/// occluder's slope: keeps a lit surface from shadowing itself.
const SHADOW_BIAS: wgpu::DepthBiasState = wgpu::DepthBiasState {
    constant: 4,
    slope_scale: 2.0,
    clamp: 0.0,
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Vertex {
    position: [f32; 3],
    normal: [f32; 3],
    part: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ViewUniform {
    clip_from_model: [[f32; 4]; 4],
    world_from_model: [[f32; 4]; 4],
    eye: [f32; 4],
    forward: [f32; 4],
    light: [f32; 4],
    material: [f32; 4],
    /// [`Lighting::part_ambient`], four ids per vector.
    part_ambient: [[f32; 4]; 2],
    /// The light's orthographic view of the product: world to shadow-map clip space.
    shadow_from_world: [[f32; 4]; 4],
    /// x: [`Lighting::shadow`]; y: the view's layer in the shadow map; z: how far a point is
    /// moved along its normal before the lookup (world units); w: one shadow-map texel in
    /// texture coordinates.
    shadow: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct DownsampleParams {
    factor: u32,
    width: u32,
    height: u32,
    _pad: u32,
    /// Per layer: [`Sensor::uniform`].
    sensors: [[f32; 4]; MAX_LAYERS as usize],
}

/// A mesh uploaded to the GPU (cheap to clone: the buffers are shared).
#[derive(Clone)]
pub struct GpuMesh {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
    /// Bounding box of the positions (model frame), which the shadow map must cover.
    bounds: [glam::Vec3; 2],
}

/// One view to render: which mesh, seen how, lit how.
#[derive(Clone, Copy)]
pub struct ViewRequest<'a> {
    pub mesh: &'a GpuMesh,
    pub camera: Camera,
    pub lighting: Lighting,
    pub sensor: Sensor,
}

/// One rendered view at the output resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub size: u32,
    /// Shaded grey level, 0–255, row-major.
    pub shade: Vec<u8>,
    /// Part id per pixel (0 = background); empty when only the shade was read back.
    pub part: Vec<u8>,
    /// Distance from the camera along its axis (0 = background); empty when only the shade
    /// was read back.
    pub depth: Vec<f32>,
}

struct Targets {
    /// Size, supersampling, layers, and whether the shadow maps are full size (a batch
    /// without shadows binds 1×1 ones it never reads).
    key: (u32, u32, u32, bool),
    /// Per layer: shade (with the part id in alpha), linear depth, depth-buffer and shadow-map
    /// views.
    layers: Vec<[wgpu::TextureView; 4]>,
    /// The shadow maps of every layer, as the scene pipelines read them.
    shadow_group: wgpu::BindGroup,
    out_shade: wgpu::Texture,
    out_depth: wgpu::Texture,
    downsample_group: wgpu::BindGroup,
    params: wgpu::Buffer,
}

/// What a render reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    /// Shade, part ids and depth: what datasets and references need.
    All,
    /// The shade alone (part ids 0, no depth): what pose refinement compares, at a fraction
    /// of the cost (no depth target, no part-majority vote, half the readback).
    Shade,
}

pub struct Renderer {
    gpu: Gpu,
    pipeline: wgpu::RenderPipeline,
    shade_pipeline: wgpu::RenderPipeline,
    /// Depth alone, seen from the light: the shadow map of a view.
    shadow_pipeline: wgpu::RenderPipeline,
    view_layout: wgpu::BindGroupLayout,
    shadow_layout: wgpu::BindGroupLayout,
    shadow_sampler: wgpu::Sampler,
    downsample_pipeline: wgpu::ComputePipeline,
    downsample_shade_pipeline: wgpu::ComputePipeline,
    downsample_layout: wgpu::BindGroupLayout,
    views: Option<(wgpu::Buffer, wgpu::BindGroup, u64)>,
    targets: Option<Targets>,
}

impl Renderer {
    pub fn new(gpu: Gpu) -> Self {
        let device = &gpu.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("render.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/render.wgsl").into()),
        });
        let view_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("view"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(size_of::<ViewUniform>() as u64),
                },
                count: None,
            }],
        });
        let shadow_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("shadow maps"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Depth,
                        view_dimension: wgpu::TextureViewDimension::D2Array,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Comparison),
                    count: None,
                },
            ],
        });
        let shadow_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("shadow"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            compare: Some(wgpu::CompareFunction::LessEqual),
            ..Default::default()
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("render"),
            bind_group_layouts: &[Some(&view_layout), Some(&shadow_layout)],
            immediate_size: 0,
        });
        let shadow_only_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("shadow"),
            bind_group_layouts: &[Some(&view_layout)],
            immediate_size: 0,
        });
        let vertex_buffers = [Some(wgpu::VertexBufferLayout {
            array_stride: size_of::<Vertex>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Uint32],
        })];
        let target = |format| {
            Some(wgpu::ColorTargetState {
                format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })
        };
        // Every pipeline draws the mesh: the scene, with every output (`fs_main`) or, for the
        // refinement's candidates, the shade alone (`fs_shade`), and the depth-only shadow pass.
        let mesh_pipeline =
            |label: &str,
             layout: &wgpu::PipelineLayout,
             vertex: &str,
             cull: wgpu::Face,
             bias: wgpu::DepthBiasState,
             fragment: Option<(&str, &[Option<wgpu::ColorTargetState>])>| {
                device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                    label: Some(label),
                    layout: Some(layout),
                    vertex: wgpu::VertexState {
                        module: &module,
                        entry_point: Some(vertex),
                        compilation_options: Default::default(),
                        buffers: &vertex_buffers,
                    },
                    primitive: wgpu::PrimitiveState {
                        topology: wgpu::PrimitiveTopology::TriangleList,
                        front_face: wgpu::FrontFace::Ccw,
                        cull_mode: Some(cull),
                        ..Default::default()
                    },
                    depth_stencil: Some(wgpu::DepthStencilState {
                        format: DEPTH_FORMAT,
                        depth_write_enabled: Some(true),
                        depth_compare: Some(wgpu::CompareFunction::Less),
                        stencil: Default::default(),
                        bias,
                    }),
                    multisample: Default::default(),
                    fragment: fragment.map(|(entry, targets)| wgpu::FragmentState {
                        module: &module,
                        entry_point: Some(entry),
                        compilation_options: Default::default(),
                        targets,
                    }),
                    multiview_mask: None,
                    cache: None,
                })
            };
        let scene = |label, entry, targets| {
            mesh_pipeline(
                label,
                &layout,
                "vs_main",
                wgpu::Face::Back,
                Default::default(),
                Some((entry, targets)),
            )
        };
        let all_targets = [target(SHADE_FORMAT), target(LINEAR_DEPTH_FORMAT)];
        let pipeline = scene("render", "fs_main", &all_targets);
        let shade_pipeline = scene("render shade", "fs_shade", &all_targets[..1]);
        // The shadow pass keeps the surfaces facing away from the light: on a closed mesh they
        // lie behind every lit surface, so a lit surface never shadows itself.
        let shadow_pipeline = mesh_pipeline(
            "shadow",
            &shadow_only_layout,
            "vs_shadow",
            wgpu::Face::Front,
            SHADOW_BIAS,
            None,
        );

        let ds_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("downsample.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/downsample.wgsl").into()),
        });
        let texture_entry = |binding, sample_type| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Texture {
                sample_type,
                view_dimension: wgpu::TextureViewDimension::D2Array,
                multisampled: false,
            },
            count: None,
        };
        let storage_entry = |binding, format| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format,
                view_dimension: wgpu::TextureViewDimension::D2Array,
            },
            count: None,
        };
        let downsample_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("downsample"),
            entries: &[
                texture_entry(0, wgpu::TextureSampleType::Float { filterable: false }),
                texture_entry(1, wgpu::TextureSampleType::Float { filterable: false }),
                storage_entry(2, SHADE_FORMAT),
                storage_entry(3, LINEAR_DEPTH_FORMAT),
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let ds_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("downsample"),
            bind_group_layouts: &[Some(&downsample_layout)],
            immediate_size: 0,
        });
        let downsample_pipeline =
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("downsample"),
                layout: Some(&ds_layout),
                module: &ds_module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        let downsample_shade_pipeline =
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("downsample shade"),
                layout: Some(&ds_layout),
                module: &ds_module,
                entry_point: Some("main_shade"),
                compilation_options: Default::default(),
                cache: None,
            });
        Self {
            gpu,
            pipeline,
            shade_pipeline,
            shadow_pipeline,
            view_layout,
            shadow_layout,
            shadow_sampler,
            downsample_pipeline,
            downsample_shade_pipeline,
            downsample_layout,
            views: None,
            targets: None,
        }
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    pub fn upload(&self, mesh: &Mesh) -> GpuMesh {
        use wgpu::util::DeviceExt;
        let vertices: Vec<Vertex> = (0..mesh.positions.len())
            .map(|i| Vertex {
                position: mesh.positions[i],
                normal: mesh.normals[i],
                part: u32::from(mesh.parts[i]),
            })
            .collect();
        let device = &self.gpu.device;
        GpuMesh {
            vertices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("mesh vertices"),
                contents: bytemuck::cast_slice(&vertices),
                usage: wgpu::BufferUsages::VERTEX,
            }),
            indices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("mesh indices"),
                contents: bytemuck::cast_slice(&mesh.indices),
                usage: wgpu::BufferUsages::INDEX,
            }),
            index_count: mesh.indices.len() as u32,
            bounds: mesh.positions.iter().fold(
                [glam::Vec3::splat(f32::MAX), glam::Vec3::splat(f32::MIN)],
                |[lo, hi], p| {
                    let p = glam::Vec3::from(*p);
                    [lo.min(p), hi.max(p)]
                },
            ),
        }
    }

    /// How many views of `size` pixels go into one batch at supersampling `factor`.
    pub fn views_per_pass(size: u32, factor: u32) -> usize {
        let per_view = u64::from(size * factor).pow(2);
        (MAX_BATCH_PIXELS / per_view).clamp(1, u64::from(MAX_LAYERS)) as usize
    }

    /// Renders every view at `size`×`size` with `factor`×`factor` supersampling.
    pub fn render(
        &mut self,
        views: &[ViewRequest<'_>],
        size: u32,
        factor: u32,
    ) -> Result<Vec<Frame>, RenderError> {
        self.render_outputs(views, size, factor, Outputs::All)
    }

    /// [`Self::render`], reading back only what `outputs` names. The shade is the same bits
    /// either way.
    pub fn render_outputs(
        &mut self,
        views: &[ViewRequest<'_>],
        size: u32,
        factor: u32,
        outputs: Outputs,
    ) -> Result<Vec<Frame>, RenderError> {
        if !(8..=1024).contains(&size) {
            return Err(RenderError::BadSize(size));
        }
        let factor = factor.clamp(1, 4);
        let mut frames = Vec::with_capacity(views.len());
        for chunk in views.chunks(Self::views_per_pass(size, factor)) {
            frames.extend(self.render_pass(chunk, size, factor, outputs)?);
        }
        Ok(frames)
    }

    fn render_pass(
        &mut self,
        views: &[ViewRequest<'_>],
        size: u32,
        factor: u32,
        outputs: Outputs,
    ) -> Result<Vec<Frame>, RenderError> {
        let n = views.len() as u32;
        let tile = size * factor;
        let shadowed = views
            .iter()
            .any(|v| v.lighting.shadow > 0.0 && v.mesh.index_count > 0);
        self.ensure_targets(
            size,
            factor,
            Self::views_per_pass(size, factor) as u32,
            shadowed,
        );
        self.ensure_view_buffer(views.len() as u64);
        let (Some(targets), Some((view_buffer, view_group, _))) = (&self.targets, &self.views)
        else {
            unreachable!("ensure_* just created them");
        };
        let device = &self.gpu.device;
        let queue = &self.gpu.queue;

        let mut uniforms = vec![0u8; views.len() * VIEW_STRIDE as usize];
        for (i, v) in views.iter().enumerate() {
            let u = view_uniform(&v.camera, &v.lighting, v.mesh.bounds, i as u32, tile);
            let at = i * VIEW_STRIDE as usize;
            uniforms[at..at + size_of::<ViewUniform>()].copy_from_slice(bytemuck::bytes_of(&u));
        }
        queue.write_buffer(view_buffer, 0, &uniforms);

        let mut encoder = device.create_command_encoder(&Default::default());
        // Each shadowed view's shadow map first, into its own layer.
        for (i, v) in views.iter().enumerate() {
            if v.lighting.shadow <= 0.0 || v.mesh.index_count == 0 {
                continue;
            }
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("shadow"),
                color_attachments: &[],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &targets.layers[i][3],
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Store,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.shadow_pipeline);
            pass.set_viewport(0.0, 0.0, tile as f32, tile as f32, 0.0, 1.0);
            pass.set_bind_group(0, view_group, &[(i as u64 * VIEW_STRIDE) as u32]);
            pass.set_vertex_buffer(0, v.mesh.vertices.slice(..));
            pass.set_index_buffer(v.mesh.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..v.mesh.index_count, 0, 0..1);
        }
        for (i, v) in views.iter().enumerate() {
            let [shade, linear_depth, depth, _] = &targets.layers[i];
            let attach = |view| {
                Some(wgpu::RenderPassColorAttachment {
                    view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        store: wgpu::StoreOp::Store,
                    },
                })
            };
            let all = [attach(shade), attach(linear_depth)];
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("view"),
                color_attachments: match outputs {
                    Outputs::All => &all,
                    Outputs::Shade => &all[..1],
                },
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: depth,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(match outputs {
                Outputs::All => &self.pipeline,
                Outputs::Shade => &self.shade_pipeline,
            });
            pass.set_viewport(0.0, 0.0, tile as f32, tile as f32, 0.0, 1.0);
            pass.set_bind_group(0, view_group, &[(i as u64 * VIEW_STRIDE) as u32]);
            pass.set_bind_group(1, &targets.shadow_group, &[]);
            // An empty mesh (a product that meshes to nothing) leaves the layer cleared; wgpu
            // refuses empty buffer slices.
            if v.mesh.index_count == 0 {
                continue;
            }
            pass.set_vertex_buffer(0, v.mesh.vertices.slice(..));
            pass.set_index_buffer(v.mesh.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..v.mesh.index_count, 0, 0..1);
        }
        queue.write_buffer(
            &targets.params,
            0,
            bytemuck::bytes_of(&DownsampleParams {
                factor,
                width: size,
                height: size,
                _pad: 0,
                sensors: std::array::from_fn(|i| {
                    views
                        .get(i)
                        .map_or(Sensor::default().uniform(), |v| v.sensor.uniform())
                }),
            }),
        );
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(match outputs {
                Outputs::All => &self.downsample_pipeline,
                Outputs::Shade => &self.downsample_shade_pipeline,
            });
            pass.set_bind_group(0, &targets.downsample_group, &[]);
            pass.dispatch_workgroups(size.div_ceil(8), size.div_ceil(8), n);
        }
        let mut pending = vec![readback::PendingReadback::record(
            device,
            &mut encoder,
            &targets.out_shade,
            n,
        )];
        if outputs == Outputs::All {
            pending.push(readback::PendingReadback::record(
                device,
                &mut encoder,
                &targets.out_depth,
                n,
            ));
        }
        queue.submit([encoder.finish()]);
        let mut data = readback::read_all(device, pending)?.into_iter();
        let shade_bytes = data.next().unwrap_or_default();
        let depth_bytes = data.next().unwrap_or_default();
        // Read back as bytes; the depth layers are f32 (an empty read has nothing to cast).
        let depth: Vec<f32> = depth_bytes
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();

        let s = size as usize;
        let frames = (0..views.len())
            .map(|i| {
                let layer = i * s * s;
                let shade = &shade_bytes[layer * 4..(layer + s * s) * 4];
                Frame {
                    size,
                    shade: shade.chunks_exact(4).map(|px| px[0]).collect(),
                    part: match outputs {
                        Outputs::All => shade.chunks_exact(4).map(|px| px[3]).collect(),
                        Outputs::Shade => Vec::new(),
                    },
                    depth: match outputs {
                        Outputs::All => depth[layer..layer + s * s].to_vec(),
                        Outputs::Shade => Vec::new(),
                    },
                }
            })
            .collect();
        Ok(frames)
    }

    fn ensure_view_buffer(&mut self, count: u64) {
        if matches!(&self.views, Some((_, _, cap)) if *cap >= count) {
            return;
        }
        let capacity = count.next_power_of_two();
        let buffer = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("views"),
            size: capacity * VIEW_STRIDE,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("views"),
                layout: &self.view_layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(size_of::<ViewUniform>() as u64),
                    }),
                }],
            });
        self.views = Some((buffer, group, capacity));
    }

    fn ensure_targets(&mut self, size: u32, factor: u32, layers: u32, shadowed: bool) {
        let key = (size, factor, layers, shadowed);
        if matches!(&self.targets, Some(t) if t.key == key) {
            return;
        }
        let device = &self.gpu.device;
        let texture = |label, side, format, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width: side,
                    height: side,
                    depth_or_array_layers: layers,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let tile = size * factor;
        let attach = wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING;
        let out = wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC;
        let shade = texture("shade", tile, SHADE_FORMAT, attach);
        let linear_depth = texture("linear depth", tile, LINEAR_DEPTH_FORMAT, attach);
        let depth = texture(
            "depth",
            tile,
            DEPTH_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        let shadow = texture(
            "shadow maps",
            if shadowed { tile } else { 1 },
            DEPTH_FORMAT,
            attach,
        );
        let out_shade = texture("out shade", size, SHADE_FORMAT, out);
        let out_depth = texture("out depth", size, LINEAR_DEPTH_FORMAT, out);
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("downsample params"),
            size: size_of::<DownsampleParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let array = |t: &wgpu::Texture| {
            t.create_view(&wgpu::TextureViewDescriptor {
                dimension: Some(wgpu::TextureViewDimension::D2Array),
                ..Default::default()
            })
        };
        let layer = |t: &wgpu::Texture, i: u32| {
            t.create_view(&wgpu::TextureViewDescriptor {
                dimension: Some(wgpu::TextureViewDimension::D2),
                base_array_layer: i,
                array_layer_count: Some(1),
                ..Default::default()
            })
        };
        fn entry(binding: u32, view: &wgpu::TextureView) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::TextureView(view),
            }
        }
        let (shade_array, linear_depth_array) = (array(&shade), array(&linear_depth));
        let (out_shade_array, out_depth_array) = (array(&out_shade), array(&out_depth));
        let downsample_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("downsample"),
            layout: &self.downsample_layout,
            entries: &[
                entry(0, &shade_array),
                entry(1, &linear_depth_array),
                entry(2, &out_shade_array),
                entry(3, &out_depth_array),
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        let shadow_array = array(&shadow);
        let shadow_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("shadow maps"),
            layout: &self.shadow_layout,
            entries: &[
                entry(0, &shadow_array),
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.shadow_sampler),
                },
            ],
        });
        self.targets = Some(Targets {
            key,
            layers: (0..layers)
                .map(|i| {
                    [
                        layer(&shade, i),
                        layer(&linear_depth, i),
                        layer(&depth, i),
                        layer(&shadow, i),
                    ]
                })
                .collect(),
            shadow_group,
            out_shade,
            out_depth,
            downsample_group,
            params,
        });
    }
}

/// The light's view of a product whose model-frame bounding box is `bounds`, seen by `camera`:
/// an orthographic projection along the light that covers the ball about the camera's centre
/// holding the box whichever way the product turns, and the size of one of `side` texels in
/// world units.
fn shadow_projection(
    camera: &Camera,
    light: glam::Vec3,
    bounds: [glam::Vec3; 2],
    side: u32,
) -> (Mat4, f32) {
    let [lo, hi] = bounds;
    let radius = if lo.cmple(hi).all() {
        // The farthest corner of the box from the centre bounds every point of the product.
        let far = (lo - camera.centre).abs().max((hi - camera.centre).abs());
        far.length().max(1e-3)
    } else {
        1.0
    };
    let margin = 0.5;
    let eye = camera.centre + light * (radius + margin);
    let up = if light.y.abs() > 0.9 {
        glam::Vec3::X
    } else {
        glam::Vec3::Y
    };
    let view = glam::camera::rh::view::look_at_mat4(eye, camera.centre, up);
    let projection = glam::camera::rh::proj::directx::orthographic(
        -radius,
        radius,
        -radius,
        radius,
        margin * 0.5,
        2.0 * radius + margin * 1.5,
    );
    (projection * view, 2.0 * radius / side as f32)
}

fn view_uniform(
    camera: &Camera,
    lighting: &Lighting,
    bounds: [glam::Vec3; 2],
    layer: u32,
    shadow_side: u32,
) -> ViewUniform {
    let world_from_model = camera.world_from_model();
    let clip_from_model: Mat4 = camera.clip_from_world() * world_from_model;
    let eye = camera.eye();
    let light = lighting.direction_unit();
    let (shadow_from_world, texel) = shadow_projection(camera, light, bounds, shadow_side);
    ViewUniform {
        clip_from_model: clip_from_model.to_cols_array_2d(),
        world_from_model: world_from_model.to_cols_array_2d(),
        eye: [eye.x, eye.y, eye.z, 1.0],
        forward: [0.0, 0.0, -1.0, 0.0],
        light: [light.x, light.y, light.z, lighting.intensity],
        material: [
            lighting.ambient,
            lighting.albedo,
            lighting.specular,
            lighting.shininess,
        ],
        part_ambient: [
            [
                lighting.part_ambient[0],
                lighting.part_ambient[1],
                lighting.part_ambient[2],
                lighting.part_ambient[3],
            ],
            [
                lighting.part_ambient[4],
                lighting.part_ambient[5],
                lighting.part_ambient[6],
                lighting.part_ambient[7],
            ],
        ],
        shadow_from_world: shadow_from_world.to_cols_array_2d(),
        shadow: [
            lighting.shadow,
            layer as f32,
            1.5 * texel,
            1.0 / shadow_side as f32,
        ],
    }
}
