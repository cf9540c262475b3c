// eddy: the command-line entry point.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

#include <malloc.h>

int main(int argc, char** argv) {
  // Large buffers (ALS factor blocks, similar-items tables: megabytes per
  // message) come from the heap and stay there once freed, instead of fresh
  // mmap()s: on these virtual machines every first touch of a page costs
  // ~25 us, so a fresh 12 MB buffer costs ~75 ms to fill against ~1 ms for a
  // reused one (measured). The price: a process keeps its peak heap.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  CLI::App app{
    "eddy: trending items, popular items and \"You May Also Like\" from a shop's "
    "interaction data.\n"
    "Run `eddy COMMAND --help` for the options of a command."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "eddy 0.1.0");
  int exit_code = 0;
  eddy::cli::add_normalize(app, exit_code);
  eddy::cli::add_generate(app, exit_code);
  eddy::cli::add_node(app, exit_code);
  eddy::cli::add_ingest(app, exit_code);
  eddy::cli::add_produce(app, exit_code);
  eddy::cli::add_count(app, exit_code);
  eddy::cli::add_status(app, exit_code);
  eddy::cli::add_trending(app, exit_code);
  eddy::cli::add_popular(app, exit_code);
  eddy::cli::add_series(app, exit_code);
  eddy::cli::add_score_trending(app, exit_code);
  eddy::cli::add_eval(app, exit_code);
  eddy::cli::add_train(app, exit_code);
  eddy::cli::add_recommend(app, exit_code);
  eddy::cli::add_similar(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
