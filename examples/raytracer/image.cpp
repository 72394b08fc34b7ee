// SPDX-License-Identifier: MIT

#include "image.hpp"

#include <algorithm>  // std::ranges::copy
#include <stdexcept>  // std::out_of_range, std::runtime_error
#include <string>     // std::string, std::to_string

// Debian's libstb-dev: the header under /usr/include/stb (pkg-config stb),
// the implementation in libstb.
#include <stb_image_write.h>  // stbi_write_png

namespace raytracer {

namespace {

std::size_t row_size(int width) {
  return static_cast<std::size_t>(width) * 3;
}

}  // namespace

Image::Image(int width, int height)
    : width_(width),
      height_(height),
      bytes_(row_size(width) * static_cast<std::size_t>(height)) {}

void Image::set_row(int y, std::span<const std::uint8_t> row) {
  if (y < 0 || y >= height_) {
    throw std::out_of_range("Image::set_row: no row " + std::to_string(y) +
                            " in a picture of " + std::to_string(height_));
  }
  if (row.size() != row_size(width_)) {
    throw std::out_of_range("Image::set_row: row " + std::to_string(y) +
                            " has " + std::to_string(row.size()) +
                            " bytes, not " + std::to_string(row_size(width_)));
  }
  std::ranges::copy(row, bytes_.begin() + static_cast<std::ptrdiff_t>(
                                              row_size(width_) *
                                              static_cast<std::size_t>(y)));
}

void write_png(const std::filesystem::path& path, const Image& image) {
  const int stride = image.width() * 3;
  if (stbi_write_png(path.c_str(), image.width(), image.height(), 3,
                     image.bytes().data(), stride) == 0) {
    throw std::runtime_error("cannot write the PNG " + path.string());
  }
}

}  // namespace raytracer
