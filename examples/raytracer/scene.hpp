// SPDX-License-Identifier: MIT
//
// The scene the ray tracer renders: spheres and planes with their materials,
// point lights, a camera, and the size of the picture. Part of the ray
// tracer example; knows nothing of pprocess.

#pragma once

#include <vector>  // std::vector

#include "vec3.hpp"

namespace raytracer {

/// How a surface answers light.
struct Material {
  Vec3 color{1, 1, 1};
  /// Colour of the other squares: a plane with `checkered` set alternates
  /// `color` and `color2` in squares of side `square`.
  bool checkered = false;
  Vec3 color2{0, 0, 0};
  double square = 1;
  double diffuse = 0.8;     // Lambert term
  double specular = 0.4;    // Phong highlight strength
  double shininess = 40;    // Phong exponent
  double reflectivity = 0;  // 0: matt, 1: perfect mirror
};

struct Sphere {
  Vec3 center;
  double radius = 1;
  Material material;
};

/// The plane through `point` facing `normal` (a unit vector).
struct Plane {
  Vec3 point;
  Vec3 normal{0, 1, 0};
  Material material;
};

struct Light {
  Vec3 position;
  Vec3 color{1, 1, 1};
};

struct Camera {
  Vec3 position{0, 0, 0};
  Vec3 look_at{0, 0, -1};
  Vec3 up{0, 1, 0};
  double fov_degrees = 60;  // vertical field of view
};

struct Scene {
  int width = 640;
  int height = 480;
  Camera camera;
  std::vector<Sphere> spheres;
  std::vector<Plane> planes;
  std::vector<Light> lights;
  Vec3 ambient{0.08, 0.08, 0.08};
  /// The sky: `sky_horizon` at the horizon blending to `sky_zenith` above.
  Vec3 sky_horizon{0.85, 0.9, 1.0};
  Vec3 sky_zenith{0.25, 0.45, 0.85};
  /// Haze: a surface at distance d keeps exp(-(d / fog_distance)^2) of its
  /// colour, the rest is `sky_horizon` (0: no haze).
  double fog_distance = 0;
  /// Reflections followed at most this deep.
  int max_depth = 4;
  /// Anti-aliasing: each pixel is the mean of samples x samples rays on a
  /// fixed grid.
  int samples = 3;
};

/// The example's scene, framed for a `width` x `height` picture: a
/// checkered floor, a mirror sphere among coloured ones, two lights.
Scene demo_scene(int width, int height);

}  // namespace raytracer
