#pragma once
// Numeric arrays as MessagePack bin (raw little-endian values, 4 bytes per
// float), shared by the node-to-node messages (actors/als_protocol.cpp) and the
// similar-items tables (actors/similar_table.cpp). CAF-free.

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace eddy::actors::bin {

template <class Packer, class T>
void pack(Packer& pk, const T* data, std::size_t n) {
  const auto bytes = n * sizeof(T);
  pk.pack_bin(static_cast<std::uint32_t>(bytes));
  pk.pack_bin_body(reinterpret_cast<const char*>(data), static_cast<std::uint32_t>(bytes));
}

template <class Packer, class T>
void pack(Packer& pk, const std::vector<T>& v) {
  pack(pk, v.data(), v.size());
}

/// Copies exactly n values; throws std::runtime_error on a type or size mismatch.
template <class T>
void read_into(const msgpack::object& o, T* out, std::size_t n) {
  if (o.type != msgpack::type::BIN || o.via.bin.size != n * sizeof(T))
    throw std::runtime_error{"numeric array of the wrong size"};
  if (n > 0) std::memcpy(out, o.via.bin.ptr, n * sizeof(T));
}

/// The whole array; throws std::runtime_error if it is not one.
template <class T>
std::vector<T> read(const msgpack::object& o) {
  if (o.type != msgpack::type::BIN || o.via.bin.size % sizeof(T) != 0)
    throw std::runtime_error{"not a numeric array"};
  std::vector<T> v(o.via.bin.size / sizeof(T));
  read_into(o, v.data(), v.size());
  return v;
}

} // namespace eddy::actors::bin
