#pragma once
// Offline evaluation of recommendations (`eddy eval`, DESIGN.md §5): splitting
// interactions in time, the popularity baseline, top-k recommendation from ALS
// factors, and the ranking metrics of models/metrics.hpp over test users.
//
// Protocol:
//   1. Split the events: split_per_user (each user's newest share by time) or
//      split_at (one global cutoff time).
//   2. Train on the training events only (build_training_data + fit, or
//      fit_popularity). Ids come from the training events.
//   3. make_test_sets: each user's relevant set is the distinct items of their
//      test events with a positive type weight ("every interaction counts as
//      one": strengths and repeats do not matter), minus
//        - items with no column (unseen in training: no model can rank them),
//        - items the user already has in training (recommendations filter
//          them, so they could never be hit),
//      and users with no row (unseen in training, cold start) are dropped.
//   4. Every user with a non-empty relevant set is a query: their top-k list
//      excludes their training items. Metrics are means over those users
//      (ranking_summary), plus `implicit`'s pooled precision.

#include "models/als.hpp"
#include "models/metrics.hpp"
#include "models/training.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace eddy::models {

struct split_result {
  std::vector<interaction> train;
  std::vector<interaction> test;
};

/// Per user: their events ordered by (ts, position in `events`); the last
/// floor(n * test_fraction) of a user's n events are test, the rest train.
/// (ml-latest-small users have >= 20 ratings, so each has >= 4 test events.)
split_result split_per_user(std::span<const interaction> events,
                            double test_fraction = 0.2);

/// ts < cutoff_ms -> train, ts >= cutoff_ms -> test.
split_result split_at(std::span<const interaction> events,
                      std::int64_t cutoff_ms);

struct test_sets {
  /// Per training row (user): relevant columns, sorted, unique.
  std::vector<std::vector<std::int32_t>> relevant;
  std::vector<std::int32_t> users; ///< rows with a non-empty relevant set
  std::uint64_t events = 0;        ///< test events given
  std::uint64_t zero_weight = 0;   ///< dropped: weight-0 type
  std::uint64_t cold_users = 0;    ///< dropped: user has no training row
  std::uint64_t cold_items = 0;    ///< dropped: item has no training column
  std::uint64_t seen = 0;          ///< dropped: user has the item in training
  std::uint64_t pairs = 0;         ///< kept (user, item) pairs (distinct)
};

test_sets make_test_sets(const training_data& train,
                         std::span<const interaction> test,
                         const std::array<float, 256>& type_weights);

/// Items ranked by how many training users have them (column nnz), ties by
/// column ascending.
struct popularity_model {
  std::vector<std::int32_t> ranked; ///< all columns, most popular first
  std::vector<std::int64_t> users;  ///< per column: training users
};
popularity_model fit_popularity(const training_data& train);

/// Top-k columns for each of `rows`, excluding the row's stored columns in
/// `seen` (users x items). Ranked lists, one per row, in the order of `rows`.
std::vector<std::vector<std::int32_t>>
recommend_popular(const popularity_model& m, const csr_matrix& seen,
                  std::span<const std::int32_t> rows, std::size_t k);

/// Same with scores x_u . y_i (ties by column ascending), `threads` over rows;
/// the result does not depend on `threads`.
std::vector<std::vector<std::int32_t>>
recommend_als(const factor_matrix& users, const factor_matrix& items,
              const csr_matrix& seen, std::span<const std::int32_t> rows,
              std::size_t k, int threads = 1);

/// The metrics of lists[j] against t.relevant[rows[j]].
ranking_summary score(const test_sets& t, std::span<const std::int32_t> rows,
                      const std::vector<std::vector<std::int32_t>>& lists,
                      std::size_t k);

/// Settings of one ALS evaluation run.
struct als_settings {
  als_params als;
  training_options data;
};

/// The settings tuned on ml-latest-small with the per-user 20% time split:
/// every rating weighs 1 (r = 1), alpha 5, 64 factors, reg 50, CG 3 steps,
/// 15 iterations. P@10 (capped) ~0.12 vs popularity ~0.08.
als_settings movielens_preset();

struct eval_report {
  training_data train;
  test_sets test;
  als_model model;
  ranking_summary als{10};
  ranking_summary popularity{10};
};

/// Steps 2-4 of the protocol for ALS and popularity on one split.
/// `on_iteration` sees fit()'s progress (may be empty).
eval_report evaluate_split(const split_result& split, const als_settings& s,
                           std::size_t k,
                           const iteration_callback& on_iteration = {});

} // namespace eddy::models
