// The similar-items lists on their owners (actors/similar_table.hpp): the
// stored format, the atomic switch, query parsing and how lists combine.
#include "actors/similar_table.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace eddy::actors {
namespace {

namespace fs = std::filesystem;

// Items a, b, c with lists over names {a, b, c, d}; n = 3.
similar_table small_table(std::uint64_t version = 1) {
  similar_table t;
  t.model = "n1/als-" + std::to_string(version);
  t.version = version;
  t.trained_by = "n1";
  t.created_ms = 5;
  t.data_max_ts = 100LL * 86'400'000;
  t.recall_at_10 = 0.97;
  t.recall_sample = 3;
  t.n = 3;
  t.items = {"a", "b", "c"};
  t.names = {"a", "b", "c", "d"};
  t.last_ts = {t.data_max_ts, t.data_max_ts - 10LL * 86'400'000, t.data_max_ts,
               t.data_max_ts - 86'400'000};
  t.ids = {1, 3, 2,    // a: b .9, d .5, c .1
           0, 2, -1,   // b: a .9, c .8
           3, 1, 0};   // c: d .7, b .6, a .1
  t.scores = {0.9F, 0.5F, 0.1F, 0.9F, 0.8F, -INFINITY, 0.7F, 0.6F, 0.1F};
  return t;
}

std::string json_of(const std::string& args, const similar_table* t) {
  auto q = parse_similar_query(args);
  EXPECT_TRUE(q) << (q ? "" : q.err().message);
  std::vector<std::string> lists;
  for (const auto& item : q->items)
    lists.push_back(encode_item_list(t, item, "n1"));
  return similar_json(*q, lists);
}

TEST(similar_table, encoding_round_trips_and_rejects_inconsistent_tables) {
  auto t = small_table();
  auto back = decode_similar_table(encode_similar_table(t));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(back->items, t.items);
  EXPECT_EQ(back->names, t.names);
  EXPECT_EQ(back->ids, t.ids);
  EXPECT_EQ(back->last_ts, t.last_ts);
  EXPECT_EQ(back->model, "n1/als-1");
  EXPECT_EQ(back->row_of("b"), 1U);
  EXPECT_FALSE(back->row_of("zz"));

  auto bad = t;
  bad.ids[0] = 4; // no such name
  EXPECT_FALSE(decode_similar_table(encode_similar_table(bad)));
  bad = t;
  bad.items = {"b", "a", "c"}; // rows must be ascending
  EXPECT_FALSE(decode_similar_table(encode_similar_table(bad)));
  bad = t;
  bad.scores.pop_back();
  EXPECT_FALSE(decode_similar_table(encode_similar_table(bad)));
  EXPECT_FALSE(decode_similar_table("not msgpack at all"));
}

TEST(similar_table, store_switches_the_current_table_atomically) {
  const auto dir = fs::temp_directory_path() / ("eddy-sim-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  EXPECT_FALSE(current_similar(dir.string()));
  auto p1 = store_similar_table(dir.string(), small_table(1));
  ASSERT_TRUE(p1) << p1.err().message;
  EXPECT_EQ(current_similar(dir.string()), "similar-n1-1-5");
  EXPECT_TRUE(fs::exists(dir / "similar-n1-1-5" / "SIMILAR.json"));
  auto p2 = store_similar_table(dir.string(), small_table(2));
  ASSERT_TRUE(p2);
  EXPECT_EQ(current_similar(dir.string()), "similar-n1-2-5");
  EXPECT_TRUE(fs::exists(dir / "similar-n1-1-5")); // the older table stays
  // A new table under an old version number (its node's models were wiped)
  // gets a new name: a server that cached the old name reloads.
  auto again = small_table(1);
  again.created_ms = 6;
  again.names[1] = "B";
  ASSERT_TRUE(store_similar_table(dir.string(), again));
  EXPECT_EQ(current_similar(dir.string()), "similar-n1-1-6");
  auto old = read_similar_table(dir.string(), "similar-n1-1-5");
  ASSERT_TRUE(old);
  EXPECT_EQ((*old)->names[1], "b");
  auto t = read_similar_table(dir.string(), *current_similar(dir.string()));
  ASSERT_TRUE(t) << t.err().message;
  EXPECT_EQ((*t)->created_ms, 6);
  EXPECT_EQ((*t)->names[1], "B");
  for (const auto& e : fs::directory_iterator(dir)) // no temporaries left behind
    EXPECT_NE(e.path().filename().string().rfind(".tmp", 0), 0U) << e.path();
  EXPECT_FALSE(read_similar_table(dir.string(), "similar-n9-9"));
  fs::remove_all(dir);
}

TEST(similar_table, query_arguments_are_checked_with_the_key_named) {
  auto q = parse_similar_query("items=b,a,b&k=3&exclude=x%2Cy,z&days=7");
  ASSERT_TRUE(q) << q.err().message;
  EXPECT_EQ(q->items, (std::vector<std::string>{"a", "b"})); // sorted, unique
  EXPECT_EQ(q->exclude, (std::vector<std::string>{"x,y", "z"}));
  EXPECT_EQ(q->k, 3U);
  EXPECT_EQ(q->days, 7);
  auto err = [](const char* a) {
    auto r = parse_similar_query(a);
    return r ? std::string{"(accepted)"} : r.err().message;
  };
  EXPECT_NE(err("k=3").find("needs item=ID"), std::string::npos);
  EXPECT_NE(err("item=a&k=0").find("k must be"), std::string::npos);
  EXPECT_NE(err("item=a&days=-1").find("days"), std::string::npos);
  EXPECT_NE(err("item=a&colour=red").find("unknown argument 'colour'"), std::string::npos);
  EXPECT_NE(err("items=a,,b").find("empty entry"), std::string::npos);
  // Each entry is decoded once: '%', '&' and ',' inside ids survive.
  q = parse_similar_query("items=50%25off,a%26b,c%2Cd");
  ASSERT_TRUE(q) << q.err().message;
  EXPECT_EQ(q->items, (std::vector<std::string>{"50%off", "a&b", "c,d"}));
}

TEST(similar_table, one_item_gives_its_list_filtered) {
  auto t = small_table();
  EXPECT_EQ(json_of("item=a&k=2", &t),
            "{\"query\":[\"a\"],\"model\":\"n1/als-1\",\"model_version\":1,"
            "\"recall_at_10\":0.97,\"k\":2,\"similar\":[{\"item\":\"b\",\"score\":0.9},"
            "{\"item\":\"d\",\"score\":0.5}],\"unknown\":[]}");
  // exclude d; days=5 drops b (last event 10 days before the newest).
  auto j = json_of("item=a&exclude=d&days=5", &t);
  EXPECT_NE(j.find("\"similar\":[{\"item\":\"c\",\"score\":0.1}]"), std::string::npos) << j;
}

TEST(similar_table, several_items_sum_cosines_and_leave_themselves_out) {
  auto t = small_table();
  // a: b .9, d .5, c .1; c: d .7, b .6, a .1 -> b 1.5, d 1.2 (a and c are queries).
  auto j = json_of("items=a,c&k=5", &t);
  EXPECT_NE(j.find("\"similar\":[{\"item\":\"b\",\"score\":1.5},{\"item\":\"d\",\"score\":1.2}]"),
            std::string::npos)
      << j;
  // An unknown item is reported, the others still answer.
  j = json_of("items=a,zz&k=1", &t);
  EXPECT_NE(j.find("\"similar\":[{\"item\":\"b\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"unknown\":[{\"item\":\"zz\",\"why\":\"item 'zz' is not in the "
                   "similar-items table"),
            std::string::npos)
      << j;
  // Nothing answerable: an error naming why.
  j = json_of("item=zz", &t);
  EXPECT_EQ(j.rfind("{\"error\":\"item 'zz' is not in", 0), 0U) << j;
  j = json_of("item=a", nullptr);
  EXPECT_NE(j.find("no similar-items table on node n1"), std::string::npos) << j;
  // A malformed owner answer is an error naming the item, not a crash.
  auto q = parse_similar_query("item=a");
  j = similar_json(*q, {"garbage"});
  EXPECT_NE(j.find("malformed"), std::string::npos) << j;
  q = parse_similar_query("items=a,b");
  j = similar_json(*q, {encode_item_list(&t, "a", "n1"), "garbage"});
  EXPECT_NE(j.find("{\"item\":\"b\",\"why\":\"malformed"), std::string::npos) << j;
  // Non-finite scores from a peer are refused, never printed as JSON.
  auto nan_table = t;
  nan_table.scores[0] = NAN;
  q = parse_similar_query("item=a");
  j = similar_json(*q, {encode_item_list(&nan_table, "a", "n1")});
  EXPECT_NE(j.find("not a finite number"), std::string::npos) << j;
  EXPECT_FALSE(decode_similar_table(encode_similar_table(nan_table)));
}

} // namespace
} // namespace eddy::actors
