#pragma once
// Bounded top-K with an exact, associative merge (DESIGN.md §4, STYLE.md habit
// 5).
//
// Entries are ordered by score (descending), ties broken by key (ascending), so
// the order is total and the kept set is "the k best of everything pushed".
// Hence merge() is exact, associative and commutative: the cluster-wide top-K
// is the merge of the shard top-Ks, because items are disjoint across shards.
// Precondition: a key is pushed at most once into a top_k and its merge
// partners (keys are not deduplicated). NaN scores are ignored.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace eddy::models {

template <class Key>
struct scored {
  Key key{};
  double score = 0.0;
  friend bool operator==(const scored&, const scored&) = default;
};

template <class Key>
class top_k {
 public:
  explicit top_k(std::size_t k = 10) : k_(k) {}

  /// Offers (key, score); kept if it is among the k best so far.
  void push(Key key, double score) {
    if (k_ == 0 || std::isnan(score)) return;
    scored<Key> e{std::move(key), score};
    if (items_.size() == k_ && !better(e, items_.back())) return;
    auto pos = std::upper_bound(items_.begin(), items_.end(), e, better);
    items_.insert(pos, std::move(e));
    if (items_.size() > k_) items_.pop_back();
  }

  /// Keeps the k best of this ∪ other (k is this one's capacity).
  void merge(const top_k& other) {
    std::vector<scored<Key>> out;
    out.reserve(std::min(k_, items_.size() + other.items_.size()));
    auto a = items_.begin();
    auto b = other.items_.begin();
    while (out.size() < k_ && (a != items_.end() || b != other.items_.end())) {
      if (b == other.items_.end() || (a != items_.end() && !better(*b, *a)))
        out.push_back(*a++);
      else
        out.push_back(*b++);
    }
    items_ = std::move(out);
  }

  /// Best first.
  const std::vector<scored<Key>>& items() const { return items_; }
  std::size_t capacity() const { return k_; }
  std::size_t size() const { return items_.size(); }

  friend bool operator==(const top_k&, const top_k&) = default;

 private:
  static bool better(const scored<Key>& x, const scored<Key>& y) {
    return x.score > y.score || (x.score == y.score && x.key < y.key);
  }

  std::size_t k_;
  std::vector<scored<Key>> items_; // sorted by better(), size <= k_
};

} // namespace eddy::models
