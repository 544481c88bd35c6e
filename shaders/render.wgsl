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
    // The light's orthographic view: world to shadow-map clip space.
    shadow_from_world: mat4x4<f32>,
    // x: shadow strength (0: none); y: this view's layer of the shadow maps; z: normal offset
    // of the lookup (world units); w: one shadow-map texel in texture coordinates.
    shadow: vec4<f32>,
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
@group(1) @binding(0) var shadow_maps: texture_depth_2d_array;
@group(1) @binding(1) var shadow_sampler: sampler_comparison;

// The share of the direct light that reaches `world` (normal `n`): 1 in the open, down to
// 1 - strength where the product itself blocks the light. 3×3 filtered lookups soften the
// shadow's edge over about four texels.
fn direct_share(world: vec3<f32>, n: vec3<f32>) -> f32 {
    let strength = view.shadow.x;
    if (strength <= 0.0) {
        return 1.0;
    }
    let c = view.shadow_from_world * vec4<f32>(world + n * view.shadow.z, 1.0);
    let uv = vec2<f32>(c.x * 0.5 + 0.5, 0.5 - c.y * 0.5);
    let layer = i32(view.shadow.y);
    var seen = 0.0;
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            let at = uv + vec2<f32>(f32(dx), f32(dy)) * view.shadow.w;
            seen += textureSampleCompareLevel(shadow_maps, shadow_sampler, at, layer, c.z);
        }
    }
    return 1.0 - strength * (1.0 - seen / 9.0);
}

// The grey level of a surface point: ambient, plus Lambert and a Blinn-Phong highlight under
// the share of the direct light that reaches it.
fn shade_at(world: vec3<f32>, normal: vec3<f32>, part: u32) -> f32 {
    let n = normalize(normal);
    let l = view.light.xyz;
    let intensity = view.light.w;
    let albedo = view.material.y;
    let diffuse = max(dot(n, l), 0.0);
    if (view.shadow.x <= 0.0) {
        // Without shadows: the exact arithmetic every dataset before shadows was rendered with.
        var value = albedo * (ambient_of(part) + intensity * diffuse);
        if (view.material.z > 0.0) {
            let v = normalize(view.eye.xyz - world);
            let h = normalize(l + v);
            value += view.material.z * intensity * pow(max(dot(n, h), 0.0), view.material.w);
        }
        return value;
    }
    var direct = 0.0;
    if (diffuse > 0.0) {
        direct = direct_share(world, n);
    }
    var value = albedo * (ambient_of(part) + intensity * diffuse * direct);
    if (view.material.z > 0.0) {
        let v = normalize(view.eye.xyz - world);
        let h = normalize(l + v);
        value += direct * view.material.z * intensity * pow(max(dot(n, h), 0.0), view.material.w);
    }
    return value;
}

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

// The product seen from the light: its depth alone, for the shadow map.
@vertex
fn vs_shadow(v: VertexIn) -> @builtin(position) vec4<f32> {
    return view.shadow_from_world * (view.world_from_model * vec4<f32>(v.position, 1.0));
}

@fragment
fn fs_main(in: VertexOut) -> FragmentOut {
    let value = shade_at(in.world, in.normal, in.part);
    var out: FragmentOut;
    out.shade = vec4<f32>(value, value, value, f32(in.part) / 255.0);
    out.depth = dot(in.world - view.eye.xyz, view.forward.xyz);
    return out;
}

// The shade alone, for pose refinement: the same value as fs_main's, one target.
@fragment
fn fs_shade(in: VertexOut) -> @location(0) vec4<f32> {
    let value = shade_at(in.world, in.normal, in.part);
    return vec4<f32>(value, value, value, 0.0);
}
