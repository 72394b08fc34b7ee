// SPDX-License-Identifier: MIT
//
// Image: the rendered picture, row by row, and writing it as a PNG (with
// stb_image_write). Part of the ray tracer example; knows nothing of
// pprocess.

#pragma once

#include <cstddef>     // std::size_t
#include <cstdint>     // std::uint8_t
#include <filesystem>  // std::filesystem::path
#include <span>        // std::span
#include <vector>      // std::vector

namespace raytracer {

/// A width x height picture, 3 bytes (R, G, B) a pixel, rows top to bottom.
class Image {
 public:
  Image(int width, int height);

  [[nodiscard]] int width() const noexcept { return width_; }
  [[nodiscard]] int height() const noexcept { return height_; }
  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const noexcept {
    return bytes_;
  }

  /// Puts `row` (as render_row makes it) at row `y`. Throws
  /// std::out_of_range if `y` is not a row or `row` has the wrong size.
  void set_row(int y, std::span<const std::uint8_t> row);

 private:
  int width_;
  int height_;
  std::vector<std::uint8_t> bytes_;
};

/// Writes `image` to `path` as a PNG. Throws std::runtime_error if it
/// cannot. The bytes written depend on the pixels alone.
void write_png(const std::filesystem::path& path, const Image& image);

}  // namespace raytracer
