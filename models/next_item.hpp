#pragma once
// Next-item evaluation of item-to-item lists ("You May Also Like", `eddy
// eval`, issue 6 point 5): is a user's next item in the list of the item they
// had just before?
//
// Protocol, on a split of models/evaluation.hpp (split_per_user or split_at)
// and the training_data built from its training events:
//   - previous item of a user = the item of their LAST training event, by
//     (ts, position in the training events), among events of positive type
//     weight (so the item has a training column, and the user a row).
//   - next item = the item of their FIRST test event, by (ts, position in the
//     test events), among the test events that have a positive type weight,
//     whose item has a training column and that differ from the previous item.
//     An item the user already had earlier in training still counts (the
//     lists are not personalized; MovieLens rates a movie once, so there it
//     never happens).
//   - dropped, per user with test events: users without a training row
//     (cold), and users left with no next item (every test event had weight
//     0, an item unseen in training, or was the previous item again). The
//     test events of each of those kinds are counted too.
//   - every remaining user is one query (previous, next); a list provider is
//     a neighbor_table with a row per item; the query hits at rank r (1-based)
//     if `next` is the r-th id of the previous item's row, r <= k.
//     hit rate@k = hits / queries; MRR@k = mean of 1/r over queries (0 for a
//     miss).
// List providers (all neighbor_tables, best first, ties by id ascending, no
// item listed for itself, -1 padding; models/similar.hpp):
//   - exact kNN: exact_top_n over normalize_rows(ALS item factors);
//   - LSH: lsh_index(normalized, lsh_params{}).table(k), the product's table;
//   - co-occurrence: item j ranked for item i by the number of distinct
//     training users who have both (a stored pair in the training matrix);
//     items sharing no user with i are not listed;
//   - popularity: the most popular training items (fit_popularity: training
//     users per item, ties by id), skipping the item itself.
// models never log: evaluate_next_item returns counts, recall and seconds.

#include "models/als.hpp"
#include "models/evaluation.hpp"
#include "models/lsh.hpp"
#include "models/similar.hpp"
#include "models/training.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace eddy::models {

/// One query per kept user: three parallel vectors, sorted by user row.
struct next_item_queries {
  std::vector<std::int32_t> users;    ///< training rows
  std::vector<std::int32_t> previous; ///< column of the previous item
  std::vector<std::int32_t> next;     ///< column of the next item
  std::uint64_t test_users = 0;       ///< distinct users with a test event
  std::uint64_t cold_users = 0;       ///< dropped: no training row
  std::uint64_t no_next = 0;          ///< dropped: row, but no next item
  // Test events, by why they cannot be a next item (checked in this order):
  std::uint64_t events = 0;           ///< test events given
  std::uint64_t zero_weight = 0;      ///< weight-0 type
  std::uint64_t cold_user_events = 0; ///< user has no training row
  std::uint64_t cold_items = 0;       ///< item has no training column
  std::uint64_t repeats = 0;          ///< the user's previous item again

  std::size_t size() const { return users.size(); }
};

/// The queries described above. `train` must be build_training_data(
/// train_events, o) with o.type_weights == type_weights.
next_item_queries
make_next_item_queries(const training_data& train,
                       std::span<const interaction> train_events,
                       std::span<const interaction> test_events,
                       const std::array<float, 256>& type_weights);

/// Hit rate and MRR at k over queries.
struct hit_rate_summary {
  std::size_t k = 10;
  std::uint64_t queries = 0;
  std::uint64_t hits = 0;
  double reciprocal_rank_sum = 0.0; ///< sum of 1/rank over hits

  double hit_rate() const {
    return queries ? static_cast<double>(hits) / static_cast<double>(queries)
                   : 0.0;
  }
  double mrr() const {
    return queries ? reciprocal_rank_sum / static_cast<double>(queries) : 0.0;
  }
};

/// Scores `lists` (one row per item, any row order: rows are found through
/// lists.query) on `q`. Precondition: every previous item has a row, and
/// k <= lists.n.
hit_rate_summary next_item_hit_rate(const neighbor_table& lists,
                                    const next_item_queries& q, std::size_t k);

/// Co-occurrence lists from `users_items` (users x items; only the pattern of
/// stored entries counts): row i = the n items j != i with the most users
/// having both i and j (score = that count), ties by id ascending, -1 padded.
/// Computed as the sparse product (items x users)(users x items), one item
/// row at a time with a dense counter; `threads` std::threads, the result does
/// not depend on it.
neighbor_table cooccurrence_top_n(const csr_matrix& users_items, std::size_t n,
                                  int threads = 1);

/// Popularity lists: row i = the first n of m.ranked without i (score = the
/// item's training users).
neighbor_table popularity_top_n(const popularity_model& m, std::size_t n);

/// Everything `eddy eval` reports for the next-item protocol.
struct next_item_report {
  next_item_queries queries;
  hit_rate_summary lsh, exact, cooccurrence, popularity;
  lsh_params lsh_settings;
  lsh_stats lsh_build;      ///< counters of the table build
  double lsh_recall = 0.0;  ///< recall_at(LSH, exact, k): all items
  double lsh_seconds = 0.0; ///< index + table
  double exact_seconds = 0.0;
  double cooccurrence_seconds = 0.0;
  double popularity_seconds = 0.0;
};

/// The protocol for the four list providers at k, from the training data, the
/// split it was built from and the ALS item factors (train.items.size() rows).
/// `lsh` defaults to the product's settings; `threads` replaces lsh.threads
/// and runs exact kNN and co-occurrence (no result depends on it).
next_item_report evaluate_next_item(const training_data& train,
                                    const split_result& split,
                                    const factor_matrix& item_factors,
                                    const std::array<float, 256>& type_weights,
                                    std::size_t k, int threads = 1,
                                    lsh_params lsh = {});

} // namespace eddy::models
