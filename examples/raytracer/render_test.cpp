// SPDX-License-Identifier: MIT
//
// Unit tests of the ray tracer's core (no pprocess here): what a few rays
// see, shadows, and that rows come out the same whatever was rendered
// before.

#include "render.hpp"

#include <cstdint>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "image.hpp"
#include "scene.hpp"

namespace raytracer {
namespace {

// A floor, one sphere above the origin and one light straight above it.
Scene shadow_scene() {
  Scene scene;
  scene.planes.push_back({.point = {0, 0, 0},
                          .normal = {0, 1, 0},
                          .material = {.color = {0.8, 0.8, 0.8}}});
  scene.spheres.push_back({.center = {0, 2, 0}, .radius = 0.5, .material = {}});
  scene.lights.push_back({.position = {0, 10, 0}});
  return scene;
}

Ray ray_to(Vec3 from, Vec3 to) {
  return {from, normalized(to - from)};
}

TEST(Render, RayThatMissesEverythingSeesTheSky) {
  const Scene scene = shadow_scene();
  const Ray up{{0, 1, 5}, {0, 1, 0}};
  EXPECT_FALSE(intersect(scene, up).has_value());
  const Vec3 color = trace(scene, up);
  EXPECT_DOUBLE_EQ(color.x, scene.sky_zenith.x);
  EXPECT_DOUBLE_EQ(color.y, scene.sky_zenith.y);
  EXPECT_DOUBLE_EQ(color.z, scene.sky_zenith.z);
}

TEST(Render, NearestSurfaceIsHit) {
  const Scene scene = shadow_scene();
  const auto hit = intersect(scene, {{0, 5, 0}, {0, -1, 0}});
  ASSERT_TRUE(hit.has_value());
  EXPECT_DOUBLE_EQ(hit->distance, 2.5);  // the top of the sphere
  EXPECT_DOUBLE_EQ(hit->normal.y, 1);
}

TEST(Render, FloorUnderTheSphereIsInShadow) {
  const Scene scene = shadow_scene();
  const Vec3 eye{3, 1, 0};
  const Vec3 shadowed = trace(scene, ray_to(eye, {0, 0, 0}));
  const Vec3 lit = trace(scene, ray_to(eye, {2, 0, 0}));
  // In shadow only the ambient light is left.
  EXPECT_NEAR(shadowed.x, scene.ambient.x * 0.8, 1e-12);
  EXPECT_GT(lit.x, 4 * shadowed.x);
}

TEST(Render, DemoSceneCornerIsSky) {
  const Scene scene = demo_scene(64, 48);
  EXPECT_FALSE(intersect(scene, camera_ray(scene, 0.5, 0.5)).has_value());
  const std::vector<std::uint8_t> row = render_row(scene, 0);
  ASSERT_EQ(row.size(), 64U * 3);
  // Blue sky: more blue than red, and bright.
  EXPECT_GT(row[2], row[0]);
  EXPECT_GT(row[2], 200);
}

TEST(Render, RowsDoNotDependOnWhatWasRenderedBefore) {
  const Scene scene = demo_scene(40, 30);
  const std::vector<std::uint8_t> first = render_row(scene, 20);
  for (int y = 0; y < 30; ++y) {
    (void)render_row(scene, y);
  }
  EXPECT_EQ(render_row(scene, 20), first);
}

TEST(Render, BytesAreGammaCorrectedAndClamped) {
  EXPECT_EQ(to_byte(-1), 0);
  EXPECT_EQ(to_byte(0), 0);
  EXPECT_EQ(to_byte(1), 255);
  EXPECT_EQ(to_byte(7), 255);
  EXPECT_EQ(to_byte(0.5), 186);  // 255 * 0.5^(1/2.2) = 186.1
}

TEST(Image, SetRowChecksItsArguments) {
  Image image(4, 2);
  const std::vector<std::uint8_t> row(12, 7);
  image.set_row(1, row);
  EXPECT_EQ(image.bytes()[12], 7);
  EXPECT_EQ(image.bytes()[11], 0);
  EXPECT_THROW(image.set_row(2, row), std::out_of_range);
  EXPECT_THROW(image.set_row(0, std::vector<std::uint8_t>(9)),
               std::out_of_range);
}

}  // namespace
}  // namespace raytracer
