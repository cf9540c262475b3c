// item_id: the inline/heap boundary, copies and moves, and lookups in a table
// keyed by it (by the id alone and with its hash).
#include "models/item_key.hpp"

#include <absl/container/flat_hash_map.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>

using namespace eddy::models;

TEST(item_id, keeps_every_length_across_the_inline_limit) {
  for (std::size_t n : {0, 1, 15, 16, 30, 31, 32, 33, 100}) {
    const std::string s(n, 'x');
    std::string t = s;
    if (n > 0) t[n - 1] = 'y'; // the last byte counts
    const item_id a{t};
    EXPECT_EQ(a.view(), t) << n;
    EXPECT_EQ(a.heap_size(), n > item_id::inline_max ? n : 0) << n;
    const item_id copy = a;
    EXPECT_EQ(copy.view(), t) << n;
    item_id moved = item_id{a};
    EXPECT_EQ(moved.view(), t) << n;
    item_id other{s};
    other = moved; // copy-assign
    EXPECT_EQ(other.view(), t) << n;
    EXPECT_EQ(moved.view(), t) << n;
    other = item_id{"short"}; // move-assign
    EXPECT_EQ(other.view(), "short") << n;
    item_id from{t};
    item_id to{std::move(from)};
    EXPECT_EQ(to.view(), t) << n;
    EXPECT_EQ(from.view(), "") << n; // NOLINT(bugprone-use-after-move): moved-from is empty
  }
}

TEST(item_id, is_a_table_key_found_by_id_or_by_hashed_id) {
  absl::flat_hash_map<item_id, int, item_key_hash, item_key_eq> m;
  std::vector<std::string> ids;
  for (int i = 0; i < 2000; ++i) // rehashes move the keys several times
    ids.push_back("sku-" + std::string(static_cast<std::size_t>(i % 40), 'a') + std::to_string(i));
  for (int i = 0; i < 2000; ++i)
    EXPECT_TRUE(m.try_emplace(item_id{ids[i]}, i).second);
  ASSERT_EQ(m.size(), 2000u);
  for (int i = 0; i < 2000; ++i) {
    auto a = m.find(std::string_view{ids[i]});
    ASSERT_NE(a, m.end()) << ids[i];
    EXPECT_EQ(a->second, i);
    auto b = m.find(hashed_item{ids[i]});
    ASSERT_NE(b, m.end()) << ids[i];
    EXPECT_EQ(b->first.view(), ids[i]);
  }
  EXPECT_EQ(m.find(std::string_view{"sku-absent"}), m.end());
  EXPECT_FALSE(m.try_emplace(item_id{ids[7]}, -1).second);
}
