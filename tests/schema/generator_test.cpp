// schema/generator: the synthetic shop's determinism and statistics, the legacy
// shape writers' exact bytes, and validation messages.
// The statistical checks use fixed seeds, so they are exact repeats; their
// tolerances are several standard errors wide so that a correct model passes
// for other seeds too.
#include "schema/generator.hpp"

#include "schema/interactions.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace eddy {
namespace {

constexpr double pi = 3.14159265358979323846;

const interaction_registry& registry() {
  static const interaction_registry reg = [] {
    auto r = interaction_registry::load(std::string(EDDY_SOURCE_DIR) +
                                        "/configs/interactions.toml");
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.err().message);
    return r ? std::move(r).value() : interaction_registry{};
  }();
  return reg;
}

type_id id_of(std::string_view name) {
  return registry().resolve(name).value_or(0);
}

struct collect : event_sink {
  std::vector<event> events;
  void on_event(const event_view& ev) override {
    events.push_back(ev.to_event());
  }
};

struct run_result {
  std::vector<event> events;
  std::vector<surge> surges;
};

run_result run(const generator_config& cfg) {
  collect sink;
  auto surges = generate(cfg, registry(), sink);
  return {std::move(sink.events), std::move(surges)};
}

generator_config small_config() {
  generator_config cfg;
  cfg.hours = 3;
  cfg.sessions_per_minute = 20;
  return cfg;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "eddy_generator_test_" + name;
}

// -- determinism and basic shape ----------------------------------------------

TEST(generator, same_config_same_events) {
  auto a = run(small_config());
  auto b = run(small_config());
  ASSERT_GT(a.events.size(), 1000u);
  EXPECT_EQ(a.events, b.events);
  ASSERT_EQ(a.surges.size(), b.surges.size());
  for (std::size_t i = 0; i < a.surges.size(); ++i) {
    EXPECT_EQ(a.surges[i].item, b.surges[i].item);
    EXPECT_EQ(a.surges[i].start_ms, b.surges[i].start_ms);
  }
}

TEST(generator, different_seed_different_events) {
  auto cfg = small_config();
  auto a = run(cfg);
  cfg.seed = 43;
  auto b = run(cfg);
  EXPECT_NE(a.events, b.events);
}

TEST(generator, events_are_ordered_typed_and_in_range) {
  auto cfg = small_config();
  auto r = run(cfg);
  const std::int64_t end =
      cfg.start_ms + static_cast<std::int64_t>(cfg.hours * 3'600'000);
  const type_id view = id_of("view");
  const type_id cart = id_of("cart");
  const type_id purchase = id_of("purchase");
  std::int64_t last = cfg.start_ms;
  for (const auto& e : r.events) {
    ASSERT_GE(e.ts, last);
    last = e.ts;
    ASSERT_LT(e.ts, end);
    ASSERT_TRUE(e.type == view || e.type == cart || e.type == purchase);
    auto user = std::stoull(e.user);
    auto item = std::stoull(e.item);
    ASSERT_GE(user, 1000u);
    ASSERT_LT(user, 1000u + cfg.users);
    ASSERT_GE(item, 100000u);
    ASSERT_LT(item, 100000u + cfg.items);
    if (e.type == purchase) {
      ASSERT_TRUE(e.value == 1.0f || e.value == 2.0f || e.value == 3.0f);
    } else {
      ASSERT_EQ(e.value, 1.0f);
    }
  }
}

TEST(generator, every_purchase_follows_a_cart_of_the_same_user_and_item) {
  auto r = run(small_config());
  std::map<std::pair<std::string, std::string>, int> carts;
  const type_id cart = id_of("cart");
  const type_id purchase = id_of("purchase");
  for (const auto& e : r.events) {
    const std::pair<std::string, std::string> key{e.user, e.item};
    if (e.type == cart) {
      ++carts[key];
    } else if (e.type == purchase) {
      ASSERT_GT(carts[key], 0) << e.user << " " << e.item;
    }
  }
}

// -- statistics ---------------------------------------------------------------

TEST(generator, item_popularity_is_zipf) {
  generator_config cfg;
  cfg.hours = 24;
  cfg.sessions_per_minute = 100;
  cfg.surges = 0;
  auto r = run(cfg);
  std::map<std::string, double> views;
  double total = 0;
  for (const auto& e : r.events)
    if (e.type == id_of("view")) {
      views[e.item] += 1;
      total += 1;
    }
  std::vector<double> sorted;
  for (auto& [item, n] : views)
    sorted.push_back(n);
  std::sort(sorted.rbegin(), sorted.rend());
  ASSERT_GT(total, 300'000);
  double h = 0;
  for (int k = 1; k <= 1000; ++k)
    h += 1.0 / k;
  // Shares of the top ranks match 1 / (k H) (s = 1).
  for (int k = 0; k < 5; ++k) {
    double p = 1.0 / ((k + 1) * h);
    EXPECT_NEAR(sorted[k] / total, p, 0.05 * p) << "rank " << k;
  }
  // Log-log slope between ranks 10 and 100 is about -s.
  double slope = std::log(sorted[99] / sorted[9]) / std::log(100.0 / 10.0);
  EXPECT_NEAR(slope, -1.0, 0.1);
}

TEST(generator, funnel_ratios_match_probabilities) {
  generator_config cfg;
  cfg.hours = 12;
  cfg.sessions_per_minute = 100;
  cfg.p_cart = 0.2;
  cfg.p_purchase = 0.35;
  cfg.daily_amplitude = 0; // so sessions = spm x minutes exactly on average
  cfg.surges = 0;
  auto r = run(cfg);
  double views = 0, carts = 0, purchases = 0;
  for (const auto& e : r.events) {
    views += e.type == id_of("view");
    carts += e.type == id_of("cart");
    purchases += e.type == id_of("purchase");
  }
  // Checkouts after the span's end are cut, so allow a little more than noise.
  EXPECT_NEAR(carts / views, cfg.p_cart,
              5 * std::sqrt(0.2 * 0.8 / views) + 0.002);
  EXPECT_NEAR(purchases / carts, cfg.p_purchase,
              5 * std::sqrt(0.35 * 0.65 / carts) + 0.005);
  // views / session = views_per_session, sessions ~ Poisson(spm * minutes).
  EXPECT_NEAR(views / (cfg.sessions_per_minute * 12 * 60),
              cfg.views_per_session, 0.03);
}

TEST(generator, daily_cycle_peaks_in_the_evening) {
  generator_config cfg;
  cfg.start_ms = 1'700'006'400'000; // 2023-11-15T00:00:00Z: whole days
  cfg.hours = 48;
  cfg.sessions_per_minute = 30;
  cfg.daily_amplitude = 0.5;
  cfg.surges = 0;
  auto r = run(cfg);
  double evening = 0; // 18:00-22:00 UTC
  double morning = 0; // 03:00-07:00 UTC
  for (const auto& e : r.events) {
    double hour = static_cast<double>(e.ts % 86'400'000) / 3'600'000.0;
    evening += hour >= 18 && hour < 22;
    morning += hour >= 3 && hour < 7;
  }
  // Expected ratio from the documented rate 1 + A sin(2 pi (h - 14) / 24).
  auto mean_rate = [&](double from, double to) {
    double s = 0;
    int n = 0;
    for (double h = from; h < to; h += 1.0 / 60, ++n)
      s += 1 + cfg.daily_amplitude * std::sin(2 * pi * (h - 14) / 24);
    return s / n;
  };
  double expected = mean_rate(18, 22) / mean_rate(3, 7);
  EXPECT_GT(evening, morning);
  EXPECT_NEAR(evening / morning, expected, 0.08 * expected);
}

TEST(generator, surges_multiply_the_item_rate) {
  generator_config cfg;
  cfg.hours = 24;
  cfg.sessions_per_minute = 100;
  cfg.daily_amplitude =
      0; // a flat baseline: inside vs outside compare directly
  cfg.surges = 6;
  cfg.surge_factor = 8;
  cfg.surge_minutes = 60;
  auto r = run(cfg);
  ASSERT_EQ(r.surges.size(), 6u);
  const std::int64_t span = 24 * 3'600'000LL;
  const std::int64_t end = cfg.start_ms + span;

  std::map<std::string, double> views;
  for (const auto& e : r.events)
    if (e.type == id_of("view")) views[e.item] += 1;
  std::vector<std::pair<double, std::string>> by_views;
  for (auto& [item, n] : views)
    by_views.push_back({n, item});
  std::sort(by_views.rbegin(), by_views.rend());

  double in_sum = 0, out_sum = 0;
  for (const auto& s : r.surges) {
    // Start after the first 10% of the span, on a whole minute; full length.
    EXPECT_GE(s.start_ms, cfg.start_ms + span / 10);
    EXPECT_EQ((s.start_ms - cfg.start_ms) % 60'000, 0);
    EXPECT_EQ(s.end_ms - s.start_ms, 60 * 60'000);
    EXPECT_LE(s.end_ms, end);
    EXPECT_EQ(s.factor, 8.0);
    // Not an always-popular item.
    for (int k = 0; k < 5; ++k)
      EXPECT_NE(by_views[k].second, s.item);

    // Views per minute inside the surge vs outside it (sessions spill a
    // little past the end: skip 5 minutes after it).
    double inside = 0, outside = 0;
    for (const auto& e : r.events) {
      if (e.item != s.item || e.type != id_of("view")) continue;
      if (e.ts >= s.start_ms && e.ts < s.end_ms)
        inside += 1;
      else if (e.ts < s.start_ms || e.ts >= s.end_ms + 5 * 60'000)
        outside += 1;
    }
    double in_minutes = (s.end_ms - s.start_ms) / 60'000.0;
    double out_minutes =
        (span - (s.end_ms - s.start_ms) - 5 * 60'000) / 60'000.0;
    double in_rate = inside / in_minutes;
    double out_rate = outside / out_minutes;
    ASSERT_GT(outside, 100) << s.item;
    EXPECT_NEAR(in_rate / out_rate, cfg.surge_factor, 0.3 * cfg.surge_factor)
        << "item " << s.item << " inside " << inside << " outside " << outside;
    in_sum += in_rate;
    out_sum += out_rate;
  }
  EXPECT_NEAR(in_sum / out_sum, cfg.surge_factor, 0.1 * cfg.surge_factor);
}

TEST(generator, surge_items_are_distinct_and_deterministic) {
  generator_config cfg = small_config();
  cfg.surges = 20;
  auto a = run(cfg);
  auto b = run(cfg);
  ASSERT_EQ(a.surges.size(), 20u);
  std::vector<std::string> items;
  for (std::size_t i = 0; i < a.surges.size(); ++i) {
    EXPECT_EQ(a.surges[i].item, b.surges[i].item);
    EXPECT_EQ(a.surges[i].start_ms, b.surges[i].start_ms);
    if (i > 0) {
      EXPECT_LE(a.surges[i - 1].start_ms, a.surges[i].start_ms);
    }
    items.push_back(a.surges[i].item);
  }
  std::sort(items.begin(), items.end());
  EXPECT_EQ(std::unique(items.begin(), items.end()), items.end());
}

TEST(generator, max_events_is_exact_and_a_prefix) {
  auto cfg = small_config();
  auto full = run(cfg);
  cfg.max_events = 12345;
  auto capped = run(cfg);
  ASSERT_EQ(capped.events.size(), 12345u);
  ASSERT_GT(full.events.size(), 12345u);
  EXPECT_TRUE(std::equal(capped.events.begin(), capped.events.end(),
                         full.events.begin()));
  // Surges that start after the cut are not ground truth for the capped data.
  const std::int64_t cut = capped.events.back().ts + 1;
  for (const auto& s : capped.surges) {
    EXPECT_LT(s.start_ms, cut);
    EXPECT_LE(s.end_ms, cut);
  }
  cfg.max_events = 1;
  EXPECT_EQ(run(cfg).events.size(), 1u);
}

// -- validation ---------------------------------------------------------------

TEST(generator, validate_names_the_option) {
  EXPECT_TRUE(validate(generator_config{}));
  struct bad {
    void (*edit)(generator_config&);
    const char* option;
  };
  const bad cases[] = {
      {[](generator_config& c) { c.users = 0; }, "--users"},
      {[](generator_config& c) { c.items = 0; }, "--items"},
      {[](generator_config& c) { c.zipf_s = -1; }, "--zipf"},
      {[](generator_config& c) { c.zipf_s = std::nan(""); }, "--zipf"},
      {[](generator_config& c) { c.start_ms = -5; }, "--start"},
      {[](generator_config& c) { c.hours = 0; }, "--hours"},
      {[](generator_config& c) { c.sessions_per_minute = -1; },
       "--sessions-per-minute"},
      {[](generator_config& c) { c.daily_amplitude = 1.5; },
       "--daily-amplitude"},
      {[](generator_config& c) { c.views_per_session = 0.5; },
       "--views-per-session"},
      {[](generator_config& c) { c.p_cart = 1.1; }, "--p-cart"},
      {[](generator_config& c) { c.p_purchase = -0.1; }, "--p-purchase"},
      {[](generator_config& c) { c.surges = 1000; }, "--surges"},
      {[](generator_config& c) { c.surge_factor = 0.5; }, "--surge-factor"},
      {[](generator_config& c) { c.surge_minutes = 0; }, "--surge-minutes"},
  };
  for (const auto& c : cases) {
    generator_config cfg;
    c.edit(cfg);
    auto st = validate(cfg);
    ASSERT_FALSE(st) << c.option;
    EXPECT_NE(st.message().find(c.option), std::string::npos) << st.message();
  }
  // Tiny shops: one item cannot surge, two can.
  generator_config one;
  one.items = 1;
  one.surges = 0;
  EXPECT_TRUE(validate(one));
  one.surges = 1;
  EXPECT_FALSE(validate(one));
  one.items = 2;
  EXPECT_TRUE(validate(one));
  EXPECT_EQ(run(one).surges.size(), 1u);
}

TEST(generator, missing_types_are_errors_not_crashes) {
  auto reg = interaction_registry::parse(
      "[[type]]\nid = 1\nname = \"view\"\nweight = 1.0\naliases = []\n"
      "description = \"v\"\n",
      "test.toml");
  ASSERT_TRUE(reg.has_value()) << (reg ? "" : reg.err().message);
  auto st = validate(generator_config{}, *reg);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("\"cart\""), std::string::npos) << st.message();
  EXPECT_TRUE(validate(generator_config{}, registry()));

  collect sink;
  auto r = try_generate(small_config(), *reg, sink);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.err().message.find("cart"), std::string::npos);
  EXPECT_TRUE(sink.events.empty());

  generator_config bad = small_config();
  bad.items = 0;
  auto r2 = try_generate(bad, registry(), sink);
  ASSERT_FALSE(r2.has_value());
  EXPECT_NE(r2.err().message.find("--items"), std::string::npos);
  EXPECT_TRUE(sink.events.empty());
}

// -- legacy shapes ------------------------------------------------------------

std::vector<event> hand_built_events() {
  return {
      {"1234", "100042", id_of("view"), 1'700'000'000'123, 1.0f},
      {"1234", "100042", id_of("cart"), 1'700'000'005'000, 1.0f},
      {"1234", "100042", id_of("purchase"), 1'700'000'030'000, 2.0f},
      {"1234", "100043", id_of("purchase"), 1'700'000'030'000, 1.0f},
      {"77", "100042", id_of("purchase"), 1'700'000'040'000, 3.0f},
      // 49.5 minutes after 1234's last event: a new pixel session.
      {"1234", "100044", id_of("like"), 1'700'003'000'000, 1.0f},
  };
}

std::string write_shape(source_shape shape, const std::vector<event>& events,
                        const std::string& name) {
  auto path = temp_path(name);
  auto w = open_shape_writer(shape, path, registry());
  EXPECT_TRUE(w.has_value()) << (w ? "" : w.err().message);
  if (!w) return {};
  for (const auto& e : events)
    (*w)->on_event(e);
  std::string why;
  EXPECT_TRUE((*w)->finish(&why)) << why;
  return read_file(path);
}

TEST(shape_writer, retailrocket_lines) {
  EXPECT_EQ(
      write_shape(source_shape::retailrocket, hand_built_events(), "rr.csv"),
      "timestamp,visitorid,event,itemid,transactionid\n"
      "1700000000123,1234,view,100042,\n"
      "1700000005000,1234,addtocart,100042,\n"
      "1700000030000,1234,transaction,100042,1\n"
      "1700000030000,1234,transaction,100043,1\n"
      "1700000040000,77,transaction,100042,2\n"
      "1700003000000,1234,like,100044,\n");
}

TEST(shape_writer, taobao_lines) {
  // 100042 % 97 = 35, so category 1035.
  EXPECT_EQ(
      write_shape(source_shape::taobao, hand_built_events(), "taobao.csv"),
      "1234,100042,1035,pv,1700000000\n"
      "1234,100042,1035,cart,1700000005\n"
      "1234,100042,1035,buy,1700000030\n"
      "1234,100043,1036,buy,1700000030\n"
      "77,100042,1035,buy,1700000040\n"
      "1234,100044,1037,fav,1700003000\n");
}

TEST(shape_writer, pixel_lines) {
  EXPECT_EQ(
      write_shape(source_shape::pixel, hand_built_events(), "pixel.jsonl"),
      R"({"v":1,"event":{"name":"view","ts":"2023-11-14T22:13:20.123Z"},"visitor":{"id":"1234","session":"s-1234-1"},"product":{"id":"100042"},"page":{"url":"https://shop.example/p/100042"}})"
      "\n"
      R"({"v":1,"event":{"name":"add_to_cart","ts":"2023-11-14T22:13:25.000Z"},"visitor":{"id":"1234","session":"s-1234-1"},"product":{"id":"100042"},"page":{"url":"https://shop.example/p/100042"}})"
      "\n"
      R"({"v":1,"event":{"name":"purchase","ts":"2023-11-14T22:13:50.000Z"},"visitor":{"id":"1234","session":"s-1234-1"},"product":{"id":"100042","quantity":2},"page":{"url":"https://shop.example/p/100042"}})"
      "\n"
      R"({"v":1,"event":{"name":"purchase","ts":"2023-11-14T22:13:50.000Z"},"visitor":{"id":"1234","session":"s-1234-1"},"product":{"id":"100043","quantity":1},"page":{"url":"https://shop.example/p/100043"}})"
      "\n"
      R"({"v":1,"event":{"name":"purchase","ts":"2023-11-14T22:14:00.000Z"},"visitor":{"id":"77","session":"s-77-1"},"product":{"id":"100042","quantity":3},"page":{"url":"https://shop.example/p/100042"}})"
      "\n"
      R"({"v":1,"event":{"name":"like","ts":"2023-11-14T23:03:20.000Z"},"visitor":{"id":"1234","session":"s-1234-2"},"product":{"id":"100044"},"page":{"url":"https://shop.example/p/100044"}})"
      "\n");
}

TEST(shape_writer, odd_ids_are_escaped) {
  std::vector<event> events = {{"a\"b,c", "x y/z", id_of("purchase"),
                                86'400'000LL * 365 * 30 + 1, 1.5f}};
  EXPECT_EQ(write_shape(source_shape::retailrocket, events, "odd.csv"),
            "timestamp,visitorid,event,itemid,transactionid\n"
            "946080000001,\"a\"\"b,c\",transaction,x y/z,1\n");
  EXPECT_EQ(
      write_shape(source_shape::pixel, events, "odd.jsonl"),
      R"({"v":1,"event":{"name":"purchase","ts":"1999-12-25T00:00:00.001Z"},"visitor":{"id":"a\"b,c","session":"s-a\"b,c-1"},"product":{"id":"x y/z","quantity":1.5},"page":{"url":"https://shop.example/p/x%20y%2Fz"}})"
      "\n");
}

TEST(shape_writer, generated_run_round_trips_line_count) {
  auto cfg = small_config();
  cfg.max_events = 5000;
  auto path = temp_path("gen.jsonl");
  auto w = open_shape_writer(source_shape::pixel, path, registry());
  ASSERT_TRUE(w.has_value());
  generate(cfg, registry(), **w);
  std::string why;
  ASSERT_TRUE((*w)->finish(&why)) << why;
  auto text = read_file(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5000);
}

TEST(shape_writer, unwritable_path_is_an_error) {
  auto w = open_shape_writer(source_shape::taobao, "/nonexistent-dir/x.csv",
                             registry());
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.err().message.find("/nonexistent-dir/x.csv"), std::string::npos);
  auto st = write_surges_csv({}, "/nonexistent-dir/s.csv");
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("/nonexistent-dir/s.csv"), std::string::npos);
}

TEST(shape_writer, names_parse) {
  EXPECT_EQ(parse_source_shape("retailrocket"), source_shape::retailrocket);
  EXPECT_EQ(parse_source_shape("taobao"), source_shape::taobao);
  EXPECT_EQ(parse_source_shape("pixel"), source_shape::pixel);
  EXPECT_FALSE(parse_source_shape("csv"));
  EXPECT_EQ(to_string(source_shape::pixel), "pixel");
}

TEST(surges_csv, exact_lines) {
  auto path = temp_path("surges.csv");
  ASSERT_TRUE(
      write_surges_csv({{"100042", 1'700'000'000'000, 1'700'001'800'000, 8.0},
                        {"100007", 5, 6, 2.5}},
                       path));
  EXPECT_EQ(read_file(path), "item,start_ms,end_ms,factor\n"
                             "100042,1700000000000,1700001800000,8\n"
                             "100007,5,6,2.5\n");
}

} // namespace
} // namespace eddy
