#include "models/training.hpp"

#include "models/assert.hpp"

#include <algorithm>
#include <cmath>

namespace eddy::models {

id_map::id_map(std::vector<std::string> ids) : ids_(std::move(ids)) {
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  EDDY_ASSERT(ids_.size() <= static_cast<std::size_t>(INT32_MAX));
}

std::optional<std::int32_t> id_map::find(std::string_view id) const {
  auto it = std::lower_bound(ids_.begin(), ids_.end(), id,
                             [](const std::string& a, std::string_view b) {
                               return std::string_view{a} < b;
                             });
  if (it == ids_.end() || *it != id) return std::nullopt;
  return static_cast<std::int32_t>(it - ids_.begin());
}

training_data build_training_data(std::span<const interaction> events,
                                  const training_options& o) {
  EDDY_ASSERT(o.alpha >= 0.0F && o.half_life_ms >= 0.0);
  training_data d;
  d.events = events.size();
  std::int64_t newest = 0;
  bool any = false;
  std::vector<std::string> users, items;
  for (const auto& e : events) {
    newest = any ? std::max(newest, e.ts) : e.ts;
    any = true;
    if (o.type_weights[e.type] > 0.0F) {
      users.push_back(e.user);
      items.push_back(e.item);
    } else {
      ++d.zero_weight;
    }
  }
  d.reference_ts = o.reference_ts.value_or(newest);
  d.users = id_map{std::move(users)};
  d.items = id_map{std::move(items)};

  std::vector<triple> entries;
  entries.reserve(events.size() - d.zero_weight);
  for (const auto& e : events) {
    const float w = o.type_weights[e.type];
    if (!(w > 0.0F)) continue;
    double v = w;
    if (o.half_life_ms > 0.0) {
      const double age =
          static_cast<double>(std::max<std::int64_t>(0, d.reference_ts - e.ts));
      v *= std::exp2(-age / o.half_life_ms);
    }
    entries.push_back(
        {*d.users.find(e.user), *d.items.find(e.item), static_cast<float>(v)});
  }
  csr_matrix summed =
      csr_matrix::from_triples(d.users.size(), d.items.size(), entries);
  // Decay can underflow to 0: such pairs are unobserved (p = 0), not stored.
  if (std::find(summed.values.begin(), summed.values.end(), 0.0F) !=
      summed.values.end()) {
    std::vector<triple> kept;
    for (std::int32_t u = 0; u < summed.rows; ++u)
      for (auto j = summed.indptr[static_cast<std::size_t>(u)];
           j < summed.indptr[static_cast<std::size_t>(u) + 1]; ++j)
        if (summed.values[static_cast<std::size_t>(j)] > 0.0F)
          kept.push_back({u, summed.indices[static_cast<std::size_t>(j)],
                          summed.values[static_cast<std::size_t>(j)]});
    summed = csr_matrix::from_triples(summed.rows, summed.cols, kept);
  }
  d.strength = std::move(summed);
  d.conf = confidences(d.strength, o.alpha);
  d.conf_t = d.conf.transpose();
  return d;
}

} // namespace eddy::models
