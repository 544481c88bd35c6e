// Reduces each supersampled layer (one view each) to the output resolution: the shade is the box average (edges
// anti-aliased, background black), the part id is the majority of the samples (background
// included, so a pixel belongs to the object only when most of it is covered), and the depth is
// the nearest covered sample (0 where the pixel is background). The part id travels in the alpha
// channel of the output, which stays exact for ids up to 255.

struct Params {
    factor: u32,
    width: u32,
    height: u32,
    _pad: u32,
    // Per layer: x = 1/gamma, y = black level (the camera's response; see `Sensor`).
    sensors: array<vec4<f32>, 256>,
};

// The camera's response to a pixel's linear value: its curve, then its black level. Gamma 1
// leaves the value's bits as they are.
fn respond(v: vec3<f32>, layer: u32) -> vec3<f32> {
    let s = params.sensors[layer];
    var out = v;
    if (s.x != 1.0) {
        out = pow(clamp(v, vec3<f32>(0.0), vec3<f32>(1.0)), vec3<f32>(s.x));
    }
    return out + vec3<f32>(s.y);
}

@group(0) @binding(0) var shade_in: texture_2d_array<f32>;
@group(0) @binding(1) var depth_in: texture_2d_array<f32>;
@group(0) @binding(2) var shade_out: texture_storage_2d_array<rgba8unorm, write>;
@group(0) @binding(3) var depth_out: texture_storage_2d_array<r32float, write>;
@group(0) @binding(4) var<uniform> params: Params;

fn part_at(p: vec2<i32>, layer: u32) -> u32 {
    return u32(round(textureLoad(shade_in, p, layer, 0).a * 255.0));
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.width || id.y >= params.height) {
        return;
    }
    let f = params.factor;
    let layer = id.z;
    let base = id.xy * f;
    var sum = vec3<f32>(0.0);
    var nearest = 0.0;
    var best_part = 0u;
    var best_count = 0u;
    for (var j = 0u; j < f; j++) {
        for (var i = 0u; i < f; i++) {
            let p = vec2<i32>(base + vec2<u32>(i, j));
            sum += textureLoad(shade_in, p, layer, 0).rgb;
            let part = part_at(p, layer);
            if (part != 0u) {
                let d = textureLoad(depth_in, p, layer, 0).r;
                if (nearest == 0.0 || d < nearest) {
                    nearest = d;
                }
            }
            // Count how many samples share this sample's part; keep the first most common.
            var count = 0u;
            for (var jj = 0u; jj < f; jj++) {
                for (var ii = 0u; ii < f; ii++) {
                    if (part_at(vec2<i32>(base + vec2<u32>(ii, jj)), layer) == part) {
                        count++;
                    }
                }
            }
            if (count > best_count) {
                best_count = count;
                best_part = part;
            }
        }
    }
    if (best_part == 0u) {
        nearest = 0.0;
    }
    let mean = sum / f32(f * f);
    textureStore(shade_out, vec2<i32>(id.xy), layer, vec4<f32>(respond(mean, layer), f32(best_part) / 255.0));
    textureStore(depth_out, vec2<i32>(id.xy), layer, vec4<f32>(nearest, 0.0, 0.0, 0.0));
}

// The box average of the shade alone (pose refinement needs neither part ids nor depth).
@compute @workgroup_size(8, 8)
fn main_shade(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.width || id.y >= params.height) {
        return;
    }
    let f = params.factor;
    let base = id.xy * f;
    var sum = vec3<f32>(0.0);
    for (var j = 0u; j < f; j++) {
        for (var i = 0u; i < f; i++) {
            sum += textureLoad(shade_in, vec2<i32>(base + vec2<u32>(i, j)), id.z, 0).rgb;
        }
    }
    textureStore(shade_out, vec2<i32>(id.xy), id.z, vec4<f32>(respond(sum / f32(f * f), id.z), 0.0));
}
