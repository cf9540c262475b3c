#pragma once
// "You May Also Like" candidates: bucketed random-projection LSH over
// L2-normalized item factors, with exact cosine re-ranking (DESIGN.md §5).
//
// The hash (Datar, Immorlica, Indyk & Mirrokni 2004, p-stable LSH for L2):
//   h_j(x) = floor(r_j . x / w + b_j),  r_j ~ N(0, I_d),  b_j ~ U[0, 1)
// For unit vectors, |x - y|^2 = 2 (1 - cos(x, y)), so near in L2 is near in
// cosine, and r_j . (x - y) ~ N(0, |x - y|^2): the closer two items, the more
// likely they share h_j. w (bucket_length) is in units of the projection's
// spread for a unit vector (r_j . x ~ N(0, 1) over r_j).
// A table concatenates K hashes into one bucket key (all K must match: fewer
// false candidates); L independent tables OR their buckets back (more recall).
// Multi-probe (Lv et al. 2007, query-directed, single-coordinate
// perturbations): besides its own bucket, a query also visits, per table, the
// `probes` buckets that differ from its own by one in one coordinate j, those
// whose boundary is nearest first (distance frac(z_j) to h_j - 1,
// 1 - frac(z_j) to h_j + 1, z_j = r_j . x / w + b_j).
//
// A query item's candidates are the distinct other items in the buckets it
// visits (each candidate is scored once however many tables it shares with
// the query; the item itself never is). They are re-ranked by exact cosine,
// and the top n kept with models/similar.hpp's conventions (best first, ties
// by id, -1 padding).
//
// The whole table (table(), probes == 0) is a bucket join instead of n
// queries, the way the distributed join runs it: per table, every bucket's
// members are gathered into one contiguous block and each unordered pair in
// it is scored once and offered to both items' top-n lists. A pair sharing
// buckets in several tables is offered again with the bit-identical score
// (one dot kernel, dot(a, b) == dot(b, a)), and a list skips a key it
// already holds, so each list ends as the top-n of the item's DISTINCT
// candidates: exactly query()'s answer, whatever the order of the offers.
// Threads take chunks of buckets (join_buckets), each into its own lists,
// merged at the end (union, duplicates dropped, best n): the same table for
// any thread count, and for any split of the buckets over processes
// (merge_neighbor_lists). With probes > 0, or n >= 256, table() runs query()
// for every item instead.
//
// Keys: key(x) = XOR_j mix(salt_tj + h_j), a 64-bit mixer over a per-(table,
// coordinate) random salt, so a neighbouring bucket's key is one XOR away.
// Two different buckets with one key would only add candidates (re-ranking
// is exact), never lose any.

#include "models/als.hpp"
#include "models/assert.hpp"
#include "models/similar.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace eddy::models {

/// Buckets to join: bucket b is members[offsets[b] .. offsets[b + 1]), row ids
/// (contiguous buffers, STYLE.md habit 3). A distributed join sends each
/// worker a bucket_list over the rows it was given.
struct bucket_list {
  std::vector<std::int32_t> members;
  std::vector<std::uint32_t> offsets{0};

  std::size_t size() const { return offsets.size() - 1; }
  std::span<const std::int32_t> operator[](std::size_t b) const {
    return {members.data() + offsets[b], offsets[b + 1] - offsets[b]};
  }
  void add(std::span<const std::int32_t> bucket) {
    EDDY_ASSERT(members.size() + bucket.size() <= UINT32_MAX);
    members.insert(members.end(), bucket.begin(), bucket.end());
    offsets.push_back(static_cast<std::uint32_t>(members.size()));
  }
};

/// LSH settings. The defaults give recall@10 ~0.98 on the MovieLens preset's
/// ALS item factors (tests/models/lsh_test.cpp asserts >= 0.95; those
/// neighbours are far: median 10th cosine ~0.75, so ~30% of items end up
/// compared) and ~0.98 on 100k clustered vectors (bench/lsh_bench.cpp).
/// More tables or a longer w: more recall, more comparisons; a larger K:
/// fewer comparisons, less recall per table.
struct lsh_params {
  int tables = 48;            ///< L
  int projections = 8;        ///< K hashes per table key
  float bucket_length = 2.2F; ///< w
  int probes = 0;             ///< extra buckets per table, in [0, 2K]
  std::uint64_t seed = 42;    ///< projections and offsets
  int threads = 1;            ///< std::threads for build and queries
};

/// nullopt if `p` is usable, else a message naming the bad key.
std::optional<std::string> validate(const lsh_params& p);

/// What a build or a query did (models never log: callers do).
struct lsh_stats {
  std::uint64_t buckets = 0;        ///< non-empty buckets, all tables
  std::uint64_t largest_bucket = 0; ///< items in the fullest bucket
  std::uint64_t probes = 0;         ///< bucket lookups by the queries
  std::uint64_t comparisons = 0;    ///< cosines computed (query(): one per
                                    ///< distinct candidate; the join: one
                                    ///< per pair per shared bucket)
};

class lsh_index {
 public:
  /// Hashes every row of `normalized` (normalize_rows() output; kept for
  /// re-ranking) into p.tables tables. Precondition: validate(p) passes.
  lsh_index(factor_matrix normalized, const lsh_params& p);

  /// Top-n similar items of each of `items`, one row per item in that order.
  /// `stats` (if given) receives the query counters.
  neighbor_table query(std::span<const std::int32_t> items, std::size_t n,
                       lsh_stats* stats = nullptr) const;

  /// The whole similar-items table: row i is item i (== query() of every
  /// item, see above).
  neighbor_table table(std::size_t n, lsh_stats* stats = nullptr) const;

  /// The distinct candidates of `item`, ascending (what query() re-ranks).
  std::vector<std::int32_t> candidates(std::int32_t item) const;

  /// Every bucket with two or more members, table by table, and (if `keys`)
  /// each one's key: the work of table(n), to spread over join workers.
  bucket_list buckets(std::vector<std::uint64_t>* keys = nullptr) const;

  /// Bucket key of `item` in table `t`, and the items of a bucket, ascending
  /// (empty if no item has that key): what a distributed join spreads.
  std::uint64_t key(std::int32_t item, int t) const;
  std::span<const std::int32_t> bucket(int t, std::uint64_t key) const;

  const factor_matrix& vectors() const { return x_; }
  const lsh_params& params() const { return p_; }
  /// Build counters (buckets, largest_bucket).
  const lsh_stats& build_stats() const { return build_; }

 private:
  struct slot {
    std::uint64_t key = 0;
    std::uint32_t begin = 0;
    std::uint32_t count = 0; // 0 = empty slot
  };
  struct table_index {
    std::vector<std::int32_t> items; // sorted by (key, item)
    std::vector<slot> slots;         // open addressing, power-of-two size
  };
  struct scratch;

  std::uint64_t coordinate_hash(int t, int j, std::int32_t h) const;
  const slot* find(int t, std::uint64_t key) const;
  void gather(std::int32_t item, scratch& s) const;
  neighbor_table join(std::size_t n, lsh_stats* stats) const;
  void query_rows(std::span<const std::int32_t> items,
                  std::span<const std::size_t> order, std::size_t n,
                  neighbor_table& out, lsh_stats* stats) const;

  factor_matrix x_;
  lsh_params p_;
  std::vector<std::uint64_t> salts_; // tables * projections
  factor_matrix z_;                  // items x (tables * projections)
  std::vector<std::uint64_t> keys_;  // items x tables
  std::vector<table_index> tables_;
  lsh_stats build_;
};

/// The bucket join (see the top of this file): every pair of rows sharing a
/// bucket is scored with the one dot kernel and offered to both rows' top-n
/// lists; row i of the result is row i of `normalized` (rows in no bucket get
/// empty, -1 padded lists). `threads` std::threads take chunks of buckets; the
/// result does not depend on it nor on how the buckets are split or ordered.
/// n in [1, 255]. `comparisons` (if given) receives the pairs scored.
neighbor_table join_buckets(const factor_matrix& normalized,
                            const bucket_list& buckets, std::size_t n,
                            int threads = 1,
                            std::uint64_t* comparisons = nullptr);

/// Merges partial tables whose rows (part.query) and neighbour ids are item
/// ids in [0, items): each item's list becomes the top-n of the distinct
/// neighbours of all its rows (the same pair has the same score everywhere).
/// Row i of the result is item i. What a distributed join's coordinator does
/// with its workers' answers: with the buckets of lsh_index::buckets() split
/// in any way over workers, the merge equals lsh_index::table(n).
neighbor_table merge_neighbor_lists(std::int32_t items, std::size_t n,
                                    std::span<const neighbor_table> parts);

/// Convenience: lsh_index(normalized, p).table(n).
neighbor_table lsh_top_n(const factor_matrix& normalized, std::size_t n,
                         const lsh_params& p, lsh_stats* stats = nullptr);

} // namespace eddy::models
