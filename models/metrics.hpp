#pragma once
// Ranking metrics for recommendations (DESIGN.md §5, `eddy eval`). Pure: a
// query is a ranked list of item ids (best first) and the set of relevant ids.
//
// Normalization, per query, with hits@k = relevant ids among ranked[0, min(k,
// n)):
//   precision_at(k)        hits@k / k                      (Spark precisionAt:
//   a
//                          list shorter than k, or fewer relevant ids than k,
//                          still divides by k)
//   capped_precision_at(k) hits@k / min(k, |relevant|)     (the `implicit`
//                          library's denominator; reaches 1 when every slot
//                          that could hold a relevant item does)
//   recall_at(k)           hits@k / |relevant|
//   average_precision_at(k) sum over hit ranks i (1-based, i <= k) of
//                          hits@i / i, divided by min(k, |relevant|)
//                          (Spark meanAveragePrecisionAt; `implicit` map@k)
//   average_precision()    the same over the whole list, divided by |relevant|
//                          (Spark meanAveragePrecision)
//   ndcg_at(k)             binary gains: DCG = sum_{i < n, ranked[i] relevant}
//                          1 / log2(i + 2) over n = min(k, max(|ranked|,
//                          |relevant|)); IDCG = the same with the first
//                          min(n, |relevant|) positions all relevant (Spark
//                          ndcgAt; `implicit` ndcg)
//   graded ndcg_at(k)      gain (2^rel - 1) / log2(i + 2); the ideal ranking is
//                          the relevant ids by relevance, descending (Spark
//                          uses the order the labels were given in, which
//                          equals this whenever they are given best first)
// A query whose relevant set is empty scores 0 on every metric (Spark's rule);
// averaging code decides whether to include such queries at all.
//
// Relevant sets are sorted, duplicate-free id vectors (make_relevant() builds
// one). Ranked lists should not repeat an id (a repeat that is relevant counts
// as a second hit, as in Spark).

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace eddy::models {

/// Sorts and deduplicates ids into a relevant set.
std::vector<std::int32_t> make_relevant(std::vector<std::int32_t> ids);

/// Relevant ids among ranked[0, min(k, ranked.size())).
std::size_t hits_at(std::span<const std::int32_t> ranked,
                    std::span<const std::int32_t> relevant, std::size_t k);

double precision_at(std::span<const std::int32_t> ranked,
                    std::span<const std::int32_t> relevant, std::size_t k);
double capped_precision_at(std::span<const std::int32_t> ranked,
                           std::span<const std::int32_t> relevant,
                           std::size_t k);
double recall_at(std::span<const std::int32_t> ranked,
                 std::span<const std::int32_t> relevant, std::size_t k);
double average_precision_at(std::span<const std::int32_t> ranked,
                            std::span<const std::int32_t> relevant,
                            std::size_t k);
double average_precision(std::span<const std::int32_t> ranked,
                         std::span<const std::int32_t> relevant);
double ndcg_at(std::span<const std::int32_t> ranked,
               std::span<const std::int32_t> relevant, std::size_t k);
/// Graded relevance: relevance[j] belongs to relevant[j] (same length).
/// Returns 0 if every relevance is 0.
double ndcg_at(std::span<const std::int32_t> ranked,
               std::span<const std::int32_t> relevant,
               std::span<const double> relevance, std::size_t k);

/// Means over queries at one k, with an associative merge (partial summaries
/// of disjoint query sets merge to the summary of their union).
struct ranking_summary {
  std::size_t k = 10;
  std::size_t queries = 0; ///< queries added, empty relevant sets included
  double precision = 0.0;  ///< sums of the per-query values; see mean()
  double capped_precision = 0.0;
  double recall = 0.0;
  double map = 0.0; ///< average_precision_at(k)
  double ndcg = 0.0;
  std::uint64_t hits = 0;         ///< pooled: sum of hits@k
  std::uint64_t capped_slots = 0; ///< pooled: sum of min(k, |relevant|)

  explicit ranking_summary(std::size_t at = 10) : k(at) {}

  void add(std::span<const std::int32_t> ranked,
           std::span<const std::int32_t> relevant);
  void merge(const ranking_summary& other);

  /// sum / queries (0 when there are none).
  double mean(double sum) const {
    return queries ? sum / static_cast<double>(queries) : 0.0;
  }
  double mean_precision() const { return mean(precision); }
  double mean_capped_precision() const { return mean(capped_precision); }
  double mean_recall() const { return mean(recall); }
  double mean_map() const { return mean(map); }
  double mean_ndcg() const { return mean(ndcg); }
  /// sum of hits / sum of min(k, |relevant|): `implicit`'s precision_at_k,
  /// which weighs users by their number of test items (micro average).
  double pooled_capped_precision() const {
    return capped_slots
               ? static_cast<double>(hits) / static_cast<double>(capped_slots)
               : 0.0;
  }
};

} // namespace eddy::models
