// Source mappings: parsing, validation messages that name the key, shipped files.
#include "test_util.hpp"

#include <filesystem>

using namespace eddy;

namespace {

std::string load_error(const std::string& toml) {
  auto m = parse_mapping(toml, "m.toml");
  EXPECT_FALSE(m) << "expected an error for:\n" << toml;
  return m ? "" : m.err().message;
}

const std::string base_fields = R"(
[fields]
user = { column = "u" }
item = { column = "i" }
type = { column = "t" }
ts = { column = "ts" }
)";

} // namespace

TEST(mapping, errors_name_the_key_and_the_fix) {
  EXPECT_NE(load_error("format = \"csv\"\n" + base_fields).find("name: missing"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"xml\"\n" + base_fields)
              .find("format: 'xml' is not a format"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n[fields]\nuser = \"u\"\n"
                       "item = \"i\"\ntype = \"t\"\n")
              .find("fields.ts: missing"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n[csv]\ndelimiter = \",,\"\n" +
                       base_fields)
              .find("csv.delimiter"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n[csv]\nheader = false\n" +
                       base_fields)
              .find("csv.header"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"jsonl\"\n" + base_fields)
              .find("fields.user: a JSON source takes pointer"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"jsonl\"\n[fields]\nuser = \"a/b\"\n"
                       "item = \"/i\"\ntype = \"/t\"\nts = \"/ts\"\n")
              .find("starts with '/'"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n" + base_fields +
                       "colour = 1\n")
              .find("fields.colour: unknown key"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n" + base_fields +
                       "[limits]\nmax_id_bytes = 100000\n")
              .find("limits.max_id_bytes"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n" + base_fields +
                       "[[filter]]\nfield = \"t\"\nop = \"like\"\nvalue = \"a\"\n")
              .find("filter[0].op"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n" + base_fields +
                       "[[filter]]\nfield = \"t\"\nop = \"in\"\n")
              .find("needs value"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n[fields]\nuser = { column = "
                       "\"u\", const = \"x\" }\nitem = \"i\"\ntype = \"t\"\nts = "
                       "\"ts\"\n")
              .find("exactly one of"),
            std::string::npos);
  EXPECT_NE(load_error("name = \"x\"\nformat = \"csv\"\n[fields]\nuser = \"u\"\nitem "
                       "= \"i\"\ntype = \"t\"\nts = { column = \"ts\", format = "
                       "\"epoch_ns\" }\n")
              .find("fields.ts.format"),
            std::string::npos);
  EXPECT_NE(load_error("name = [").find("invalid TOML"), std::string::npos);
}

TEST(mapping, alias_targets_and_zone_are_checked_against_the_registry) {
  auto m = test::mapping("name = \"x\"\nformat = \"csv\"\n" + base_fields +
                         "[types]\naliases = { zz = \"teleport\" }\n");
  auto n = normalizer::make(m, test::registry());
  ASSERT_FALSE(n);
  EXPECT_NE(n.err().message.find("types.aliases.zz"), std::string::npos);
  auto u = test::mapping("name = \"x\"\nformat = \"csv\"\n" + base_fields +
                         "[types]\nunknown = \"nonsense\"\n");
  EXPECT_FALSE(normalizer::make(u, test::registry()));
  auto z = test::mapping("name = \"x\"\nformat = \"csv\"\n[fields]\nuser = \"u\"\n"
                         "item = \"i\"\ntype = \"t\"\nts = { column = \"ts\", "
                         "format = \"iso8601\", timezone = \"Nowhere/City\" }\n");
  auto nz = normalizer::make(z, test::registry());
  ASSERT_FALSE(nz);
  EXPECT_NE(nz.err().message.find("Nowhere/City"), std::string::npos);
}

TEST(mapping, every_shipped_mapping_loads_and_builds) {
  int n = 0;
  for (auto& f : std::filesystem::directory_iterator(test::source_dir() +
                                                     "/configs/schemas")) {
    if (f.path().extension() != ".toml")
      continue;
    auto m = load_mapping(f.path().string());
    ASSERT_TRUE(m) << m.err().message;
    auto norm = normalizer::make(*m, test::registry());
    ASSERT_TRUE(norm) << norm.err().message;
    ++n;
  }
  EXPECT_GE(n, 4);
}
