#include "test_util.hpp"

using namespace eddy;

TEST(interactions, shipped_registry_has_documented_types) {
  auto& reg = test::registry();
  for (auto name : {"view", "cart", "purchase", "like", "share", "rate", "other"}) {
    auto id = reg.resolve(name);
    ASSERT_TRUE(id) << name;
    EXPECT_FALSE(reg.find(*id)->description.empty()) << name;
  }
  EXPECT_EQ(reg.resolve("view"), type_id{1});
  EXPECT_EQ(reg.resolve("cart"), type_id{2});
  EXPECT_EQ(reg.resolve("purchase"), type_id{3});
}

TEST(interactions, aliases_are_case_insensitive) {
  auto& reg = test::registry();
  EXPECT_EQ(reg.resolve("PV"), reg.resolve("view"));
  EXPECT_EQ(reg.resolve("AddToCart"), reg.resolve("cart"));
  EXPECT_EQ(reg.resolve("transaction"), reg.resolve("purchase"));
  EXPECT_EQ(reg.resolve("buy"), reg.resolve("purchase"));
  EXPECT_EQ(reg.resolve("fav"), reg.resolve("like"));
  EXPECT_FALSE(reg.resolve("teleport"));
  EXPECT_FALSE(reg.resolve(std::string(200, 'x')));
}

TEST(interactions, weights_come_from_the_file) {
  auto& reg = test::registry();
  EXPECT_FLOAT_EQ(reg.weight(*reg.resolve("view")), 1.0f);
  EXPECT_FLOAT_EQ(reg.weight(*reg.resolve("purchase")), 5.0f);
  EXPECT_FLOAT_EQ(reg.weight(200), 0.0f); // unregistered id
}

TEST(interactions, errors_name_the_problem) {
  auto dup_id = interaction_registry::parse(
    "[[type]]\nid = 1\nname = \"a\"\nweight = 1\n"
    "[[type]]\nid = 1\nname = \"b\"\nweight = 1\n",
    "x.toml");
  ASSERT_FALSE(dup_id);
  EXPECT_NE(dup_id.err().message.find("id 1 is already used"), std::string::npos);
  auto dup_alias = interaction_registry::parse(
    "[[type]]\nid = 1\nname = \"a\"\nweight = 1\naliases = [\"z\"]\n"
    "[[type]]\nid = 2\nname = \"b\"\nweight = 1\naliases = [\"Z\"]\n",
    "x.toml");
  ASSERT_FALSE(dup_alias);
  EXPECT_NE(dup_alias.err().message.find("'z' names two types"), std::string::npos);
  auto bad_weight = interaction_registry::parse(
    "[[type]]\nid = 1\nname = \"a\"\nweight = -1\n", "x.toml");
  ASSERT_FALSE(bad_weight);
  EXPECT_NE(bad_weight.err().message.find("weight"), std::string::npos);
  auto bad_id = interaction_registry::parse(
    "[[type]]\nid = 0\nname = \"a\"\nweight = 1\n", "x.toml");
  ASSERT_FALSE(bad_id);
  EXPECT_NE(bad_id.err().message.find("1..255"), std::string::npos);
  auto typo = interaction_registry::parse(
    "[[type]]\nid = 3\nname = \"a\"\nwieght = 1\n", "x.toml");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.err().message.find("unknown key 'wieght'"), std::string::npos);
  auto missing = interaction_registry::load("/nonexistent/interactions.toml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.err().message.find("/nonexistent/interactions.toml"),
            std::string::npos);
}
