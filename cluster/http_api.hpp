#pragma once
// The HTTP API of a node (issue 7; every endpoint in web/openapi.yaml): JSON
// queries, POST /v1/events and the /p.gif tracking pixel into ingest,
// Prometheus /metrics, /healthz, and the dashboard's files (web/, compiled into
// the binary).
//
// No CAF here. The server runs on its own bounded thread pool and answers every
// request by asking its own node over the ZeroMQ client protocol the CLI uses
// (cluster/client.hpp: [correlation, command, args] to the ingest ROUTER, a
// JSON reply; events go as producer batches, schema/WIRE.md). So an endpoint
// answers exactly what `eddy trending|popular|series|status|recommend --json`
// print, and events from HTTP are acked, deduplicated and stored like any
// producer's. Each worker thread borrows one DEALER from a pool (at most
// `threads` of them). Some requests skip the round trip through the node's
// gateway: similar-item queries about the node's own items (`local_similar`,
// given by the node: the same bytes from the same table), /v1/similar/{item}
// for another node's item (forwarded to that owner's HTTP server, which
// answers it locally: `owner_http`), and GET /v1/model, read from the node's
// models directory. GET routes are matched on the raw target's segments, each
// percent-decoded once, so ids may hold '/' (%2F).

#include "cluster/config.hpp"
#include "schema/error.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {
class interaction_registry;
}

namespace eddy::cluster {

struct http_api_options {
  std::string node_id;       ///< shown in answers and logs
  std::string node_endpoint; ///< this node's ingest endpoint, tcp://HOST:PORT
  std::string listen = "127.0.0.1";
  std::uint16_t port = 0; ///< 0: any free port (tests)
  http_config http;
  std::uint64_t max_frame_bytes = 4u
                                  << 20; ///< the node's limits.max_frame_bytes
  const interaction_registry* registry =
      nullptr;                                  ///< type names of POSTed events
  std::function<void(const std::string&)> warn; ///< log sink (may be empty)
  /// DATA_DIR/NODE/models of this node (empty: unknown). GET /v1/model reads
  /// the current model's files there (similar.current's SIMILAR.json;
  /// MODEL.json and EVAL.json of the model when this node trained it).
  std::string models_dir;
  /// Answers a "similar" query (the client command's args) in the calling HTTP
  /// thread, with exactly the bytes the node's gateway would answer, or nullopt
  /// when it cannot (an item this node does not own, no table loaded): then the
  /// request goes to the node over ZeroMQ as before. Called concurrently from
  /// every HTTP thread. Empty: always over ZeroMQ.
  struct similar_answer {
    std::string json;  ///< the answer's body
    std::string table; ///< id of the table it came from (actors::table_id)
  };
  std::function<std::optional<similar_answer>(std::string_view args)> local_similar;
  /// Id of this node's current similar-items table ("" while it has none). A
  /// node keeps the answers an owner gave it for /v1/similar/{item}
  /// (http.similar_cache_entries of them) and answers the same request again
  /// itself while the owner's table and its own have the same id: the lists of
  /// one ALS run, which never change. Empty: nothing is kept.
  std::function<std::string()> similar_table;
  /// The node that owns `item` and the http://HOST:PORT its HTTP server is
  /// reachable at from here, when that is another node; nullopt otherwise. A
  /// /v1/similar/{item} request for such an item is forwarded there (its owner
  /// answers from its own table what this node's gateway would have asked it
  /// for), and goes over ZeroMQ if the owner's server does not answer as that
  /// node. Empty: never forwarded.
  struct peer_http {
    std::string node_id, url;
  };
  std::function<std::optional<peer_http>(std::string_view item)> owner_http;
};

class http_api {
 public:
  /// Binds (errors name the address and what to change) and starts serving.
  static expected<std::unique_ptr<http_api>> start(const http_api_options& opt);
  ~http_api(); ///< stop()
  /// Stops accepting, finishes the requests in progress, joins the threads.
  void stop();
  /// http://LISTEN:PORT
  std::string url() const;

 private:
  struct impl;
  explicit http_api(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// The GIF the pixel answers with (1x1, transparent): 43 bytes.
std::string pixel_gif();

} // namespace eddy::cluster
