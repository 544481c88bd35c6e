// Draws the product into one layer of the supersampled target: shaded grey level, part id and
// linear depth, all from the same rasterisation so they agree pixel for pixel.

struct View {
    clip_from_model: mat4x4<f32>,
    world_from_model: mat4x4<f32>,
    // xyz: camera position (world).
    eye: vec4<f32>,
    // xyz: camera forward axis (world, unit); linear depth = dot(p - eye, forward).
    forward: vec4<f32>,
    // xyz: unit direction towards the light (world); w: light intensity.
    light: vec4<f32>,
    // x: ambient, y: albedo, z: specular strength, w: shininess.
    material: vec4<f32>,
    // Extra ambient light of part ids 1 to 8, four per vector (`Lighting::part_ambient`).
    part_ambient: array<vec4<f32>, 2>,
};

// The ambient light a fragment of `part` receives: the scene's, plus its part's own.
fn ambient_of(part: u32) -> f32 {
    var extra = 0.0;
    if (part >= 1u && part <= 8u) {
        let i = part - 1u;
        extra = view.part_ambient[i / 4u][i % 4u];
    }
    return view.material.x + extra;
}

@group(0) @binding(0) var<uniform> view: View;

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) part: u32,
};

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) @interpolate(flat) part: u32,
};

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    var out: VertexOut;
    out.clip = view.clip_from_model * vec4<f32>(v.position, 1.0);
    out.world = (view.world_from_model * vec4<f32>(v.position, 1.0)).xyz;
    // world_from_model is a rotation plus a translation, so it maps normals as well.
    out.normal = (view.world_from_model * vec4<f32>(v.normal, 0.0)).xyz;
    out.part = v.part;
    return out;
}

struct FragmentOut {
    // rgb: shaded grey level; a: part id / 255 (exact in an 8-bit unorm target).
    @location(0) shade: vec4<f32>,
    @location(1) depth: f32,
};

@fragment
fn fs_main(in: VertexOut) -> FragmentOut {
    let n = normalize(in.normal);
    let l = view.light.xyz;
    let intensity = view.light.w;
    let ambient = ambient_of(in.part);
    let albedo = view.material.y;
    let diffuse = max(dot(n, l), 0.0);
    var value = albedo * (ambient + intensity * diffuse);
    if (view.material.z > 0.0) {
        // Blinn-Phong highlight.
        let v = normalize(view.eye.xyz - in.world);
        let h = normalize(l + v);
        value += view.material.z * intensity * pow(max(dot(n, h), 0.0), view.material.w);
    }
    var out: FragmentOut;
    out.shade = vec4<f32>(value, value, value, f32(in.part) / 255.0);
    out.depth = dot(in.world - view.eye.xyz, view.forward.xyz);
    return out;
}

// The shade alone, for pose refinement: the same value as fs_main's, one target.
@fragment
fn fs_shade(in: VertexOut) -> @location(0) vec4<f32> {
    let n = normalize(in.normal);
    let l = view.light.xyz;
    let intensity = view.light.w;
    let albedo = view.material.y;
    let diffuse = max(dot(n, l), 0.0);
    var value = albedo * (ambient_of(in.part) + intensity * diffuse);
    if (view.material.z > 0.0) {
        let v = normalize(view.eye.xyz - in.world);
        let h = normalize(l + v);
        value += view.material.z * intensity * pow(max(dot(n, h), 0.0), view.material.w);
    }
    return vec4<f32>(value, value, value, 0.0);
}
