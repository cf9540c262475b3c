// Mapping features applied by the normalizer: aliases, unknown types, constants,
// value column, filters; and the shipped mappings on small fixtures of each shape.
#include "test_util.hpp"

using namespace eddy;
using test::normalize_text;

namespace {

std::string shipped(const std::string& name) {
  auto m = load_mapping(test::source_dir() + "/configs/schemas/" + name + ".toml");
  EXPECT_TRUE(m) << (m ? "" : m.err().message);
  return name;
}

test::run_result run_shipped(const std::string& name, const std::string& input) {
  auto m = load_mapping(test::source_dir() + "/configs/schemas/" + name + ".toml");
  EXPECT_TRUE(m);
  auto n = normalizer::make(*m, test::registry());
  EXPECT_TRUE(n);
  auto src = memory_source(input, name);
  test::collector c;
  test::run_result r;
  r.st = n->run(*src, c, c, r.stats);
  r.events = std::move(c.events);
  r.rejects = std::move(c.rejects);
  return r;
}

} // namespace

TEST(normalizer, mapping_aliases_unknown_types_and_constants) {
  auto m = R"(
name = "x"
format = "csv"
[fields]
user = "u"
item = "i"
type = "t"
ts = { column = "ts", format = "epoch_s" }
[types]
aliases = { seen = "view", basket = "purchase" }
unknown = "other"
)";
  auto r = normalize_text(m, "u,i,t,ts\na,b,SEEN,1\na,b,basket,2\na,b,teleport,3\n"
                             "a,b,transaction,4\n");
  ASSERT_EQ(r.events.size(), 4u);
  EXPECT_EQ(r.events[0].type, 1);
  EXPECT_EQ(r.events[1].type, 3); // the mapping's alias wins over the registry's
  EXPECT_EQ(r.events[2].type, 255);
  EXPECT_EQ(r.events[3].type, 3);
  auto c = normalize_text(R"(
name = "c"
format = "csv"
[fields]
user = "u"
item = "i"
type = { const = "like" }
ts = { column = "ts", format = "epoch_ms" }
value = { const = 2.5 }
)",
                          "u,i,ts\na,b,1000\n");
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0], (event{"a", "b", 4, 1000, 2.5f}));
}

TEST(normalizer, value_column_default_and_bad_values) {
  auto m = R"(
name = "v"
format = "csv"
[fields]
user = "u"
item = "i"
type = "t"
ts = { column = "ts", format = "epoch_ms" }
value = { column = "v", default = 1 }
)";
  auto r = normalize_text(m, "u,i,t,ts,v\na,b,view,1,3.5\na,b,view,2,\na,b,view,3\n"
                             "a,b,view,4,abc\na,b,view,5,inf\na,b,view,6,1e99\n");
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_FLOAT_EQ(r.events[0].value, 3.5f);
  EXPECT_FLOAT_EQ(r.events[1].value, 1.0f);
  EXPECT_FLOAT_EQ(r.events[2].value, 1.0f);
  EXPECT_EQ(r.stats.rejects[static_cast<std::size_t>(reject_reason::bad_value)], 3u);
}

TEST(normalizer, filter_operators) {
  auto base = std::string{R"(
name = "f"
format = "csv"
[fields]
user = "u"
item = "i"
type = "t"
ts = { column = "ts", format = "epoch_ms" }
)"};
  std::string in = "u,i,t,ts,site\na,1,view,1,de\nb,2,view,2,fr\nc,3,view,3,\n";
  auto with = [&](const std::string& filter) {
    return normalize_text(base + "[[filter]]\nfield = \"site\"\n" + filter, in);
  };
  EXPECT_EQ(with("op = \"equals\"\nvalue = \"de\"\n").events.size(), 1u);
  EXPECT_EQ(with("op = \"not_equals\"\nvalue = \"de\"\n").events.size(), 2u);
  EXPECT_EQ(with("op = \"in\"\nvalues = [\"de\", \"fr\"]\n").events.size(), 2u);
  EXPECT_EQ(with("op = \"not_in\"\nvalues = [\"de\", \"fr\"]\n").events.size(), 1u);
  auto f = with("op = \"equals\"\nvalue = \"fr\"\n");
  EXPECT_EQ(f.stats.filtered, 2u);
  EXPECT_EQ(f.events[0].user, "b");
}

TEST(normalizer, shipped_retailrocket_fixture) {
  shipped("retailrocket-events");
  auto r = run_shipped("retailrocket-events",
                       "timestamp,visitorid,event,itemid,transactionid\n"
                       "1433221332117,257597,view,355908,\n"
                       "1433224214164,992329,addtocart,248676,\n"
                       "1433221999827,111016,transaction,7943,4000\n"
                       "1433221999827,111016,refund,7943,4000\n");
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[2], (event{"111016", "7943", 3, 1433221999827, 1.0f}));
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].reason, reject_reason::unknown_type);
}

TEST(normalizer, shipped_taobao_fixture) {
  auto r = run_shipped("taobao-userbehavior", "1,2268318,2520377,pv,1511544070\n"
                                              "1,2333346,2520771,cart,1511561733\n"
                                              "1,2576651,149192,fav,1511572885\n"
                                              "100,1603476,2951233,buy,1511579908\n");
  ASSERT_EQ(r.events.size(), 4u);
  EXPECT_EQ(r.events[0], (event{"1", "2268318", 1, 1511544070000, 1.0f}));
  EXPECT_EQ(r.events[1].type, 2);
  EXPECT_EQ(r.events[2].type, 4);
  EXPECT_EQ(r.events[3].type, 3);
}

TEST(normalizer, shipped_pixel_fixture) {
  auto r = run_shipped(
    "pixel-jsonl",
    "{\"v\":1,\"event\":{\"name\":\"view\",\"ts\":\"2023-11-14T22:13:20.123Z\"},"
    "\"visitor\":{\"id\":\"1234\",\"session\":\"s-1234-7\"},\"product\":{\"id\":"
    "\"100042\"},\"page\":{\"url\":\"https://shop.example/p/100042\"}}\n"
    "{\"v\":1,\"event\":{\"name\":\"purchase\",\"ts\":\"2023-11-14T22:14:00.000Z\"},"
    "\"visitor\":{\"id\":\"1234\"},\"product\":{\"id\":\"100042\",\"quantity\":2}}\n");
  ASSERT_TRUE(r.st) << r.st.message();
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0], (event{"1234", "100042", 1, 1700000000123, 1.0f}));
  EXPECT_EQ(r.events[1], (event{"1234", "100042", 3, 1700000040000, 2.0f}));
}

TEST(normalizer, shipped_movielens_fixture) {
  auto r = run_shipped("movielens-ratings", "userId,movieId,rating,timestamp\r\n"
                                            "1,1,4.0,964982703\r\n"
                                            "1,3,0.5,964981247\r\n");
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1], (event{"1", "3", 6, 964981247000, 0.5f}));
}
