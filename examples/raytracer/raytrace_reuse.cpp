// SPDX-License-Identifier: MIT
//
// raytrace_sequential.cpp made parallel with reusable processes: a
// pprocess::Map with 'reuse' keeps up to 'limit' processes and sends them
// row after row, instead of creating a process for each row as
// raytrace_queue does. The rows are read back in the order they were
// started.

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t
#include <vector>   // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Map, MakeReusable

#include "cli.hpp"     // raytracer::parse_arguments, finish
#include "image.hpp"   // raytracer::Image
#include "render.hpp"  // raytracer::render_row
#include "scene.hpp"   // raytracer::demo_scene

namespace {

// The scene, built at the start of main(), before any process is created:
// each created process is a copy of this one (copy-on-write), so
// 'render' sees it there without its being sent.
raytracer::Scene scene;

std::vector<std::uint8_t> render(int y) {
  return raytracer::render_row(scene, y);
}

}  // namespace

int main(int argc, char* argv[]) {
  const raytracer::Arguments args = raytracer::parse_arguments(argc, argv, {});
  scene = raytracer::demo_scene(args.width, args.height);

  const examples::Stopwatch t;

  // A map with a limit on the number of processes at once, which keeps them
  // for further rows; the function wrapped and managed by it.
  pprocess::Map<std::vector<std::uint8_t>> results(
      {.limit = args.limit, .reuse = true});
  auto calc = results.manage(pprocess::MakeReusable(render));

  // Start every row.
  for (int y = 0; y < args.height; ++y) {
    calc(y);
  }

  // Assemble the picture; reading a row waits for it.
  raytracer::Image image(args.width, args.height);
  for (int y = 0; y < args.height; ++y) {
    image.set_row(y, results[static_cast<std::size_t>(y)]);
  }

  raytracer::finish(args, t, image);
}
