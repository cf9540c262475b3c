#pragma once
// Subcommands of the `eddy` tool. Each adds itself to the app and runs from its
// callback, which stores its exit status in `exit_code`; failures print a message
// that says what to fix and set a non-zero status.

namespace CLI {
class App;
}

namespace eddy::cli {

void add_normalize(CLI::App& app, int& exit_code);
void add_generate(CLI::App& app, int& exit_code);
void add_node(CLI::App& app, int& exit_code);
void add_ingest(CLI::App& app, int& exit_code);
void add_produce(CLI::App& app, int& exit_code);
void add_count(CLI::App& app, int& exit_code);
void add_status(CLI::App& app, int& exit_code);
void add_trending(CLI::App& app, int& exit_code);
void add_popular(CLI::App& app, int& exit_code);
void add_series(CLI::App& app, int& exit_code);
void add_score_trending(CLI::App& app, int& exit_code);
void add_eval(CLI::App& app, int& exit_code);
void add_train(CLI::App& app, int& exit_code);
void add_recommend(CLI::App& app, int& exit_code);
void add_similar(CLI::App& app, int& exit_code);

} // namespace eddy::cli
