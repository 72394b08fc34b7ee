// SPDX-License-Identifier: MIT

#include "scene.hpp"

#include <cmath>  // std::cos, std::sin

namespace raytracer {

Scene demo_scene(int width, int height) {
  Scene scene;
  scene.width = width;
  scene.height = height;
  scene.fog_distance = 40;
  scene.camera = {.position = {0, 2.4, 8.5},
                  .look_at = {0, 1, 0},
                  .up = {0, 1, 0},
                  .fov_degrees = 45};

  // The floor: a checkerboard that reflects a little.
  scene.planes.push_back({.point = {0, 0, 0},
                          .normal = {0, 1, 0},
                          .material = {.color = {0.9, 0.9, 0.88},
                                       .checkered = true,
                                       .color2 = {0.15, 0.15, 0.2},
                                       .square = 1.0,
                                       .diffuse = 0.9,
                                       .specular = 0.2,
                                       .shininess = 20,
                                       .reflectivity = 0.25}});

  // A mirror in the middle, a red and a blue sphere beside it.
  scene.spheres.push_back({.center = {0, 1.3, 0},
                           .radius = 1.3,
                           .material = {.color = {0.9, 0.9, 0.95},
                                        .diffuse = 0.1,
                                        .specular = 0.9,
                                        .shininess = 120,
                                        .reflectivity = 0.85}});
  scene.spheres.push_back({.center = {-2.4, 0.9, -0.4},
                           .radius = 0.9,
                           .material = {.color = {0.85, 0.15, 0.12},
                                        .specular = 0.6,
                                        .shininess = 60,
                                        .reflectivity = 0.1}});
  scene.spheres.push_back({.center = {2.1, 0.8, -0.3},
                           .radius = 0.8,
                           .material = {.color = {0.15, 0.3, 0.9},
                                        .specular = 0.6,
                                        .shininess = 60,
                                        .reflectivity = 0.1}});

  // A ring of small spheres around them, their colours going round the
  // hue circle.
  constexpr int ring = 12;
  constexpr double pi = 3.14159265358979323846;
  for (int k = 0; k < ring; ++k) {
    const double angle = 2 * pi * k / ring;
    const Vec3 color{0.55 + 0.45 * std::cos(angle),
                     0.55 + 0.45 * std::cos(angle - 2 * pi / 3),
                     0.55 + 0.45 * std::cos(angle + 2 * pi / 3)};
    scene.spheres.push_back(
        {.center = {4.0 * std::cos(angle), 0.35, 4.0 * std::sin(angle) - 1.5},
         .radius = 0.35,
         .material = {.color = color,
                      .specular = 0.5,
                      .shininess = 50,
                      .reflectivity = 0.2}});
  }

  scene.lights.push_back({.position = {-5, 8, 6}, .color = {0.8, 0.8, 0.75}});
  scene.lights.push_back({.position = {6, 5, 3}, .color = {0.35, 0.35, 0.45}});
  return scene;
}

}  // namespace raytracer
