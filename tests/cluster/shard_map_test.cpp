// The routing function and the owner map. Everything here is deterministic:
// fixed inputs, frozen outputs, bounds checked on fixed data sets, so nothing
// can flake. The frozen values are the contract with producers in other
// languages and with data already on disk: if one of them changes, items move
// between shards.

#include "cluster/shard_map.hpp"

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <map>
#include <string>
#include <vector>

using namespace eddy::cluster;

namespace {

std::string item(int i) {
  return "item-" + std::to_string(i);
}

std::vector<std::string> node_ids(int n) {
  std::vector<std::string> out;
  // Appended, not `"n" + std::to_string(i)`: that trips a GCC 12 -Wrestrict
  // false positive at -O2.
  for (int i = 1; i <= n; ++i)
    out.push_back(std::string{"n"}.append(std::to_string(i)));
  return out;
}

std::vector<std::string> owners(const shard_map& m) {
  std::vector<std::string> out;
  for (std::uint32_t s = 0; s < m.shards(); ++s)
    out.push_back(m.owner(s));
  return out;
}

} // namespace

// ---- jump_hash
// ------------------------------------------------------------------

TEST(jump_hash, matches_published_values) {
  // The vectors other implementations test against (ClickHouse's
  // 00580_consistent_hashing_functions, go-jump, the Rust crates): agreeing
  // with them is what "exactly the paper's algorithm" means.
  EXPECT_EQ(jump_hash(1, 1), 0u);
  EXPECT_EQ(jump_hash(42, 57), 43u);
  EXPECT_EQ(jump_hash(256, 1024), 520u);
  EXPECT_EQ(jump_hash(0xDEAD10CCu, 1), 0u);
  EXPECT_EQ(jump_hash(0xDEAD10CCu, 666), 361u);
  EXPECT_EQ(jump_hash(16045690984833335023ull, 255), 237u);
  EXPECT_EQ(jump_hash(0, 60), 0u);
  EXPECT_EQ(jump_hash(1, 60), 55u);
  EXPECT_EQ(jump_hash(2, 60), 46u);
}

TEST(jump_hash, one_bucket_is_always_zero) {
  for (std::uint64_t k : {0ull, 1ull, 42ull, 0xFFFFFFFFFFFFFFFFull})
    EXPECT_EQ(jump_hash(k, 1), 0u) << k;
  for (int i = 0; i < 10000; ++i)
    ASSERT_EQ(jump_hash(item_hash(item(i)), 1), 0u) << i;
}

TEST(jump_hash, stays_in_range_for_large_bucket_counts) {
  for (std::uint32_t buckets : {2u, 3u, 65536u, 1u << 31, 0xFFFFFFFFu})
    for (int i = 0; i < 1000; ++i)
      ASSERT_LT(jump_hash(item_hash(item(i)), buckets), buckets) << buckets;
}

TEST(jump_hash, growing_by_one_bucket_moves_keys_only_into_the_new_bucket) {
  // The property that makes jump hash consistent: going from n to n + 1 buckets
  // a key either stays or moves to bucket n, and about 1/(n+1) of the keys
  // move.
  constexpr int keys = 20000;
  std::vector<std::uint64_t> k(keys);
  for (int i = 0; i < keys; ++i)
    k[i] = item_hash(item(i));
  for (std::uint32_t n = 1; n <= 128; ++n) {
    int moved = 0;
    for (int i = 0; i < keys; ++i) {
      auto before = jump_hash(k[i], n);
      auto after = jump_hash(k[i], n + 1);
      if (after != before) {
        ASSERT_EQ(after, n)
            << "key " << i << " moved " << before << " -> " << after
            << " when growing " << n << " -> " << n + 1;
        ++moved;
      }
    }
    // Expected keys/(n+1) >= 155 here; 25% is > 3 standard deviations
    // everywhere.
    double expected = static_cast<double>(keys) / (n + 1);
    EXPECT_NEAR(moved, expected, 0.25 * expected)
        << "growing " << n << " -> " << n + 1;
  }
}

// ---- item_hash / shard_of
// ---------------------------------------------------------

TEST(item_hash, matches_xxh64_reference) {
  EXPECT_EQ(item_hash(""), 0xEF46DB3751D8E999ull);    // XXH64 spec, empty input
  EXPECT_EQ(item_hash("abc"), 0x44BC2CF5AD770999ull); // XXH64("abc", 3, 0)
  // The bytes, not a C string: an embedded NUL is part of the id.
  EXPECT_NE(item_hash(std::string_view{"a\0b", 3}), item_hash("a"));
}

TEST(shard_of, frozen_vectors) {
  // Computed once with this implementation and frozen (see the file comment).
  EXPECT_EQ(shard_of("item-1", 64), 34u);
  EXPECT_EQ(shard_of("42", 64), 37u);
  EXPECT_EQ(shard_of("P123456", 64), 14u);
  EXPECT_EQ(shard_of("item-1", 4096), 1653u);
  EXPECT_EQ(shard_of("42", 4096), 2790u);
  EXPECT_EQ(shard_of("P123456", 4096), 3572u);
}

TEST(shard_of, is_jump_of_xxh64_and_stable) {
  for (int i = 0; i < 1000; ++i) {
    auto id = item(i);
    auto s = shard_of(id, 64);
    EXPECT_EQ(s, jump_hash(item_hash(id), 64));
    EXPECT_EQ(s, shard_of(std::string{id}, 64)); // same answer on a copy, twice
    EXPECT_EQ(shard_of(id, 1), 0u);
  }
}

TEST(shard_of, roughly_uniform_over_64_shards) {
  constexpr int ids = 100000;
  constexpr int shards = 64;
  std::vector<int> count(shards, 0);
  for (int i = 0; i < ids; ++i)
    ++count[shard_of(item(i), shards)];
  double expected = static_cast<double>(ids) / shards;
  double chi2 = 0;
  for (int s = 0; s < shards; ++s) {
    double d = count[s] - expected;
    chi2 += d * d / expected;
    // A count's standard deviation is ~39 (sqrt(1562)); 15% (234) is ~6 of
    // them.
    EXPECT_NEAR(count[s], expected, 0.15 * expected) << "shard " << s;
  }
  // 63 degrees of freedom: mean 63, the 99.9% quantile is about 104. The ids
  // are fixed, so this either always passes or always fails.
  EXPECT_LT(chi2, 110.0);
}

// ---- rendezvous owner map
// ----------------------------------------------------------

TEST(rendezvous, frozen_weights) {
  EXPECT_EQ(rendezvous_weight(0, "n1"), 0xBCECE0CB67527199ull);
  EXPECT_EQ(rendezvous_weight(7, "n2"), 0x1E70BF90D3D13C01ull);
  EXPECT_NE(rendezvous_weight(0, "n1"), rendezvous_weight(1, "n1"));
  EXPECT_NE(rendezvous_weight(0, "n1"), rendezvous_weight(0, "n2"));
}

TEST(rendezvous, owner_has_the_highest_weight) {
  shard_map m{256, node_ids(5)};
  for (std::uint32_t s = 0; s < m.shards(); ++s)
    for (auto& n : m.nodes()) {
      if (n != m.owner(s)) {
        EXPECT_LT(rendezvous_weight(s, n), rendezvous_weight(s, m.owner(s)))
            << "shard " << s;
      }
    }
}

TEST(rendezvous, every_node_computes_the_same_map_in_any_order) {
  auto ids = std::vector<std::string>{"n1", "n2", "n3", "worker-7"};
  std::sort(ids.begin(), ids.end());
  shard_map reference{64, ids};
  EXPECT_EQ(reference.nodes(), ids); // sorted
  int permutations = 0;
  do {
    shard_map m{64, ids};
    ASSERT_EQ(m.nodes(), reference.nodes());
    ASSERT_EQ(owners(m), owners(reference));
    ++permutations;
  } while (std::next_permutation(ids.begin(), ids.end()));
  EXPECT_EQ(permutations, 24);
}

TEST(rendezvous,
     a_dead_node_moves_only_its_shards_and_coming_back_restores_the_map) {
  for (std::uint32_t shards : {64u, 4096u}) {
    auto all = node_ids(5);
    shard_map full{shards, all};
    auto before = owners(full);
    for (auto& dead : all) {
      auto live = all;
      live.erase(std::find(live.begin(), live.end(), dead));
      shard_map degraded{shards, live};
      for (std::uint32_t s = 0; s < shards; ++s) {
        if (before[s] == dead)
          EXPECT_NE(degraded.owner(s), dead);
        else
          EXPECT_EQ(degraded.owner(s), before[s])
              << "shard " << s << " moved although its owner " << before[s]
              << " is alive (" << dead << " died, S = " << shards << ")";
      }
      EXPECT_TRUE(degraded.shards_of(dead).empty());
      live.push_back(dead); // back, at the end of the list this time
      shard_map restored{shards, live};
      EXPECT_EQ(owners(restored), before)
          << dead << " came back, S = " << shards;
    }
  }
}

TEST(rendezvous, shards_spread_evenly_over_three_nodes) {
  // S = 64: mean 21.3, standard deviation ~3.8; [12, 32] is ~2.5 of them and
  // keeps any node from holding more than half. S = 4096: mean 1365, sd ~30;
  // 10% is ~4.5.
  shard_map small{64, node_ids(3)};
  for (auto& n : small.nodes()) {
    auto owned = small.shards_of(n).size();
    EXPECT_GE(owned, 12u) << n;
    EXPECT_LE(owned, 32u) << n;
  }
  shard_map large{4096, node_ids(3)};
  for (auto& n : large.nodes())
    EXPECT_NEAR(static_cast<double>(large.shards_of(n).size()), 4096.0 / 3,
                0.10 * 4096.0 / 3)
        << n;
}

TEST(rendezvous, shards_of_covers_every_shard_exactly_once) {
  for (int nodes : {1, 2, 3, 7}) {
    shard_map m{64, node_ids(nodes)};
    std::vector<int> seen(64, 0);
    for (auto& n : m.nodes()) {
      auto owned = m.shards_of(n);
      EXPECT_TRUE(std::is_sorted(owned.begin(), owned.end()));
      for (auto s : owned) {
        ++seen[s];
        EXPECT_EQ(m.owner(s), n);
        EXPECT_EQ(m.nodes()[m.owner_index(s)], n);
      }
    }
    for (int s = 0; s < 64; ++s)
      EXPECT_EQ(seen[s], 1) << "shard " << s << " with " << nodes << " nodes";
    EXPECT_TRUE(m.shards_of("not-a-node").empty());
  }
}

TEST(rendezvous, a_single_node_owns_everything) {
  shard_map m{64, {"n1"}};
  EXPECT_EQ(m.shards(), 64u);
  EXPECT_EQ(m.shards_of("n1").size(), 64u);
}

TEST(rendezvous_death, duplicate_node_ids_are_a_bug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH((shard_map{4, {"n1", "n2", "n1"}}), "assertion failed");
}
