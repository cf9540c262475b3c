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
// `threads` of them).

#include "cluster/config.hpp"
#include "schema/error.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

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
