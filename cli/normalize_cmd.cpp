// eddy normalize: source files -> canonical events (+ dead letters + a summary).
#include "cli/commands.hpp"
#include "cli/paths.hpp"
#include "cli/progress.hpp"

#include "schema/byte_source.hpp"
#include "schema/dead_letter.hpp"
#include "schema/interactions.hpp"
#include "schema/mapping.hpp"
#include "schema/normalizer.hpp"
#include "schema/writers.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

namespace eddy::cli {

namespace {

struct normalize_options {
  std::string schema;
  std::vector<std::string> inputs;
  std::string output;
  std::string format;
  std::string dead_letter;
  std::string interactions;
  std::string summary = "text";
  std::string progress = "auto";
  std::string producer = "eddy-normalize";
};

struct input_result {
  std::string path;
  normalize_stats stats;
  std::string error;
};

void print_text_summary(std::FILE* out, const normalize_stats& s,
                        const std::vector<input_result>& inputs, double seconds,
                        const normalize_options& o) {
  double mb = static_cast<double>(s.bytes) / 1e6;
  std::fprintf(out,
               "eddy normalize: %zu input(s), %s records -> %s events in %.2f s "
               "(%s events/s, %.1f MB/s)\n",
               inputs.size(), human_count(s.records).c_str(),
               human_count(s.events).c_str(), seconds,
               human_count(static_cast<std::uint64_t>(
                 seconds > 0 ? static_cast<double>(s.events) / seconds : 0))
                 .c_str(),
               seconds > 0 ? mb / seconds : 0.0);
  std::fprintf(out, "  output: %s\n", o.output.c_str());
  if (s.filtered || s.skipped_lines)
    std::fprintf(out, "  filtered by the mapping: %llu, blank/comment lines: %llu\n",
                 static_cast<unsigned long long>(s.filtered),
                 static_cast<unsigned long long>(s.skipped_lines));
  std::fprintf(out, "  rejects: %llu", static_cast<unsigned long long>(s.rejected()));
  if (s.rejected() > 0) {
    std::fprintf(out, " -> %s\n", o.dead_letter.c_str());
    for (std::size_t i = 0; i < reject_reason_count; ++i)
      if (s.rejects[i] > 0)
        std::fprintf(out, "    %-18s %llu\n",
                     std::string{reason_name(static_cast<reject_reason>(i))}.c_str(),
                     static_cast<unsigned long long>(s.rejects[i]));
  } else {
    std::fprintf(out, "\n");
  }
  for (auto& in : inputs)
    if (!in.error.empty())
      std::fprintf(out, "  FAILED %s: %s\n", in.path.c_str(), in.error.c_str());
}

std::string json_summary(const normalize_stats& s,
                         const std::vector<input_result>& inputs, double seconds,
                         const normalize_options& o) {
  std::string j = "{\"events\":" + std::to_string(s.events) +
                  ",\"records\":" + std::to_string(s.records) +
                  ",\"filtered\":" + std::to_string(s.filtered) +
                  ",\"skipped_lines\":" + std::to_string(s.skipped_lines) +
                  ",\"rejects\":" + std::to_string(s.rejected()) +
                  ",\"rejects_by_reason\":{";
  for (std::size_t i = 0; i < reject_reason_count; ++i) {
    j += i ? "," : "";
    j += "\"" + std::string{reason_name(static_cast<reject_reason>(i))} +
         "\":" + std::to_string(s.rejects[i]);
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.6f", seconds);
  j += "},\"bytes\":" + std::to_string(s.bytes) + ",\"seconds\":" + secs +
       ",\"output\":";
  append_json_string(j, o.output);
  j += ",\"dead_letter\":";
  append_json_string(j, o.dead_letter);
  j += ",\"inputs\":[";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto& in = inputs[i];
    j += i ? ",{\"path\":" : "{\"path\":";
    append_json_string(j, in.path);
    j += ",\"events\":" + std::to_string(in.stats.events) +
         ",\"rejects\":" + std::to_string(in.stats.rejected()) +
         ",\"ok\":" + (in.error.empty() ? "true" : "false");
    if (!in.error.empty()) {
      j += ",\"error\":";
      append_json_string(j, in.error);
    }
    j += "}";
  }
  j += "]}";
  return j;
}

int run_normalize(normalize_options o) {
  auto fail = [](const std::string& msg, int code) {
    std::fprintf(stderr, "eddy normalize: %s\n", msg.c_str());
    return code;
  };
  if (o.summary != "text" && o.summary != "json")
    return fail("--summary must be 'text' or 'json'", 2);
  auto reg = interaction_registry::load(resolve_interactions(o.interactions));
  if (!reg)
    return fail(reg.err().message, 2);
  auto mapping = load_mapping(resolve_mapping(o.schema));
  if (!mapping)
    return fail(mapping.err().message, 2);
  auto norm = normalizer::make(*mapping, *reg);
  if (!norm)
    return fail(norm.err().message, 2);

  writer_options wo;
  wo.producer = o.producer;
  if (!o.format.empty()) {
    auto f = parse_output_format(o.format);
    if (!f)
      return fail("--format must be msgpack, csv or jsonl (got '" + o.format + "')",
                  2);
    wo.format = *f;
  } else if (auto f = output_format_of_path(o.output)) {
    wo.format = *f;
  }
  if (o.dead_letter.empty())
    o.dead_letter = (o.output == "-" ? std::string{"eddy-normalize"} : o.output) +
                    ".rejects.jsonl";
  auto sink = open_writer(o.output, wo, *reg);
  if (!sink)
    return fail(sink.err().message, 1);
  auto dl = dead_letter_writer::open(o.dead_letter);
  if (!dl)
    return fail(dl.err().message, 1);

  progress_line bar{o.progress};
  std::vector<input_result> results;
  normalize_stats total;
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < o.inputs.size(); ++i) {
    input_result r{o.inputs[i], {}, {}};
    auto src = open_byte_source(r.path);
    if (!src) {
      r.error = src.err().message;
    } else {
      auto file_total = (*src)->total();
      auto label = "[" + std::to_string(i + 1) + "/" +
                   std::to_string(o.inputs.size()) + "] " + r.path;
      auto before = total;
      auto st = norm->run(**src, **sink, **dl, total, [&](const normalize_stats& s) {
        bar.update(label, s.bytes - before.bytes, file_total, s.records,
                   s.rejected());
      });
      if (!st)
        r.error = st.message();
      r.stats = total;
      // Per-input figures are the difference of the running totals.
      r.stats.events -= before.events;
      r.stats.records -= before.records;
      for (std::size_t k = 0; k < reject_reason_count; ++k)
        r.stats.rejects[k] -= before.rejects[k];
    }
    results.push_back(std::move(r));
  }
  bar.clear();
  std::string why;
  bool wrote = (*sink)->finish(&why);
  std::string dl_why;
  bool dl_ok = (*dl)->close(&dl_why);
  double seconds =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  bool any_failed = false;
  for (auto& r : results)
    any_failed = any_failed || !r.error.empty();
  if (o.summary == "json") {
    auto j = json_summary(total, results, seconds, o);
    std::fprintf(o.output == "-" ? stderr : stdout, "%s\n", j.c_str());
  } else {
    print_text_summary(stderr, total, results, seconds, o);
  }
  if (!wrote)
    return fail(why, 1);
  if (!dl_ok)
    return fail(dl_why, 1);
  return any_failed ? 1 : 0;
}

} // namespace

void add_normalize(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<normalize_options>();
  auto* cmd = app.add_subcommand(
    "normalize",
    "Normalize legacy files (CSV, JSON Lines, JSON arrays; plain or gzip) into "
    "eddy events through a source mapping.\n"
    "Every record becomes an event, is filtered by the mapping, or is written to "
    "the dead-letter file with its reason. A summary ends the run.");
  cmd->add_option("--schema,-s", o->schema,
                  "Source mapping: a .toml path or the name of a file in "
                  "configs/schemas/ (e.g. movielens-ratings, retailrocket-events, "
                  "taobao-userbehavior, pixel-jsonl)")
    ->required();
  cmd->add_option("inputs", o->inputs,
                  "Input files ('-' = standard input); gzip is detected and "
                  "decompressed on the fly")
    ->required();
  cmd->add_option("-o,--output", o->output,
                  "Output file ('-' = standard output)")
    ->required();
  cmd->add_option("--format,-f", o->format,
                  "Output format: msgpack (eddy event stream, schema/WIRE.md), "
                  "csv or jsonl. Default: from the output's extension, else "
                  "msgpack");
  cmd->add_option("--dead-letter", o->dead_letter,
                  "Where rejected records go, one JSON object per line. "
                  "Default: OUTPUT.rejects.jsonl");
  cmd->add_option("--interactions", o->interactions,
                  "Interaction registry. Default: configs/interactions.toml");
  cmd->add_option("--summary", o->summary,
                  "Final summary: 'text' (stderr) or 'json' (one object on "
                  "stdout, for pipelines)")
    ->capture_default_str();
  cmd->add_option("--progress", o->progress,
                  "Progress line: auto (only on a terminal), always, never")
    ->capture_default_str();
  cmd->add_option("--producer", o->producer,
                  "Producer id written into msgpack batch frames")
    ->capture_default_str();
  cmd->footer("Exit status: 0 = done (rejects do not fail the run), 1 = an input "
              "or output could not be read/written, 2 = bad options, mapping or "
              "registry.");
  cmd->callback([o, &exit_code] { exit_code = run_normalize(*o); });
}

} // namespace eddy::cli
