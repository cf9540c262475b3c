#pragma once
// The one routing function (STYLE.md habit 4) and the shard -> owner map.

#include "models/item_key.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::cluster {

/// xxh64 of the item's bytes, seed 0 (XXH64 from Debian's libxxhash).
using models::item_hash;

/// Lamping & Veach's jump consistent hash: a bucket in [0, buckets).
std::uint32_t jump_hash(std::uint64_t key, std::uint32_t buckets) noexcept;

/// shard_of for an item whose item_hash is known already (ingest keeps the hash for
/// the shard's tables).
inline std::uint32_t shard_of_hash(std::uint64_t hash, std::uint32_t shards) noexcept {
  return jump_hash(hash, shards);
}

/// shard_of(item, S) = jump_hash(xxh64(item), S). Pure; used by ingest, queries and
/// tests alike. `shards` >= 1.
inline std::uint32_t shard_of(std::string_view item, std::uint32_t shards) noexcept {
  return shard_of_hash(item_hash(item), shards);
}

/// Owner of each shard among the live nodes, by rendezvous (highest random weight)
/// hashing of (shard, node id): every node computes the same map from the same live
/// set, and when a node dies only its shards move.
class shard_map {
public:
  /// `nodes`: ids of the live nodes (any order; duplicates are a bug).
  shard_map(std::uint32_t shards, std::vector<std::string> nodes);

  std::uint32_t shards() const { return static_cast<std::uint32_t>(owner_.size()); }
  /// Index into nodes() of the shard's owner.
  std::uint32_t owner_index(std::uint32_t shard) const { return owner_[shard]; }
  const std::string& owner(std::uint32_t shard) const { return nodes_[owner_[shard]]; }
  /// Shards owned by `node`, ascending (empty if the node is not live).
  std::vector<std::uint32_t> shards_of(std::string_view node) const;
  /// Live node ids, sorted.
  const std::vector<std::string>& nodes() const { return nodes_; }

private:
  std::vector<std::string> nodes_;
  std::vector<std::uint32_t> owner_;
};

/// The rendezvous weight of (shard, node); exposed for tests.
std::uint64_t rendezvous_weight(std::uint32_t shard, std::string_view node) noexcept;

} // namespace eddy::cluster
