#pragma once
// Item ids as hash-table keys. One hash of an item's id serves every per-item
// table it meets on its way through a node: the ingest gateway computes it to
// route the event (cluster::shard_of), the batch part carries it, and the shard's
// counts and trending table look the item up by it instead of hashing the id
// again (hashed_item). Those tables are keyed by item_id (ids of up to 31 bytes
// stored in the table's own slot) and use item_key_hash and item_key_eq, which
// accept the id alone too.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::models {

/// An item id as a table key, 32 bytes like std::string: ids of up to 31 bytes
/// are stored inline (std::string keeps 15), longer ones in a heap buffer. A
/// lookup compares the id with the key in the table's slot, which the lookup
/// brought into cache anyway; for ids of 16 to 31 bytes a std::string key sent
/// it to the heap for one more cache miss per event, the largest cost of the
/// trending table in a node (SKUs and prefixed ids are often that long).
class item_id {
 public:
  static constexpr std::size_t inline_max = 31;

  item_id() noexcept { b_[tag_at] = 0; }
  explicit item_id(std::string_view id) {
    if (id.size() <= inline_max) {
      if (!id.empty()) std::memcpy(b_, id.data(), id.size());
      b_[tag_at] = static_cast<char>(id.size());
      return;
    }
    char* p = new char[id.size()];
    std::memcpy(p, id.data(), id.size());
    const std::size_t n = id.size();
    std::memcpy(b_, &p, sizeof p);
    std::memcpy(b_ + sizeof p, &n, sizeof n);
    b_[tag_at] = heap_tag;
  }
  item_id(const item_id& o) : item_id(o.view()) {}
  item_id(item_id&& o) noexcept {
    std::memcpy(b_, o.b_, sizeof b_);
    o.b_[tag_at] = 0; // o is empty now; the heap buffer, if any, is ours
  }
  item_id& operator=(item_id o) noexcept { // copy or move, then swap
    char t[sizeof b_];
    std::memcpy(t, b_, sizeof b_);
    std::memcpy(b_, o.b_, sizeof b_);
    std::memcpy(o.b_, t, sizeof b_);
    return *this;
  }
  ~item_id() {
    if (on_heap()) delete[] heap_data();
  }

  std::string_view view() const noexcept {
    if (!on_heap()) return {b_, static_cast<std::size_t>(b_[tag_at])};
    std::size_t n;
    std::memcpy(&n, b_ + sizeof(char*), sizeof n);
    return {heap_data(), n};
  }
  operator std::string_view() const noexcept { return view(); }
  /// Bytes of the heap buffer (0 when inline).
  std::size_t heap_size() const noexcept { return on_heap() ? view().size() : 0; }

 private:
  static constexpr std::size_t tag_at = 31;               // the length when inline,
  static constexpr char heap_tag = static_cast<char>(64); // or this when on the heap
  bool on_heap() const noexcept { return b_[tag_at] == heap_tag; }
  char* heap_data() const noexcept {
    char* p;
    std::memcpy(&p, b_, sizeof p);
    return p;
  }
  alignas(8) char b_[32];
};
static_assert(sizeof(item_id) == 32);

/// xxh64 of the id's bytes, seed 0 (Debian's libxxhash): also the shard
/// router's hash (cluster::shard_of).
std::uint64_t item_hash(std::string_view item) noexcept;

/// An id with its item_hash, for lookups that already know it.
struct hashed_item {
  std::string_view id;
  std::uint64_t hash = 0;

  hashed_item() = default;
  hashed_item(std::string_view i, std::uint64_t h) : id(i), hash(h) {}
  explicit hashed_item(std::string_view i) : id(i), hash(item_hash(i)) {}
};

struct item_key_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view id) const noexcept { return item_hash(id); }
  std::size_t operator()(const hashed_item& k) const noexcept { return k.hash; }
};

/// Byte equality with the short ids that most shops use (<= 16 bytes) compared
/// inline: a call to memcmp per lookup was a visible cost of ingest.
inline bool same_id(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  if (n >= 8 && n <= 16) {
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a.data(), 8);
    std::memcpy(&b0, b.data(), 8);
    std::memcpy(&a1, a.data() + n - 8, 8);
    std::memcpy(&b1, b.data() + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  return n == 0 || std::memcmp(a.data(), b.data(), n) == 0;
}

struct item_key_eq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept {
    return same_id(a, b);
  }
  bool operator()(std::string_view a, const hashed_item& b) const noexcept {
    return same_id(a, b.id);
  }
  bool operator()(const hashed_item& a, std::string_view b) const noexcept {
    return same_id(a.id, b);
  }
};

/// Batch updates of a per-item table look every item of a chunk up first, so
/// that the cache misses of cold items overlap instead of stalling one update
/// after another (the table's lines for all keys are requested before the first
/// lookup): find_all sets found[i] to the value of key_of(i), i < n (null:
/// absent), after reserving room for n more entries, so that those pointers stay
/// valid while the updates insert up to n new items. Callers go in chunks of at
/// most lookup_chunk, which bounds what the reserve adds to the table's capacity.
inline constexpr std::size_t lookup_chunk = 64;

template <class Map, class KeyOf>
void find_all(Map& map, std::size_t n, KeyOf&& key_of,
              std::vector<typename Map::mapped_type*>& found) {
  map.reserve(map.size() + n);
  found.resize(n);
  // The control bytes and slots of every key first, all at once; the finds
  // then mostly hit the cache.
  for (std::size_t i = 0; i < n; ++i)
    map.prefetch(key_of(i));
  for (std::size_t i = 0; i < n; ++i) {
    auto it = map.find(key_of(i));
    found[i] = it == map.end() ? nullptr : &it->second;
  }
}

} // namespace eddy::models
