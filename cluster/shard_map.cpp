#include "cluster/shard_map.hpp"

#include "schema/error.hpp"

#include <algorithm>
#include <xxhash.h>

namespace eddy::cluster {

std::uint32_t jump_hash(std::uint64_t key, std::uint32_t buckets) noexcept {
  // Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm"
  // (2014), Figure 1, transcribed literally: the 64-bit LCG, the top 31 bits of
  // the state and the double division are what every other implementation
  // computes, so a change here would silently move items between shards. Do not
  // "optimize" it.
  EDDY_ASSERT(buckets >= 1);
  std::int64_t b = -1;
  std::int64_t j = 0;
  while (j < static_cast<std::int64_t>(buckets)) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(static_cast<double>(b + 1) *
                                  (static_cast<double>(1LL << 31) /
                                   static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<std::uint32_t>(b);
}

std::uint64_t rendezvous_weight(std::uint32_t shard,
                                std::string_view node) noexcept {
  // weight = fmix(XXH64(node id bytes, seed = shard)), fmix = the SplitMix64
  // finalizer. XXH64 already avalanches, so the finalizer is belt and braces:
  // it keeps the weights of consecutive seeds (shards 0, 1, 2, ...) unrelated
  // even if the hash were ever swapped for a weaker one. Frozen: changing it
  // reassigns shards on a cluster upgrade.
  std::uint64_t z = XXH64(node.data(), node.size(), shard);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

shard_map::shard_map(std::uint32_t shards, std::vector<std::string> nodes)
    : nodes_(std::move(nodes)) {
  // Both are guaranteed by the config validator and membership (a node always
  // sees itself live); anything else is a bug, not an input error.
  EDDY_ASSERT(shards >= 1);
  EDDY_ASSERT(!nodes_.empty());
  // Sorting makes the result independent of the order the live set was learned
  // in, and makes "ties go to the smaller id" a matter of keeping the first
  // maximum.
  std::sort(nodes_.begin(), nodes_.end());
  EDDY_ASSERT(std::adjacent_find(nodes_.begin(), nodes_.end()) == nodes_.end());
  owner_.resize(shards);
  for (std::uint32_t s = 0; s < shards; ++s) {
    std::uint32_t best = 0;
    std::uint64_t best_w = rendezvous_weight(s, nodes_[0]);
    for (std::uint32_t n = 1; n < nodes_.size(); ++n) {
      auto w = rendezvous_weight(s, nodes_[n]);
      if (w > best_w) { // strict: an equal weight keeps the smaller id
        best = n;
        best_w = w;
      }
    }
    owner_[s] = best;
  }
}

std::vector<std::uint32_t> shard_map::shards_of(std::string_view node) const {
  std::vector<std::uint32_t> out;
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node);
  if (it == nodes_.end() || *it != node) return out;
  auto idx = static_cast<std::uint32_t>(it - nodes_.begin());
  for (std::uint32_t s = 0; s < owner_.size(); ++s)
    if (owner_[s] == idx) out.push_back(s);
  return out;
}

} // namespace eddy::cluster
