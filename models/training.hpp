#pragma once
// ALS training data from interaction events (DESIGN.md §5): strengths r(user,
// item), confidences, dense id maps and the CSR matrices models/als.hpp fits.
// Pure (std + Eigen); the caller turns its events into `interaction`s (the CLI
// from the shard logs or a normalized file) and passes the registry's weights.
//
// Exact semantics:
//   w(e)     = type_weights[e.type]                 (configs/interactions.toml)
//   decay(e) = 0.5 ^ (max(0, reference_ts - e.ts) / half_life_ms), or 1 when
//              half_life_ms == 0. Events newer than the reference count fully.
//   r(u, i)  = sum over the pair's events of w(e) * decay(e)  (each term in
//              double, rounded to float, summed in float in input order)
//   A pair is observed (preference p = 1, stored in the matrices) iff r > 0;
//   pairs whose events all have weight 0 (remove_from_cart, other) are not
//   stored, exactly like pairs without events (p = 0, c = 1). Users and items
//   are numbered iff they have an event of positive weight (a decay that
//   underflows to 0 can leave a numbered user with an empty row).
//   c(u, i)  = 1 + alpha * r(u, i) for observed pairs (models::confidences).
//   Ids: users -> rows and items -> columns in ascending byte order of the id
//   strings, so the maps depend on the set of ids only, never on event order.
//
// Conventions, Spark vs `implicit` (both implement Hu, Koren & Volinsky):
//   - Spark ALS(implicitPrefs): c = 1 + alpha * |r|, p = (r > 0), and each
//     row's regularization is scaled by its number of ratings (ALS-WR).
//   - `implicit` (cpu/_als.pyx): c = alpha * value, the stored value itself
//     scaled, with no "1 +"; p = 1 for positive values (a negative value means
//     p = 0 with confidence |value|); a constant reg * I for every row.
//   eddy takes Spark's confidence and preference and `implicit`'s
//   regularization, which is what models/als.cpp implements: p = 1 for every
//   stored entry with c = 1 + alpha * r (so an observed pair never weighs less
//   than an unobserved one, whatever alpha), and a constant reg * I added once
//   through gram() - per-row scaling would break the one-gram-per-half-step
//   structure the distributed coordinator broadcasts. Weights are never
//   negative (the registry rejects them), so 1 + alpha * r is Spark's
//   1 + alpha * |r|, and dropping r == 0 pairs gives Spark's p = (r > 0).
//   Consequences: reg is not comparable with Spark's regParam (eddy's is not
//   divided among a row's ratings; MovieLens wants 50), and eddy's alpha a
//   matches `implicit`'s a + 1 only when every r is 1.

#include "models/als.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::models {

/// One interaction, as ALS sees it. `type` indexes
/// training_options::type_weights (the registry's type id).
struct interaction {
  std::string user;
  std::string item;
  std::uint8_t type = 0;
  std::int64_t ts = 0; ///< ms since the epoch
};

/// Dense ids: index <-> opaque id string, ids in ascending byte order.
class id_map {
 public:
  id_map() = default;
  /// Sorts and deduplicates `ids`.
  explicit id_map(std::vector<std::string> ids);

  std::int32_t size() const { return static_cast<std::int32_t>(ids_.size()); }
  const std::string& id(std::int32_t index) const {
    return ids_[static_cast<std::size_t>(index)];
  }
  /// The index of `id`, or nullopt (binary search).
  std::optional<std::int32_t> find(std::string_view id) const;
  const std::vector<std::string>& ids() const { return ids_; }

 private:
  std::vector<std::string> ids_;
};

struct training_options {
  /// Weight per type id; types not set weigh 0 (their events are ignored).
  std::array<float, 256> type_weights{};
  float alpha = 1.0F;        ///< c = 1 + alpha * r
  double half_life_ms = 0.0; ///< 0 = no decay
  /// Age is measured from here; nullopt = the newest event's ts.
  std::optional<std::int64_t> reference_ts;

  /// Every type weighs `w` (e.g. "every rating counts as one").
  static training_options uniform(float w = 1.0F) {
    training_options o;
    o.type_weights.fill(w);
    return o;
  }
};

struct training_data {
  id_map users;        ///< row -> user id
  id_map items;        ///< column -> item id
  csr_matrix strength; ///< r(u, i) > 0, users x items
  csr_matrix conf;     ///< 1 + alpha * r, users x items (what fit() takes)
  csr_matrix conf_t;   ///< conf transposed, items x users
  std::int64_t reference_ts = 0;
  std::uint64_t events = 0;      ///< events read
  std::uint64_t zero_weight = 0; ///< events with weight 0 (ignored)
};

/// Builds r, c and the id maps as described above. Deterministic: the result
/// depends on the multiset of events (up to float summation order for pairs
/// with several events, which follows the input order).
training_data build_training_data(std::span<const interaction> events,
                                  const training_options& o);

} // namespace eddy::models
