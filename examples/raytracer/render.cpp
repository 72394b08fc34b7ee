// SPDX-License-Identifier: MIT

#include "render.hpp"

#include <algorithm>  // std::clamp, std::max
#include <cmath>  // std::abs, std::exp, std::floor, std::pow, std::sqrt, std::tan
#include <cstddef>  // std::size_t

namespace raytracer {

namespace {

// Rays start this far off the surface they leave, so that they do not meet
// it again through rounding.
constexpr double epsilon = 1e-6;

std::optional<double> hit_distance(const Sphere& sphere, const Ray& ray) {
  const Vec3 oc = ray.origin - sphere.center;
  const double b = dot(oc, ray.direction);
  const double c = dot(oc, oc) - sphere.radius * sphere.radius;
  const double discriminant = b * b - c;
  if (discriminant < 0) {
    return std::nullopt;
  }
  const double root = std::sqrt(discriminant);
  if (const double near = -b - root; near > epsilon) {
    return near;
  }
  if (const double far = -b + root; far > epsilon) {
    return far;  // the ray starts inside the sphere
  }
  return std::nullopt;
}

std::optional<double> hit_distance(const Plane& plane, const Ray& ray) {
  const double facing = dot(plane.normal, ray.direction);
  if (std::abs(facing) < 1e-12) {
    return std::nullopt;  // parallel to the plane
  }
  const double distance = dot(plane.point - ray.origin, plane.normal) / facing;
  if (distance > epsilon) {
    return distance;
  }
  return std::nullopt;
}

// True when something lies on `ray` closer than `distance`.
bool blocked(const Scene& scene, const Ray& ray, double distance) {
  for (const Sphere& sphere : scene.spheres) {
    if (const auto d = hit_distance(sphere, ray); d && *d < distance) {
      return true;
    }
  }
  for (const Plane& plane : scene.planes) {
    if (const auto d = hit_distance(plane, ray); d && *d < distance) {
      return true;
    }
  }
  return false;
}

// The surface's own colour at `point`: checkered planes alternate squares
// in x and z (they are floors).
Vec3 surface_color(const Material& material, Vec3 point) {
  if (!material.checkered) {
    return material.color;
  }
  const auto i = static_cast<long long>(std::floor(point.x / material.square));
  const auto k = static_cast<long long>(std::floor(point.z / material.square));
  return (i + k) % 2 == 0 ? material.color : material.color2;
}

Vec3 sky(const Scene& scene, Vec3 direction) {
  const double up = std::max(0.0, direction.y);
  return scene.sky_horizon * (1 - up) + scene.sky_zenith * up;
}

}  // namespace

std::optional<Hit> intersect(const Scene& scene, const Ray& ray) {
  std::optional<Hit> nearest;
  for (const Sphere& sphere : scene.spheres) {
    const auto distance = hit_distance(sphere, ray);
    if (distance && (!nearest || *distance < nearest->distance)) {
      const Vec3 point = ray.origin + ray.direction * *distance;
      nearest =
          Hit{*distance, point, (point - sphere.center) * (1 / sphere.radius),
              &sphere.material};
    }
  }
  for (const Plane& plane : scene.planes) {
    const auto distance = hit_distance(plane, ray);
    if (distance && (!nearest || *distance < nearest->distance)) {
      nearest = Hit{*distance, ray.origin + ray.direction * *distance,
                    plane.normal, &plane.material};
    }
  }
  if (nearest && dot(nearest->normal, ray.direction) > 0) {
    nearest->normal = -nearest->normal;
  }
  return nearest;
}

Vec3 trace(const Scene& scene, const Ray& ray, int depth) {
  const std::optional<Hit> hit = intersect(scene, ray);
  if (!hit) {
    return sky(scene, ray.direction);
  }
  const Material& material = *hit->material;
  const Vec3 base = surface_color(material, hit->point);
  const Vec3 origin = hit->point + hit->normal * epsilon;

  Vec3 color = scene.ambient * base;
  for (const Light& light : scene.lights) {
    const Vec3 to_light = light.position - hit->point;
    const double distance = length(to_light);
    const Vec3 direction = to_light * (1 / distance);
    const double lambert = dot(hit->normal, direction);
    if (lambert <= 0 || blocked(scene, {origin, direction}, distance)) {
      continue;  // facing away, or in shadow
    }
    color += light.color * base * (material.diffuse * lambert);
    const double highlight =
        dot(reflect(-direction, hit->normal), -ray.direction);
    if (highlight > 0) {
      color += light.color *
               (material.specular * std::pow(highlight, material.shininess));
    }
  }

  if (material.reflectivity > 0 && depth < scene.max_depth) {
    const Vec3 mirrored =
        trace(scene, {origin, reflect(ray.direction, hit->normal)}, depth + 1);
    color = color * (1 - material.reflectivity) +
            mirrored * material.color * material.reflectivity;
  }
  if (scene.fog_distance > 0) {
    const double d = hit->distance / scene.fog_distance;
    const double kept = std::exp(-d * d);
    color = color * kept + scene.sky_horizon * (1 - kept);
  }
  return color;
}

Ray camera_ray(const Scene& scene, double px, double py) {
  const Camera& camera = scene.camera;
  const Vec3 forward = normalized(camera.look_at - camera.position);
  const Vec3 right = normalized(cross(forward, camera.up));
  const Vec3 up = cross(right, forward);
  constexpr double pi = 3.14159265358979323846;
  const double half_height = std::tan(camera.fov_degrees * pi / 360);
  const double half_width = half_height * scene.width / scene.height;
  const double u = (2 * px / scene.width - 1) * half_width;
  const double v = (1 - 2 * py / scene.height) * half_height;
  return {camera.position, normalized(forward + right * u + up * v)};
}

Vec3 render_pixel(const Scene& scene, int x, int y) {
  const int n = std::max(1, scene.samples);
  Vec3 sum;
  for (int sy = 0; sy < n; ++sy) {
    for (int sx = 0; sx < n; ++sx) {
      const double px = x + (sx + 0.5) / n;
      const double py = y + (sy + 0.5) / n;
      sum += trace(scene, camera_ray(scene, px, py));
    }
  }
  return sum * (1.0 / (n * n));
}

std::uint8_t to_byte(double component) {
  const double gamma = std::pow(std::clamp(component, 0.0, 1.0), 1 / 2.2);
  return static_cast<std::uint8_t>(gamma * 255 + 0.5);
}

std::vector<std::uint8_t> render_row(const Scene& scene, int y) {
  std::vector<std::uint8_t> row;
  row.reserve(static_cast<std::size_t>(scene.width) * 3);
  for (int x = 0; x < scene.width; ++x) {
    const Vec3 color = render_pixel(scene, x, y);
    row.push_back(to_byte(color.x));
    row.push_back(to_byte(color.y));
    row.push_back(to_byte(color.z));
  }
  return row;
}

}  // namespace raytracer
