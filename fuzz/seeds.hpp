// SPDX-License-Identifier: MIT
#pragma once

#include <cereal/cereal.hpp>

namespace fuzz {

/// A user type with a cereal serialize function, as users send them.
struct grid_cell {
  int i = 0;
  int j = 0;
  double value = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(i, j, value);
  }
};

}  // namespace fuzz
