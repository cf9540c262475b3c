// libFuzzer: the JSON Lines and JSON array readers and the normalizer on arbitrary
// bytes. The first byte picks the format and the time format.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::uint8_t mode = data[0];
  std::string toml = "name = \"fuzz\"\nformat = \"";
  toml += (mode & 1) ? "json_array" : "jsonl";
  toml += "\"\n[fields]\nuser = { pointer = \"/u/id\" }\n"
          "item = { pointer = \"/i\" }\ntype = { pointer = \"/t\" }\n"
          "ts = { pointer = \"/ts\", format = ";
  toml += (mode & 2) ? "\"iso8601\"" : "\"epoch_ms\"";
  toml += " }\nvalue = { pointer = \"/v\" }\n";
  if (mode & 4)
    toml += "[[filter]]\nfield = { pointer = \"/bot\" }\nop = \"absent\"\n";
  toml += "[limits]\nmax_line_bytes = 256\nmax_depth = 8\nmax_id_bytes = 16\n";
  eddy::fuzz::run(toml, reinterpret_cast<const char*>(data + 1), size - 1);
  return 0;
}
