#include "models/trend_eval.hpp"

#include <algorithm>
#include <tuple>

namespace eddy::models {

trend_eval_result evaluate_trending(const std::vector<surge_truth>& surges,
                                    std::vector<trend_flag> flags,
                                    const trend_eval_params& p) {
  trend_eval_result r;
  std::sort(flags.begin(), flags.end(), [](const trend_flag& a, const trend_flag& b) {
    return std::tie(a.item, a.bucket) < std::tie(b.item, b.bucket);
  });
  auto overlaps = [&](const std::string& item, std::int64_t first, std::int64_t last) {
    for (auto& s : surges)
      if (s.item == item && first < s.end_bucket + p.grace_buckets && last >= s.start_bucket)
        return true;
    return false;
  };
  for (std::size_t i = 0; i < flags.size();) {
    alert a{flags[i].item, flags[i].bucket, flags[i].bucket, flags[i].score, false};
    std::size_t j = i + 1;
    while (j < flags.size() && flags[j].item == a.item &&
           flags[j].bucket - a.last <= p.merge_gap) {
      a.last = flags[j].bucket;
      a.best_score = std::max(a.best_score, flags[j].score);
      ++j;
    }
    a.true_alert = overlaps(a.item, a.first, a.last);
    r.true_alerts += a.true_alert ? 1 : 0;
    r.alerts.push_back(std::move(a));
    i = j;
  }
  std::vector<std::int64_t> delays;
  for (auto& s : surges) {
    surge_outcome o{s};
    for (auto& f : flags) {
      if (f.item != s.item || f.bucket < s.start_bucket ||
          f.bucket >= s.end_bucket + p.grace_buckets)
        continue;
      if (!o.detected) {
        o.detected = true;
        o.delay = f.bucket - s.start_bucket; // flags are sorted by bucket per item
      }
      o.best_score = std::max(o.best_score, f.score);
    }
    if (o.detected) {
      ++r.detected;
      delays.push_back(o.delay);
    }
    r.surges.push_back(std::move(o));
  }
  r.recall = surges.empty() ? 1.0
                            : static_cast<double>(r.detected) /
                                static_cast<double>(surges.size());
  r.precision = r.alerts.empty() ? (surges.empty() ? 1.0 : 0.0)
                                 : static_cast<double>(r.true_alerts) /
                                     static_cast<double>(r.alerts.size());
  if (!delays.empty()) {
    std::sort(delays.begin(), delays.end());
    auto n = delays.size();
    r.median_delay = n % 2 ? static_cast<double>(delays[n / 2])
                           : (static_cast<double>(delays[n / 2 - 1]) +
                              static_cast<double>(delays[n / 2])) / 2.0;
  }
  return r;
}

} // namespace eddy::models
