#pragma once
// Scoring a trending list against injected surges (DESIGN.md §4, `eddy
// score-trending`). Pure: the caller samples the list once per closed bucket and
// passes the flags.
//
//   flag      an item in the list for bucket b (score at or above the threshold)
//   alert     a run of one item's flags with gaps of at most merge_gap buckets
//   true      an alert that overlaps a surge of the same item, extended by
//             grace_buckets after its end (the forecast needs a few buckets to
//             catch up, and the excess of the last surge minutes is real)
//   precision true alerts / alerts        (1 when there are no alerts and no surges)
//   recall    surges with a flag inside [start, end + grace) / surges
//   delay     first such flag's bucket - the surge's start bucket (0 = flagged in
//             the very bucket the surge began)

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace eddy::models {

struct surge_truth {
  std::string item;
  std::int64_t start_bucket = 0;
  std::int64_t end_bucket = 0; ///< exclusive
};

struct trend_flag {
  std::int64_t bucket = 0;
  std::string item;
  double score = 0.0;
};

struct trend_eval_params {
  std::int64_t grace_buckets = 5;
  std::int64_t merge_gap = 3;
};

struct surge_outcome {
  surge_truth surge;
  bool detected = false;
  std::int64_t delay = -1;  ///< buckets; -1 when missed
  double best_score = 0.0;  ///< highest score flagged inside the window
};

struct alert {
  std::string item;
  std::int64_t first = 0, last = 0; ///< buckets, inclusive
  double best_score = 0.0;
  bool true_alert = false;
};

struct trend_eval_result {
  std::vector<surge_outcome> surges;
  std::vector<alert> alerts;
  std::size_t detected = 0, true_alerts = 0;
  double precision = 0.0, recall = 0.0;
  double median_delay = -1.0; ///< over detected surges; -1 if none
};

trend_eval_result evaluate_trending(const std::vector<surge_truth>& surges,
                                    std::vector<trend_flag> flags,
                                    const trend_eval_params& p = {});

} // namespace eddy::models
