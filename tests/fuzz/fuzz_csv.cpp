// libFuzzer: the CSV reader and normalizer on arbitrary bytes. The first byte picks
// the dialect (delimiter, header, quoting) so all paths get coverage.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::uint8_t mode = data[0];
  std::string toml = "name = \"fuzz\"\nformat = \"csv\"\n[csv]\n";
  toml += (mode & 1) ? "delimiter = \";\"\n" : "delimiter = \",\"\n";
  toml += (mode & 2) ? "header = false\n" : "header = true\n";
  toml += (mode & 4) ? "comment = \"#\"\n" : "";
  toml += (mode & 8) ? "quote = \"'\"\n" : "";
  if (mode & 2)
    toml += "[fields]\nuser = { column = 0 }\nitem = { column = 1 }\n"
            "type = { column = 2 }\nts = { column = 3, format = \"epoch_ms\" }\n"
            "value = { column = 4 }\n";
  else
    toml += "[fields]\nuser = { column = \"u\" }\nitem = { column = \"i\" }\n"
            "type = { column = \"t\" }\nts = { column = \"ts\", format = " +
            std::string{(mode & 16) ? "\"iso8601\"" : "\"epoch_s\""} +
            " }\nvalue = { column = \"v\" }\n";
  toml += "[limits]\nmax_line_bytes = 128\nmax_id_bytes = 16\n";
  std::string input;
  if (!(mode & 2))
    input = (mode & 1) ? "u;i;t;ts;v\n" : "u,i,t,ts,v\n";
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);
  eddy::fuzz::run(toml, input.data(), input.size());
  return 0;
}
