#include "models/metrics.hpp"

#include "models/assert.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace eddy::models {

namespace {

bool contains(std::span<const std::int32_t> relevant, std::int32_t id) {
  return std::binary_search(relevant.begin(), relevant.end(), id);
}

// Discount of 0-based position i.
double discount(std::size_t i) {
  return 1.0 / std::log2(static_cast<double>(i) + 2.0);
}

void check_relevant(std::span<const std::int32_t> relevant) {
  EDDY_ASSERT(std::adjacent_find(relevant.begin(), relevant.end(),
                                 std::greater_equal<>{}) == relevant.end());
}

} // namespace

std::vector<std::int32_t> make_relevant(std::vector<std::int32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::size_t hits_at(std::span<const std::int32_t> ranked,
                    std::span<const std::int32_t> relevant, std::size_t k) {
  check_relevant(relevant);
  const std::size_t n = std::min(k, ranked.size());
  std::size_t hits = 0;
  for (std::size_t i = 0; i < n; ++i)
    hits += contains(relevant, ranked[i]) ? 1 : 0;
  return hits;
}

double precision_at(std::span<const std::int32_t> ranked,
                    std::span<const std::int32_t> relevant, std::size_t k) {
  EDDY_ASSERT(k > 0);
  if (relevant.empty()) return 0.0;
  return static_cast<double>(hits_at(ranked, relevant, k)) /
         static_cast<double>(k);
}

double capped_precision_at(std::span<const std::int32_t> ranked,
                           std::span<const std::int32_t> relevant,
                           std::size_t k) {
  EDDY_ASSERT(k > 0);
  if (relevant.empty()) return 0.0;
  return static_cast<double>(hits_at(ranked, relevant, k)) /
         static_cast<double>(std::min(k, relevant.size()));
}

double recall_at(std::span<const std::int32_t> ranked,
                 std::span<const std::int32_t> relevant, std::size_t k) {
  EDDY_ASSERT(k > 0);
  if (relevant.empty()) return 0.0;
  return static_cast<double>(hits_at(ranked, relevant, k)) /
         static_cast<double>(relevant.size());
}

double average_precision_at(std::span<const std::int32_t> ranked,
                            std::span<const std::int32_t> relevant,
                            std::size_t k) {
  EDDY_ASSERT(k > 0);
  check_relevant(relevant);
  if (relevant.empty()) return 0.0;
  const std::size_t n = std::min(k, ranked.size());
  std::size_t hits = 0;
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (contains(relevant, ranked[i])) {
      ++hits;
      sum += static_cast<double>(hits) / static_cast<double>(i + 1);
    }
  }
  return sum / static_cast<double>(std::min(k, relevant.size()));
}

double average_precision(std::span<const std::int32_t> ranked,
                         std::span<const std::int32_t> relevant) {
  return average_precision_at(
      ranked, relevant,
      std::max<std::size_t>({ranked.size(), relevant.size(), 1}));
}

double ndcg_at(std::span<const std::int32_t> ranked,
               std::span<const std::int32_t> relevant, std::size_t k) {
  EDDY_ASSERT(k > 0);
  check_relevant(relevant);
  if (relevant.empty()) return 0.0;
  double dcg = 0.0, ideal = 0.0;
  const std::size_t n = std::min(k, ranked.size());
  for (std::size_t i = 0; i < n; ++i)
    if (contains(relevant, ranked[i])) dcg += discount(i);
  for (std::size_t i = 0; i < std::min(k, relevant.size()); ++i)
    ideal += discount(i);
  return dcg / ideal;
}

double ndcg_at(std::span<const std::int32_t> ranked,
               std::span<const std::int32_t> relevant,
               std::span<const double> relevance, std::size_t k) {
  EDDY_ASSERT(k > 0);
  EDDY_ASSERT(relevant.size() == relevance.size());
  check_relevant(relevant);
  if (relevant.empty()) return 0.0;
  auto gain = [](double rel) { return std::exp2(rel) - 1.0; };
  double dcg = 0.0;
  const std::size_t n = std::min(k, ranked.size());
  for (std::size_t i = 0; i < n; ++i) {
    auto it = std::lower_bound(relevant.begin(), relevant.end(), ranked[i]);
    if (it != relevant.end() && *it == ranked[i])
      dcg += gain(relevance[static_cast<std::size_t>(it - relevant.begin())]) *
             discount(i);
  }
  std::vector<double> best(relevance.begin(), relevance.end());
  std::sort(best.begin(), best.end(), std::greater<>{});
  double ideal = 0.0;
  for (std::size_t i = 0; i < std::min(k, best.size()); ++i)
    ideal += gain(best[i]) * discount(i);
  return ideal > 0.0 ? dcg / ideal : 0.0;
}

void ranking_summary::add(std::span<const std::int32_t> ranked,
                          std::span<const std::int32_t> relevant) {
  ++queries;
  if (relevant.empty()) return; // scores 0 everywhere
  const std::size_t h = hits_at(ranked, relevant, k);
  const std::size_t slots = std::min(k, relevant.size());
  precision += static_cast<double>(h) / static_cast<double>(k);
  capped_precision += static_cast<double>(h) / static_cast<double>(slots);
  recall += static_cast<double>(h) / static_cast<double>(relevant.size());
  map += average_precision_at(ranked, relevant, k);
  ndcg += ndcg_at(ranked, relevant, k);
  hits += h;
  capped_slots += slots;
}

void ranking_summary::merge(const ranking_summary& other) {
  EDDY_ASSERT(k == other.k);
  queries += other.queries;
  precision += other.precision;
  capped_precision += other.capped_precision;
  recall += other.recall;
  map += other.map;
  ndcg += other.ndcg;
  hits += other.hits;
  capped_slots += other.capped_slots;
}

} // namespace eddy::models
