#pragma once
// Every CAF message type and atom of eddy, in one place (STYLE.md habit 6). The
// payload structs are CAF-free; big payloads travel as shared_ptr (caf::message is
// copy-on-write, and these never leave the process).

#include "cluster/transport.hpp"
#include "schema/event.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace eddy::actors {

// Atom names are at most 10 characters and must not clash with caf's own
// (get, put, ok, tick, add, sys, ...).
using inbound_atom = caf::atom_constant<caf::atom("e_inbound")>;
using append_atom = caf::atom_constant<caf::atom("e_append")>;
using count_atom = caf::atom_constant<caf::atom("e_count")>;
using timer_atom = caf::atom_constant<caf::atom("e_timer")>;
using flush_atom = caf::atom_constant<caf::atom("e_flush")>;

/// One ZeroMQ message handed from the I/O thread to the gateway.
struct inbound {
  cluster::io_thread::socket_id socket = 0;
  cluster::frames msg;
};
using inbound_ptr = std::shared_ptr<inbound>;

/// A shard's part of a producer batch.
struct batch_part {
  std::string producer;
  std::uint64_t seq = 0;
  std::vector<event> events;
};
using part_ptr = std::shared_ptr<const batch_part>;
/// Several parts for one shard, from batches that arrived together: one message
/// (and one reply) instead of one per part.
using parts_ptr = std::shared_ptr<const std::vector<part_ptr>>;

} // namespace eddy::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eddy::actors::inbound_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eddy::actors::parts_ptr)
