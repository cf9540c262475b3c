// eddy generate: a deterministic synthetic shop (schema/generator.hpp) written
// as canonical events (msgpack, csv, jsonl) or in a legacy feed's shape
// (retailrocket, taobao, pixel), plus the injected surges as ground truth.
#include "cli/commands.hpp"
#include "cli/paths.hpp"
#include "cli/progress.hpp"

#include "schema/generator.hpp"
#include "schema/interactions.hpp"
#include "schema/writers.hpp"

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

namespace eddy::cli {

namespace {

struct generate_options {
  generator_config cfg;
  std::string output;
  std::string format;
  std::string truth;
  std::string interactions;
};

/// Counts events by type on their way to the real sink (for the summary).
class counting_sink final : public event_sink {
 public:
  explicit counting_sink(event_sink& inner) : inner_(inner) {}

  void on_event(const event_view& ev) override {
    ++by_type_[ev.type];
    ++total_;
    inner_.on_event(ev);
  }
  bool finish(std::string* why) override { return inner_.finish(why); }

  std::uint64_t total() const { return total_; }
  std::uint64_t count(type_id id) const { return by_type_[id]; }

 private:
  event_sink& inner_;
  std::array<std::uint64_t, 256> by_type_{};
  std::uint64_t total_ = 0;
};

int run_generate(const generate_options& o) {
  auto fail = [](const std::string& msg, int code) {
    std::fprintf(stderr, "eddy generate: %s\n", msg.c_str());
    return code;
  };
  if (auto st = validate(o.cfg); !st) return fail(st.message(), 2);

  // The format: a canonical one or a legacy shape; else from the extension.
  std::optional<output_format> canonical;
  std::optional<source_shape> shape;
  if (!o.format.empty()) {
    canonical = parse_output_format(o.format);
    shape = parse_source_shape(o.format);
    if (!canonical && !shape)
      return fail(
          "--format must be msgpack, csv, jsonl, retailrocket, taobao or "
          "pixel (got '" +
              o.format + "')",
          2);
  } else {
    canonical =
        output_format_of_path(o.output).value_or(output_format::msgpack);
  }

  auto reg = interaction_registry::load(resolve_interactions(o.interactions));
  if (!reg) return fail(reg.err().message, 2);
  if (auto st = validate(o.cfg, *reg); !st) return fail(st.message(), 2);

  std::string truth = o.truth;
  if (truth.empty() && o.output != "-") truth = o.output + ".surges.csv";

  expected<std::unique_ptr<event_sink>> sink = error{""};
  if (shape) {
    sink = open_shape_writer(*shape, o.output, *reg);
  } else {
    writer_options wo;
    wo.format = *canonical;
    wo.producer = "eddy-generate";
    sink = open_writer(o.output, wo, *reg);
  }
  if (!sink) return fail(sink.err().message, 1);

  counting_sink counted{**sink};
  auto t0 = std::chrono::steady_clock::now();
  auto surges = try_generate(o.cfg, *reg, counted);
  if (!surges) // validated above; kept so a future check cannot crash the CLI
    return fail(surges.err().message, 2);
  std::string why;
  if (!counted.finish(&why)) return fail(why, 1);
  if (!truth.empty())
    if (auto st = write_surges_csv(*surges, truth); !st)
      return fail(st.message(), 1);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();

  std::string by_type;
  for (const auto& t : reg->types())
    if (auto n = counted.count(t.id)) {
      by_type += by_type.empty() ? "" : ", ";
      by_type += t.name + " " + std::to_string(n);
    }
  std::string format_name =
      shape ? std::string{to_string(*shape)}
            : (*canonical == output_format::msgpack ? "msgpack"
               : *canonical == output_format::csv   ? "csv"
                                                    : "jsonl");
  std::fprintf(
      stderr,
      "eddy generate: %llu events (%s), %zu surges, %.2f s (%s events/s) "
      "-> %s [%s]%s%s\n",
      static_cast<unsigned long long>(counted.total()),
      by_type.empty() ? "none" : by_type.c_str(), surges->size(), seconds,
      human_count(
          static_cast<std::uint64_t>(
              seconds > 0 ? static_cast<double>(counted.total()) / seconds : 0))
          .c_str(),
      o.output.c_str(), format_name.c_str(), truth.empty() ? "" : ", truth -> ",
      truth.c_str());
  return 0;
}

} // namespace

void add_generate(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<generate_options>();
  auto& c = o->cfg;
  auto* cmd = app.add_subcommand(
      "generate",
      "Generate a synthetic shop's events: Zipf item popularity, a daily "
      "traffic "
      "cycle, view -> cart -> purchase sessions and injected surges (trending "
      "ground truth). Deterministic: the same options give the same bytes on "
      "every "
      "machine. Users are ids 1000.., items 100000.. (see "
      "schema/generator.cpp).");
  cmd->add_option("-o,--output", o->output,
                  "Output file ('-' = standard output)")
      ->required();
  cmd->add_option(
      "--format,-f", o->format,
      "msgpack (eddy event stream), csv or jsonl (canonical events), "
      "or a legacy feed's shape: retailrocket (events.csv), taobao "
      "(UserBehavior.csv), pixel (JSON Lines web pixel). Default: from "
      "the output's extension (.msgpack, .csv, .jsonl), else msgpack");
  cmd->add_option(
      "--truth", o->truth,
      "Where the injected surges go (CSV: item,start_ms,end_ms,factor). "
      "Default: OUTPUT.surges.csv (none when OUTPUT is '-')");
  cmd->add_option("--interactions", o->interactions,
                  "Interaction registry; must define view, cart and purchase. "
                  "Default: configs/interactions.toml");
  cmd->add_option("--seed", c.seed, "Random seed: same seed, same events")
      ->capture_default_str();
  cmd->add_option("--users", c.users,
                  "Number of visitors (ids 1000 ..); activity is mildly skewed")
      ->capture_default_str();
  cmd->add_option("--items", c.items, "Number of items (ids 100000 ..)")
      ->capture_default_str();
  cmd->add_option(
         "--zipf", c.zipf_s,
         "Zipf exponent of item popularity (0 = uniform, 1 = classic long "
         "tail, larger = more concentrated)")
      ->capture_default_str();
  cmd->add_option(
         "--start", c.start_ms,
         "Start of the simulated span, ms since the Unix epoch (default "
         "2023-11-14T22:13:20Z)")
      ->capture_default_str();
  cmd->add_option("--hours", c.hours, "Length of the simulated span, hours")
      ->capture_default_str();
  cmd->add_option("--sessions-per-minute", c.sessions_per_minute,
                  "Mean sessions started per minute, averaged over a day")
      ->capture_default_str();
  cmd->add_option(
         "--daily-amplitude", c.daily_amplitude,
         "Daily traffic cycle: rate x (1 + A sin(2 pi (hour_utc - 14) / "
         "24)), peak 20:00 UTC, low 08:00; 0 = flat, 1 = zero at the low")
      ->capture_default_str();
  cmd->add_option("--views-per-session", c.views_per_session,
                  "Mean item views per session (at least 1)")
      ->capture_default_str();
  cmd->add_option("--p-cart", c.p_cart,
                  "Probability that a viewed item is carted")
      ->capture_default_str();
  cmd->add_option("--p-purchase", c.p_purchase,
                  "Probability that a carted item is bought (quantity 1-3)")
      ->capture_default_str();
  cmd->add_option(
         "--surges", c.surges,
         "Number of injected surges, on distinct mid-popularity items "
         "(never the top 1%), starting after the first 10% of the span")
      ->capture_default_str();
  cmd->add_option(
         "--surge-factor", c.surge_factor,
         "During a surge the item's views per minute are this many times "
         "its normal rate")
      ->capture_default_str();
  cmd->add_option("--surge-minutes", c.surge_minutes,
                  "Length of each surge, minutes")
      ->capture_default_str();
  cmd->add_option(
         "--events", c.max_events,
         "Stop after exactly this many events (0 = no cap); the output is "
         "then a prefix of the uncapped run")
      ->capture_default_str();
  cmd->footer(
      "Exit status: 0 = done, 1 = the output or truth file could not be "
      "written, 2 = bad options or registry.");
  cmd->callback([o, &exit_code] { exit_code = run_generate(*o); });
}

} // namespace eddy::cli
