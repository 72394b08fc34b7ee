// SPDX-License-Identifier: MIT
//
// The ray tracer proper: rays, intersections, shading with shadows and
// reflections, and render_row, which turns one row of the picture into RGB
// bytes. Part of the ray tracer example; knows nothing of pprocess.
//
// Everything here is a pure function of the scene and its arguments: no
// global state, no random numbers. Rows can be rendered in any order, by
// any process, and the bytes come out the same.

#pragma once

#include <cstdint>   // std::uint8_t
#include <optional>  // std::optional
#include <vector>    // std::vector

#include "scene.hpp"
#include "vec3.hpp"

namespace raytracer {

struct Ray {
  Vec3 origin;
  Vec3 direction;  // a unit vector
};

/// Where a ray first meets the scene.
struct Hit {
  double distance = 0;
  Vec3 point;
  Vec3 normal;  // a unit vector, facing the ray
  const Material* material = nullptr;
};

/// The nearest surface `ray` meets further than a small epsilon away, if
/// any.
std::optional<Hit> intersect(const Scene& scene, const Ray& ray);

/// The colour (linear, each component from 0 up) seen along `ray`; `depth`
/// counts the reflections followed so far.
Vec3 trace(const Scene& scene, const Ray& ray, int depth = 0);

/// The ray from the camera through the point (`px`, `py`) of the picture,
/// in pixels: (0, 0) is the top left corner, (width, height) the bottom
/// right one.
Ray camera_ray(const Scene& scene, double px, double py);

/// The colour of pixel (`x`, `y`): the mean of scene.samples^2 rays on a
/// fixed grid inside it.
Vec3 render_pixel(const Scene& scene, int x, int y);

/// A linear colour component as a byte (clamped, gamma 2.2).
std::uint8_t to_byte(double component);

/// Row `y` of the picture: scene.width pixels, 3 bytes (R, G, B) each.
std::vector<std::uint8_t> render_row(const Scene& scene, int y);

}  // namespace raytracer
