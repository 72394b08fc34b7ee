// SPDX-License-Identifier: MIT
//
// raytrace_sequential.cpp made parallel with pprocess::pmap: the loop over
// the rows becomes one call that renders them in created processes, at most
// 'limit' at a time, and gives back a pprocess::Map holding the rows in
// order. pmap sends each process the rows in batches whose size it adapts
// as the results come in, so cheap rows of sky and dear rows full of
// reflections even out between the processes.

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t
#include <numeric>  // std::iota
#include <vector>   // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::pmap, pprocess::Options

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
  const raytracer::Arguments args =
      raytracer::parse_arguments(argc, argv, {.progress = true});
  scene = raytracer::demo_scene(args.width, args.height);

  const examples::Stopwatch t;

  // The work: one element per row.
  std::vector<int> rows(static_cast<std::size_t>(args.height));
  std::iota(rows.begin(), rows.end(), 0);

  pprocess::Options options{.limit = args.limit};
  options.progress = args.progress;  // a progress bar on stderr
  pprocess::Map<std::vector<std::uint8_t>> results =
      pprocess::pmap(render, rows, options);

  // Assemble the picture; reading a row waits for it.
  raytracer::Image image(args.width, args.height);
  for (int y = 0; y < args.height; ++y) {
    image.set_row(y, results[static_cast<std::size_t>(y)]);
  }

  raytracer::finish(args, t, image);
}
