// SPDX-License-Identifier: MIT
//
// raytrace_sequential.cpp made parallel with a pprocess::Queue: each row is
// a call of a managed function, run in a created process of its own; the
// rows come back in the order they are finished, each with its index, which
// says where it goes in the picture.

#include <cstdint>  // std::uint8_t
#include <utility>  // std::pair
#include <vector>   // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Queue, MakeParallel

#include "cli.hpp"     // raytracer::parse_arguments, finish
#include "image.hpp"   // raytracer::Image
#include "render.hpp"  // raytracer::render_row
#include "scene.hpp"   // raytracer::demo_scene

namespace {

// The scene, built at the start of main(), before any process is created:
// each created process is a copy of this one (copy-on-write), so
// 'render' sees it there without its being sent.
raytracer::Scene scene;

// Row 'y', returned with its index.
std::pair<int, std::vector<std::uint8_t>> render(int y) {
  return {y, raytracer::render_row(scene, y)};
}

}  // namespace

int main(int argc, char* argv[]) {
  const raytracer::Arguments args = raytracer::parse_arguments(argc, argv, {});
  scene = raytracer::demo_scene(args.width, args.height);

  const examples::Stopwatch t;

  // A queue with a limit on the number of processes at once, and the
  // function wrapped and managed by it.
  pprocess::Queue<std::pair<int, std::vector<std::uint8_t>>> queue(
      {.limit = args.limit});
  auto calc = queue.manage(pprocess::MakeParallel(render));

  // Start every row (the calls over the limit wait for a process).
  for (int y = 0; y < args.height; ++y) {
    calc(y);
  }

  // Place the rows as they arrive.
  raytracer::Image image(args.width, args.height);
  for (const auto& [y, row] : queue) {
    image.set_row(y, row);
  }

  raytracer::finish(args, t, image);
}
