// eddy: the command-line entry point.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
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
