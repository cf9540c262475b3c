#pragma once
// EDDY_ASSERT: the always-on check for bugs (STYLE.md habit 8). It lives in the
// bottom layer so that models/ can use it; schema/error.hpp re-exports it.

#include <cstdio>
#include <cstdlib>

#define EDDY_ASSERT(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
