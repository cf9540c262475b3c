#pragma once
// Trending / popular / series queries (DESIGN.md §4), CAF-free: the argument
// syntax clients send, the node-to-node encoding (MessagePack), the exact merge
// of shard answers, and the JSON the asking client gets.
//
// A client sends [correlation, COMMAND, ARGS] to any node's ingest endpoint, with
// COMMAND one of trending, popular, series, tstats and ARGS a query string:
//   trending  k=10&type=cart&min_support=5       (type: a registry name; default all)
//   popular   k=10&type=view&by=window|decayed    (default by=window)
//   series    item=ITEM&type=cart
//   tstats    (no arguments): per-shard trending state sizes, stats and digests
// Any of them takes as_of=MS (event time to answer as of). Without it the node
// first asks every node for its newest event time and answers as of the newest:
// every shard then closes the same buckets, so the answer does not depend on how
// items are spread over shards and nodes.

#include "actors/messages.hpp"
#include "schema/error.hpp"

#include <string>
#include <string_view>

namespace eddy {
class interaction_registry;
}

namespace eddy::actors {

/// Parses a client's command and arguments; errors say what to fix.
expected<trend_request> parse_trend_request(std::string_view command, std::string_view args,
                                            const interaction_registry& registry);

/// Node-to-node encoding (both ends run the same build).
std::string encode_trend_request(const trend_request& r);
expected<trend_request> decode_trend_request(std::string_view bytes);
std::string encode_trend_answer(const trend_answer& a);
expected<trend_answer> decode_trend_answer(std::string_view bytes);

/// An empty answer ready to merge into (top-K capacity r.q.k).
trend_answer empty_answer(const trend_request& r);
/// Folds `from` into `into`: items are disjoint across shards, so the merged
/// top-K is exact; series come from the one shard that owns the item.
void merge_trend_answer(trend_answer& into, const trend_answer& from);

/// Who answered a cluster query (for the JSON reply).
struct query_meta {
  std::string queried_by;
  std::vector<std::string> unreachable;
  std::int64_t bucket_ms = 0;
  std::int64_t lateness_ms = 0;
};

/// The JSON reply to the client (one object; see the README for its fields).
std::string trend_answer_json(const trend_request& r, const trend_answer& a,
                              const query_meta& meta, const interaction_registry& registry);

} // namespace eddy::actors
