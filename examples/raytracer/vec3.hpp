// SPDX-License-Identifier: MIT
//
// Vec3: the three doubles the ray tracer computes with (points, directions
// and colours alike). Part of the ray tracer example; knows nothing of
// pprocess.

#pragma once

#include <cmath>  // std::sqrt

namespace raytracer {

struct Vec3 {
  double x = 0;
  double y = 0;
  double z = 0;
};

inline Vec3 operator+(Vec3 a, Vec3 b) {
  return {a.x + b.x, a.y + b.y, a.z + b.z};
}
inline Vec3 operator-(Vec3 a, Vec3 b) {
  return {a.x - b.x, a.y - b.y, a.z - b.z};
}
inline Vec3 operator-(Vec3 a) {
  return {-a.x, -a.y, -a.z};
}
inline Vec3 operator*(Vec3 a, double s) {
  return {a.x * s, a.y * s, a.z * s};
}
inline Vec3 operator*(double s, Vec3 a) {
  return a * s;
}
/// Component by component: a colour filtered by another.
inline Vec3 operator*(Vec3 a, Vec3 b) {
  return {a.x * b.x, a.y * b.y, a.z * b.z};
}
inline Vec3& operator+=(Vec3& a, Vec3 b) {
  return a = a + b;
}

inline double dot(Vec3 a, Vec3 b) {
  return a.x * b.x + a.y * b.y + a.z * b.z;
}
inline Vec3 cross(Vec3 a, Vec3 b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline double length(Vec3 a) {
  return std::sqrt(dot(a, a));
}
inline Vec3 normalized(Vec3 a) {
  return a * (1.0 / length(a));
}

/// `direction` mirrored about the surface whose normal is `normal`.
inline Vec3 reflect(Vec3 direction, Vec3 normal) {
  return direction - normal * (2 * dot(direction, normal));
}

}  // namespace raytracer
