#include "models/item_key.hpp"

#include <xxhash.h>

namespace eddy::models {

std::uint64_t item_hash(std::string_view item) noexcept {
  // Seed 0 and the raw bytes, nothing else: producers in other languages
  // compute the same shard from any xxh64 implementation (configs/CLUSTER.md).
  return XXH64(item.data(), item.size(), 0);
}

} // namespace eddy::models
