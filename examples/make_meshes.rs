//! Writes the team's own example products as CAD-style triangle meshes with named parts:
//! `assets/products/bracket.obj` (an L-bracket with three holes and a gusset rib, y up, mm) and
//! `assets/products/gear.glb` (a spur gear with a hub and a bore, z up, mm, under a node
//! transform). Like CAD exports, the faces are large and flat and the bodies are separate
//! closed shells where they overlap (the bracket's plates and rib), which the import's winding
//! number joins.
//!
//! `cargo run --example make_meshes [-- OUT_DIR]` (default `assets/products`).

use std::f64::consts::TAU;
use std::path::PathBuf;

use glam::{DMat4, DVec3};
use unseen::product::import::PartMesh;

/// Points along each side of a face cell; the holes have four times as many.
const SIDE: usize = 10;
/// Angular samples per gear tooth.
const TOOTH: [f64; 11] = [
    0.0, 0.075, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.925,
];

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("assets/products"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let bracket = bracket();
    let obj = unseen::product::import::obj::write(&bracket);
    std::fs::write(out.join("bracket.obj"), &obj)?;
    let gear = gear();
    // The gear sits turned and moved under its root node, as parts do in assemblies.
    let root = DMat4::from_translation(DVec3::new(30.0, -12.0, 5.0))
        * DMat4::from_rotation_z(10f64.to_radians());
    let glb = unseen::product::import::gltf::write_glb(&gear, "gear", root);
    std::fs::write(out.join("gear.glb"), &glb)?;
    for (name, mesh, bytes) in [
        ("bracket.obj", &bracket, obj.len()),
        ("gear.glb", &gear, glb.len()),
    ] {
        let triangles: usize = mesh.parts.iter().map(|(_, t)| t.len()).sum();
        let parts: Vec<&str> = mesh.parts.iter().map(|(n, _)| n.as_str()).collect();
        println!(
            "{}: {triangles} triangles, {bytes} bytes, parts {}",
            out.join(name).display(),
            parts.join(", ")
        );
    }
    Ok(())
}

/// Collects triangles by part, sharing vertices at the same position.
#[derive(Default)]
struct Builder {
    mesh: PartMesh,
    index: std::collections::HashMap<[i64; 3], u32>,
}

impl Builder {
    fn vertex(&mut self, p: DVec3) -> u32 {
        // Positions are built from the same corner numbers, so a micrometre grid joins them.
        let key = (p * 1e6).round().to_array().map(|x| x as i64);
        let positions = &mut self.mesh.positions;
        *self.index.entry(key).or_insert_with(|| {
            positions.push(p);
            (positions.len() - 1) as u32
        })
    }

    /// Adds a triangle to `part`, turned so its normal points along `out`.
    fn triangle(&mut self, part: &str, t: [DVec3; 3], out: DVec3) {
        let n = (t[1] - t[0]).cross(t[2] - t[0]);
        if n.length_squared() < 1e-18 {
            return;
        }
        let t = if n.dot(out) >= 0.0 {
            t
        } else {
            [t[0], t[2], t[1]]
        };
        let t = t.map(|p| self.vertex(p));
        match self.mesh.parts.iter_mut().find(|(n, _)| n == part) {
            Some((_, list)) => list.push(t),
            None => self.mesh.parts.push((part.to_string(), vec![t])),
        }
    }

    fn quad(&mut self, part: &str, q: [DVec3; 4], out: DVec3) {
        self.triangle(part, [q[0], q[1], q[2]], out);
        self.triangle(part, [q[0], q[2], q[3]], out);
    }
}

/// A hole's centre (u, v) and radius.
type Hole = (f64, f64, f64);

/// A box plate with round through-holes along `axis`: `cells` splits the face the holes pass
/// through along axis `u` into rectangles, each with at most one hole `(centre_u, centre_v,
/// radius)` (v is the remaining axis).
struct Plate {
    lo: DVec3,
    hi: DVec3,
    axis: usize,
    u: usize,
    cells: Vec<(f64, f64, Option<Hole>)>,
}

impl Plate {
    fn v(&self) -> usize {
        3 - self.axis - self.u
    }

    fn point(&self, u: f64, v: f64, a: f64) -> DVec3 {
        let mut p = DVec3::ZERO;
        p[self.u] = u;
        p[self.v()] = v;
        p[self.axis] = a;
        p
    }

    fn add(&self, b: &mut Builder, part: &str, holes: &str) {
        let (iu, iv, ia) = (self.u, self.v(), self.axis);
        let (v0, v1) = (self.lo[iv], self.hi[iv]);
        let (a0, a1) = (self.lo[ia], self.hi[ia]);
        let normal = |sign: f64| {
            let mut n = DVec3::ZERO;
            n[ia] = sign;
            n
        };
        let middle = (self.lo + self.hi) / 2.0;
        for &(u0, u1, hole) in &self.cells {
            // The cell's boundary, counter-clockwise in (u, v), SIDE points per side.
            let corners = [(u0, v0), (u1, v0), (u1, v1), (u0, v1)];
            let mut ring: Vec<(f64, f64)> = Vec::new();
            for s in 0..4 {
                let (p, q) = (corners[s], corners[(s + 1) % 4]);
                for k in 0..SIDE {
                    let t = k as f64 / SIDE as f64;
                    ring.push((p.0 + (q.0 - p.0) * t, p.1 + (q.1 - p.1) * t));
                }
            }
            let n = ring.len();
            for (a, out) in [(a0, normal(-1.0)), (a1, normal(1.0))] {
                let at = |p: (f64, f64)| self.point(p.0, p.1, a);
                match hole {
                    None => {
                        let c = at(((u0 + u1) / 2.0, (v0 + v1) / 2.0));
                        for k in 0..n {
                            b.triangle(part, [c, at(ring[k]), at(ring[(k + 1) % n])], out);
                        }
                    }
                    Some((cu, cv, r)) => {
                        // Each boundary point joins the hole's rim at its own angle.
                        let rim = |p: (f64, f64)| {
                            let angle = (p.1 - cv).atan2(p.0 - cu);
                            (cu + r * angle.cos(), cv + r * angle.sin())
                        };
                        for k in 0..n {
                            let (p, q) = (ring[k], ring[(k + 1) % n]);
                            b.quad(part, [at(p), at(q), at(rim(q)), at(rim(p))], out);
                            if a == a0 {
                                // The hole's wall, facing its axis.
                                let (rp, rq) = (rim(p), rim(q));
                                let w = [
                                    self.point(rp.0, rp.1, a0),
                                    self.point(rq.0, rq.1, a0),
                                    self.point(rq.0, rq.1, a1),
                                    self.point(rp.0, rp.1, a1),
                                ];
                                let mut inward = self.point(cu, cv, a0) - w[0];
                                inward[ia] = 0.0;
                                b.quad(holes, w, inward);
                            }
                        }
                    }
                }
            }
            // Side walls where the cell's boundary is the plate's.
            for s in 0..4 {
                let (p, q) = (corners[s], corners[(s + 1) % 4]);
                let on_edge = (p.1 == v0 && q.1 == v0)
                    || (p.1 == v1 && q.1 == v1)
                    || (p.0 == self.lo[iu] && q.0 == self.lo[iu])
                    || (p.0 == self.hi[iu] && q.0 == self.hi[iu]);
                if !on_edge {
                    continue;
                }
                for k in 0..SIDE {
                    let (t0, t1) = (k as f64 / SIDE as f64, (k + 1) as f64 / SIDE as f64);
                    let e0 = (p.0 + (q.0 - p.0) * t0, p.1 + (q.1 - p.1) * t0);
                    let e1 = (p.0 + (q.0 - p.0) * t1, p.1 + (q.1 - p.1) * t1);
                    let w = [
                        self.point(e0.0, e0.1, a0),
                        self.point(e1.0, e1.1, a0),
                        self.point(e1.0, e1.1, a1),
                        self.point(e0.0, e0.1, a1),
                    ];
                    let mut out = (w[0] + w[1]) / 2.0 - middle;
                    out[ia] = 0.0;
                    b.quad(part, w, out);
                }
            }
        }
    }
}

/// An L-bracket, in millimetres with y up: a base plate with two holes, an upright plate with
/// one, and a triangular rib between them. The upright stands in the base (their bodies
/// overlap, as separate closed shells).
fn bracket() -> PartMesh {
    let mut b = Builder::default();
    Plate {
        lo: DVec3::new(0.0, 0.0, 0.0),
        hi: DVec3::new(60.0, 6.0, 40.0),
        axis: 1,
        u: 0,
        cells: vec![
            (0.0, 14.0, None),
            (14.0, 36.0, Some((25.0, 20.0, 5.0))),
            (36.0, 60.0, Some((47.0, 20.0, 5.0))),
        ],
    }
    .add(&mut b, "base", "holes");
    Plate {
        lo: DVec3::new(0.0, 0.5, 2.0),
        hi: DVec3::new(6.0, 50.0, 38.0),
        axis: 0,
        u: 1,
        cells: vec![
            (0.5, 20.0, None),
            (20.0, 44.0, Some((32.0, 20.0, 6.0))),
            (44.0, 50.0, None),
        ],
    }
    .add(&mut b, "upright", "holes");
    rib(&mut b);
    b.mesh
}

/// A triangular gusset between the plates, sunk 1 mm into both.
fn rib(b: &mut Builder) {
    let (z0, z1) = (17.0, 23.0);
    let tri = [
        DVec3::new(5.0, 5.0, 0.0),
        DVec3::new(32.0, 5.0, 0.0),
        DVec3::new(5.0, 32.0, 0.0),
    ];
    let at = |p: DVec3, z: f64| DVec3::new(p.x, p.y, z);
    b.triangle(
        "rib",
        [at(tri[0], z0), at(tri[1], z0), at(tri[2], z0)],
        -DVec3::Z,
    );
    b.triangle(
        "rib",
        [at(tri[0], z1), at(tri[1], z1), at(tri[2], z1)],
        DVec3::Z,
    );
    let centroid = (tri[0] + tri[1] + tri[2]) / 3.0;
    for k in 0..3 {
        let (p, q) = (tri[k], tri[(k + 1) % 3]);
        let out = (p + q) / 2.0 - centroid;
        b.quad("rib", [at(p, z0), at(q, z0), at(q, z1), at(p, z1)], out);
    }
}

/// A 14-tooth spur gear in millimetres with z up: teeth between radii 18 and 22.5 on an 8 mm
/// thick disc, a hub of radius 9 standing 6 mm above it, a bore of radius 4.5 through both.
fn gear() -> PartMesh {
    let teeth = 14;
    let (root, tip, thick) = (18.0, 22.5, 8.0);
    let (hub_r, hub_top, bore_r) = (9.0, 14.0, 4.5);
    let angles: Vec<(f64, f64)> = (0..teeth)
        .flat_map(|t| {
            TOOTH.iter().map(move |u| {
                let r = if *u < 0.15 || *u >= 0.85 {
                    root
                } else if *u < 0.35 {
                    root + (tip - root) * (u - 0.15) / 0.2
                } else if *u < 0.65 {
                    tip
                } else {
                    tip - (tip - root) * (u - 0.65) / 0.2
                };
                ((t as f64 + u) * TAU / teeth as f64, r)
            })
        })
        .collect();
    let at = |angle: f64, r: f64, z: f64| DVec3::new(r * angle.cos(), r * angle.sin(), z);
    let mut b = Builder::default();
    let n = angles.len();
    for k in 0..n {
        let ((a, ra), (c, rc)) = (angles[k], angles[(k + 1) % n]);
        let radial = DVec3::new(((a + c) / 2.0).cos(), ((a + c) / 2.0).sin(), 0.0);
        // One quad of a band of faces from (radius at a, radius at c, height) to another.
        let mut band = |part: &str, from: (f64, f64, f64), to: (f64, f64, f64), out: DVec3| {
            let q = [
                at(a, from.0, from.2),
                at(c, from.1, from.2),
                at(c, to.1, to.2),
                at(a, to.0, to.2),
            ];
            b.quad(part, q, out);
        };
        band("teeth", (ra, rc, 0.0), (ra, rc, thick), radial);
        band("face", (bore_r, bore_r, 0.0), (ra, rc, 0.0), -DVec3::Z);
        band("face", (hub_r, hub_r, thick), (ra, rc, thick), DVec3::Z);
        band(
            "hub",
            (hub_r, hub_r, thick),
            (hub_r, hub_r, hub_top),
            radial,
        );
        band(
            "hub",
            (bore_r, bore_r, hub_top),
            (hub_r, hub_r, hub_top),
            DVec3::Z,
        );
        band(
            "bore",
            (bore_r, bore_r, 0.0),
            (bore_r, bore_r, hub_top),
            -radial,
        );
    }
    b.mesh
}
