// SPDX-License-Identifier: MIT
//
// The ray tracer, one row after another in this process: the reference the
// parallel programs (raytrace_pmap, raytrace_queue, raytrace_reuse) are
// timed against and must match byte for byte.

#include "cli.hpp"     // raytracer::parse_arguments, finish
#include "image.hpp"   // raytracer::Image
#include "render.hpp"  // raytracer::render_row
#include "scene.hpp"   // raytracer::demo_scene

int main(int argc, char* argv[]) {
  const raytracer::Arguments args =
      raytracer::parse_arguments(argc, argv, {.limit = false});
  const raytracer::Scene scene = raytracer::demo_scene(args.width, args.height);

  const examples::Stopwatch t;

  raytracer::Image image(args.width, args.height);
  for (int y = 0; y < args.height; ++y) {
    image.set_row(y, raytracer::render_row(scene, y));
  }

  raytracer::finish(args, t, image);
}
