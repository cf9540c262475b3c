// actors/trend_query: the client argument syntax (errors say what to fix), the
// node-to-node encoding round trip, the exact merge of shard answers, the JSON.
#include "actors/trend_query.hpp"

#include "schema/interactions.hpp"

#include <gtest/gtest.h>

namespace eddy::actors {
namespace {

const interaction_registry& registry() {
  static auto r = interaction_registry::load(std::string{EDDY_SOURCE_DIR} +
                                             "/configs/interactions.toml");
  EXPECT_TRUE(r) << r.err().message;
  return *r;
}

TEST(trend_query, arguments_parse_and_errors_name_the_argument) {
  auto r = parse_trend_request("trending", "k=5&type=addtocart&min_support=2.5&as_of=77",
                               registry());
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->what, trend_request::kind::trending);
  EXPECT_EQ(r->q.k, 5u);
  EXPECT_EQ(r->q.type, std::optional<std::uint8_t>{2}); // alias of cart
  EXPECT_EQ(r->q.min_support, std::optional<double>{2.5});
  EXPECT_EQ(r->q.as_of_ms, 77);
  auto decayed = parse_trend_request("popular", "by=decayed&type=all", registry());
  ASSERT_TRUE(decayed);
  EXPECT_EQ(decayed->what, trend_request::kind::decayed);
  EXPECT_FALSE(decayed->q.type);
  auto series = parse_trend_request("series", "item=a%26b%3Dc", registry());
  ASSERT_TRUE(series);
  EXPECT_EQ(series->item, "a&b=c");

  auto err = [](std::string_view cmd, std::string_view args) {
    auto x = parse_trend_request(cmd, args, registry());
    EXPECT_FALSE(x) << cmd << " " << args;
    return x ? std::string{} : x.err().message;
  };
  EXPECT_NE(err("trending", "k=0").find("k='0'"), std::string::npos);
  EXPECT_NE(err("trending", "type=teleport").find("view"), std::string::npos);
  EXPECT_NE(err("trending", "by=window").find("unknown argument 'by'"), std::string::npos);
  EXPECT_NE(err("popular", "by=sideways").find("decayed"), std::string::npos);
  EXPECT_NE(err("series", "").find("item=ITEM"), std::string::npos);
  EXPECT_NE(err("series", "item=%zz").find("%XX"), std::string::npos);
  EXPECT_NE(err("trending", "min_support=-1").find(">= 0"), std::string::npos);
  EXPECT_NE(err("frobnicate", "").find("unknown query"), std::string::npos);
}

TEST(trend_query, requests_and_answers_round_trip) {
  trend_request r;
  r.what = trend_request::kind::series;
  r.q.k = 42;
  r.q.as_of_ms = -5;
  r.q.type = 3;
  r.q.min_support = 1.5;
  r.item = std::string{"x\0y", 3};
  auto back = decode_trend_request(encode_trend_request(r));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(back->what, r.what);
  EXPECT_EQ(back->q.k, 42u);
  EXPECT_EQ(back->q.as_of_ms, -5);
  EXPECT_EQ(back->q.type, r.q.type);
  EXPECT_EQ(back->q.min_support, r.q.min_support);
  EXPECT_EQ(back->item, r.item);

  trend_answer a = empty_answer(r);
  a.max_event_ms = 123;
  a.top.push("i1", 3.5);
  a.top.push("i2", 7.25);
  a.series.push_back({9, 4.0, 1.5, 1.2, 2.1, true});
  a.shards.push_back({7, 10, 20, 3000, {5, 1, 0}, 0xfeedULL, 99});
  auto ab = decode_trend_answer(encode_trend_answer(a));
  ASSERT_TRUE(ab) << ab.err().message;
  EXPECT_EQ(ab->max_event_ms, 123);
  EXPECT_EQ(ab->top, a.top);
  ASSERT_EQ(ab->series.size(), 1u);
  EXPECT_EQ(ab->series[0].bucket, 9);
  EXPECT_EQ(ab->series[0].score, 2.1);
  ASSERT_EQ(ab->shards.size(), 1u);
  EXPECT_EQ(ab->shards[0].digest, 0xfeedULL);
  EXPECT_EQ(ab->shards[0].stats.late, 1u);

  EXPECT_FALSE(decode_trend_request("\xc1"));
  EXPECT_FALSE(decode_trend_answer("not msgpack at all"));
}

TEST(trend_query, merge_is_exact_and_json_lists_ranks) {
  trend_request r;
  r.q.k = 2;
  auto x = empty_answer(r), y = empty_answer(r), all = empty_answer(r);
  x.top.push("a", 1.0);
  x.top.push("b", 5.0);
  x.max_event_ms = 10;
  y.top.push("c", 3.0);
  y.max_event_ms = 20;
  merge_trend_answer(all, x);
  merge_trend_answer(all, y);
  ASSERT_EQ(all.top.size(), 2u);
  EXPECT_EQ(all.top.items()[0].key, "b");
  EXPECT_EQ(all.top.items()[1].key, "c");
  EXPECT_EQ(all.max_event_ms, 20);
  auto j = trend_answer_json(r, all, {"n1", {"n3"}, 60000, 120000}, registry());
  EXPECT_NE(j.find("\"complete\":false"), std::string::npos) << j;
  EXPECT_NE(j.find("\"unreachable\":[\"n3\"]"), std::string::npos) << j;
  EXPECT_NE(j.find("{\"rank\":1,\"item\":\"b\",\"score\":5}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"type\":\"all\""), std::string::npos) << j;
}

} // namespace
} // namespace eddy::actors
