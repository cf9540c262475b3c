#pragma once
// The files of web/ (dashboard, pixel.js, openapi.yaml), compiled into the
// binary by web/embed.cmake so every node serves them with no path at run time.

#include <span>
#include <string_view>

namespace eddy::web {

struct asset {
  std::string_view path;         ///< "/index.html", "/pixel.js", ...
  std::string_view content_type; ///< from the file's extension
  std::string_view bytes;
};

/// Every embedded file, in the order of web/CMakeLists.txt.
std::span<const asset> assets();

} // namespace eddy::web
