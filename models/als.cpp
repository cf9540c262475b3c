#include "models/als.hpp"

#include "models/assert.hpp"
#include "models/random.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <thread>

namespace eddy::models {

csr_matrix csr_matrix::from_triples(std::int32_t rows, std::int32_t cols,
                                    const std::vector<triple>& entries) {
  EDDY_ASSERT(rows >= 0 && cols >= 0);
  // Stable counting sort by row, then a stable sort by column inside each row
  // keeps duplicates in input order, so their sum is deterministic.
  std::vector<std::int64_t> counts(static_cast<std::size_t>(rows) + 1, 0);
  for (const auto& e : entries) {
    EDDY_ASSERT(e.row >= 0 && e.row < rows && e.col >= 0 && e.col < cols);
    ++counts[static_cast<std::size_t>(e.row) + 1];
  }
  std::partial_sum(counts.begin(), counts.end(), counts.begin());
  std::vector<std::size_t> order(entries.size());
  {
    auto next = counts;
    for (std::size_t i = 0; i < entries.size(); ++i)
      order[static_cast<std::size_t>(
          next[static_cast<std::size_t>(entries[i].row)]++)] = i;
  }
  csr_matrix m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.assign(static_cast<std::size_t>(rows) + 1, 0);
  m.indices.reserve(entries.size());
  m.values.reserve(entries.size());
  for (std::int32_t r = 0; r < rows; ++r) {
    auto b = order.begin() + counts[static_cast<std::size_t>(r)];
    auto e = order.begin() + counts[static_cast<std::size_t>(r) + 1];
    std::stable_sort(b, e, [&](std::size_t i, std::size_t j) {
      return entries[i].col < entries[j].col;
    });
    for (auto it = b; it != e; ++it) {
      const auto& t = entries[*it];
      auto row_start = m.indptr[static_cast<std::size_t>(r)];
      if (m.nnz() > row_start && m.indices.back() == t.col) {
        m.values.back() += t.value;
      } else {
        m.indices.push_back(t.col);
        m.values.push_back(t.value);
      }
    }
    m.indptr[static_cast<std::size_t>(r) + 1] = m.nnz();
  }
  return m;
}

csr_matrix csr_matrix::transpose() const {
  csr_matrix t;
  t.rows = cols;
  t.cols = rows;
  t.indptr.assign(static_cast<std::size_t>(cols) + 1, 0);
  for (auto c : indices)
    ++t.indptr[static_cast<std::size_t>(c) + 1];
  std::partial_sum(t.indptr.begin(), t.indptr.end(), t.indptr.begin());
  t.indices.resize(indices.size());
  t.values.resize(values.size());
  auto next = t.indptr;
  // Rows in increasing order, so each transposed row is sorted by column.
  for (std::int32_t r = 0; r < rows; ++r) {
    for (auto k = indptr[static_cast<std::size_t>(r)];
         k < indptr[static_cast<std::size_t>(r) + 1]; ++k) {
      auto c = static_cast<std::size_t>(indices[static_cast<std::size_t>(k)]);
      auto dst = static_cast<std::size_t>(next[c]++);
      t.indices[dst] = r;
      t.values[dst] = values[static_cast<std::size_t>(k)];
    }
  }
  return t;
}

csr_matrix confidences(const csr_matrix& r, float alpha) {
  csr_matrix c = r;
  for (auto& v : c.values)
    v = 1.0F + alpha * v;
  return c;
}

namespace {

// ---------------------------------------------------------------------------
// Kernels: the Gram sum and the CG row solves, the hot loops of fit().
//
// They are compiled for three instruction sets (AVX-512, AVX2, baseline SSE2;
// picked once per process from the CPU), yet give the SAME bits on all of
// them, because every floating-point operation is defined independently of
// the vector width:
//  - element-wise updates (out[i] += w * y[i], the Gram columns, G v as a sum
//    of columns in column order) have no reductions at all;
//  - a dot product always uses 16 lanes: lane l sums a[j] * b[j] for
//    j = l (mod 16) in increasing j, then the lanes are added in one fixed
//    tree (hsum); AVX-512 holds the 16 lanes in one register, AVX2 in 2 x 8,
//    SSE2 in 4 x 4;
//  - multiply and add stay separate roundings: no FMA contraction
//    (fp-contract=off below), since only some targets have FMA.
// So a row's result depends only on its inputs, never on threads, blocks or
// the CPU's vector unit.
// ---------------------------------------------------------------------------
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace simd {

constexpr int lanes = 16; ///< of every dot product, whatever the width

/// W floats in one vector register (W = 4 SSE2, 8 AVX2, 16 AVX-512).
template <int W>
struct vec {
  typedef float type __attribute__((vector_size(W * sizeof(float))));
};
template <int W>
using vf = typename vec<W>::type;

template <int W>
[[gnu::always_inline]] inline void load(vf<W>& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}
template <int W>
[[gnu::always_inline]] inline void store(float* p, const vf<W>& v) {
  std::memcpy(p, &v, sizeof v);
}

/// The 16 lanes held as 16 / W vectors, added in the fixed tree
/// s8[l] = a[l] + a[l+8], s4[l] = s8[l] + s8[l+4], (s4[0]+s4[2]) +
/// (s4[1]+s4[3]).
template <int W>
[[gnu::always_inline]] inline float hsum(const vf<W>* acc) {
  vf<4> s4;
  if constexpr (W == 16) {
    vf<8> lo, hi;
    std::memcpy(&lo, &acc[0], sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(&acc[0]) + sizeof lo,
                sizeof hi);
    const vf<8> s8 = lo + hi;
    vf<4> l4, h4;
    std::memcpy(&l4, &s8, sizeof l4);
    std::memcpy(&h4, reinterpret_cast<const char*>(&s8) + sizeof l4, sizeof h4);
    s4 = l4 + h4;
  } else if constexpr (W == 8) {
    const vf<8> s8 = acc[0] + acc[1];
    vf<4> l4, h4;
    std::memcpy(&l4, &s8, sizeof l4);
    std::memcpy(&h4, reinterpret_cast<const char*>(&s8) + sizeof l4, sizeof h4);
    s4 = l4 + h4;
  } else {
    static_assert(W == 4);
    s4 = (acc[0] + acc[2]) + (acc[1] + acc[3]);
  }
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/// The same 16-lane dot product in scalar code, for any k.
inline float dot_any(const float* a, const float* b, int k) {
  float acc[lanes] = {};
  const int full = k - k % lanes;
  int j = 0;
  if (full > 0) {
    for (int l = 0; l < lanes; ++l)
      acc[l] = a[l] * b[l];
    j = lanes;
  }
  for (; j < full; j += lanes)
    for (int l = 0; l < lanes; ++l)
      acc[l] += a[j + l] * b[j + l];
  for (int l = 0; j + l < k; ++l)
    acc[l] += a[j + l] * b[j + l];
  float s8[8], s4[4];
  for (int l = 0; l < 8; ++l)
    s8[l] = acc[l] + acc[l + 8];
  for (int l = 0; l < 4; ++l)
    s4[l] = s8[l] + s8[l + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/// a . b with k == K, a multiple of 16 (K > 0), in W-wide vectors.
template <int K, int W>
[[gnu::always_inline]] inline float dot(const float* a, const float* b) {
  constexpr int g = lanes / W;
  vf<W> acc[g];
  for (int i = 0; i < g; ++i) {
    vf<W> x, y;
    load<W>(x, a + i * W);
    load<W>(y, b + i * W);
    acc[i] = x * y;
  }
  for (int i = g; i < K / W; ++i) {
    vf<W> x, y;
    load<W>(x, a + i * W);
    load<W>(y, b + i * W);
    acc[i % g] += x * y;
  }
  return hsum<W>(acc);
}

/// a . b over k floats (K > 0: k == K and vectors of W; else scalar).
template <int K, int W>
[[gnu::always_inline]] inline float dot(const float* a, const float* b, int k) {
  if constexpr (K > 0)
    return dot<K, W>(a, b);
  else
    return dot_any(a, b, k);
}

/// out[i] += w * y[i].
[[gnu::always_inline]] inline void axpy(float w, const float* y, float* out,
                                        int k) {
  for (int i = 0; i < k; ++i)
    out[i] += w * y[i];
}

/// out = G v for a k x k column-major G, as sum_j G[:, j] v[j] in order of j.
template <int K, int W>
[[gnu::always_inline]] inline void gemv(const float* g, const float* v,
                                        float* out, int k) {
  if constexpr (K > 0) {
    constexpr int nb = K / W;
    vf<W> acc[nb];
    for (int b = 0; b < nb; ++b) {
      load<W>(acc[b], g + b * W);
      acc[b] *= v[0];
    }
    for (int j = 1; j < K; ++j)
      for (int b = 0; b < nb; ++b) {
        vf<W> col;
        load<W>(col, g + j * K + b * W);
        acc[b] += col * v[j];
      }
    for (int b = 0; b < nb; ++b)
      store<W>(out + b * W, acc[b]);
  } else {
    for (int i = 0; i < k; ++i)
      out[i] = g[i] * v[0];
    for (int j = 1; j < k; ++j)
      for (int i = 0; i < k; ++i)
        out[i] += g[static_cast<std::ptrdiff_t>(j) * k + i] * v[j];
  }
}

/// out += sum over the row's stored entries j of w(c_j, y_j . v) * y_j, with
/// y_j the factor row indices[j].
template <int K, int W, class Weight>
[[gnu::always_inline]] inline void
sparse_apply(const std::int32_t* idx, const float* conf, std::int64_t n,
             const float* y, const float* v, float* out, int k, Weight weight) {
  if constexpr (K > 0) {
    constexpr int nb = K / W;
    constexpr int g = lanes / W;
    constexpr int prefetch_distance = 8;
    // Registers: AVX-512 (32) holds v, out and y_j (3 x 4); AVX2 (16) only
    // out (8) for k = 64, reading v and y_j from L1; SSE2 none of them.
    constexpr int registers = W == 16 ? 32 : 16;
    constexpr bool all_in_registers = 3 * nb + g <= registers - 4;
    constexpr bool out_in_registers = nb + 2 * g <= registers - 4;
    static_assert(out_in_registers || !all_in_registers);
    vf<W> vv[all_in_registers ? nb : 1], acc[out_in_registers ? nb : 1];
    if constexpr (all_in_registers)
      for (int b = 0; b < nb; ++b)
        load<W>(vv[b], v + b * W);
    if constexpr (out_in_registers)
      for (int b = 0; b < nb; ++b)
        load<W>(acc[b], out + b * W);
    for (std::int64_t j = 0; j < n; ++j) {
      if (j + prefetch_distance < n) {
        const char* next = reinterpret_cast<const char*>(
            y + static_cast<std::ptrdiff_t>(idx[j + prefetch_distance]) * K);
        for (int line = 0; line < K * static_cast<int>(sizeof(float));
             line += 64)
          __builtin_prefetch(next + line);
      }
      const float* yj = y + static_cast<std::ptrdiff_t>(idx[j]) * K;
      if constexpr (all_in_registers) {
        vf<W> yv[nb];
        for (int b = 0; b < nb; ++b)
          load<W>(yv[b], yj + b * W);
        vf<W> d[g];
        for (int b = 0; b < g; ++b)
          d[b] = yv[b] * vv[b];
        for (int b = g; b < nb; ++b)
          d[b % g] += yv[b] * vv[b];
        const float w = weight(conf[j], hsum<W>(d));
        for (int b = 0; b < nb; ++b)
          acc[b] += w * yv[b];
      } else {
        const float w = weight(conf[j], dot<K, W>(yj, v));
        for (int b = 0; b < nb; ++b) {
          vf<W> yb;
          load<W>(yb, yj + b * W);
          if constexpr (out_in_registers) {
            acc[b] += w * yb;
          } else {
            vf<W> o;
            load<W>(o, out + b * W);
            o += w * yb;
            store<W>(out + b * W, o);
          }
        }
      }
    }
    if constexpr (out_in_registers)
      for (int b = 0; b < nb; ++b)
        store<W>(out + b * W, acc[b]);
  } else {
    for (std::int64_t j = 0; j < n; ++j) {
      const float* yj = y + static_cast<std::ptrdiff_t>(idx[j]) * k;
      axpy(weight(conf[j], dot_any(yj, v, k)), yj, out, k);
    }
  }
}

} // namespace simd

/// What the CG kernel reads and writes (raw pointers: the kernels take no
/// Eigen types).
struct cg_problem {
  const std::int64_t* indptr = nullptr;
  const std::int32_t* indices = nullptr;
  const float* values = nullptr;
  const float* y = nullptr; ///< m x k row-major
  const float* g = nullptr; ///< k x k column-major, Y^T Y + reg I
  float* x = nullptr;       ///< n x k row-major, updated in place
  int k = 0;
  int steps = 0;
};

/// CG for rows [first, last); work holds 3 k floats.
///   r = b - A x = sum_j (c_j - (c_j - 1) y_j.x) y_j - G x
///   A p = G p + sum_j (c_j - 1)(y_j.p) y_j
template <int K, int W>
[[gnu::always_inline]] inline void
cg_rows_impl(const cg_problem& pr, std::int32_t first, std::int32_t last,
             float* work) {
  const int k = K > 0 ? K : pr.k;
  float* r = work;
  float* p = work + k;
  float* ap = work + 2 * k;
  const auto residual_weight = [](float c, float s) {
    return c - (c - 1.0F) * s;
  };
  const auto product_weight = [](float c, float s) { return (c - 1.0F) * s; };
  for (std::int32_t u = first; u < last; ++u) {
    const auto begin = pr.indptr[u];
    const auto n = pr.indptr[u + 1] - begin;
    const std::int32_t* idx = pr.indices + begin;
    const float* conf = pr.values + begin;
    float* xu = pr.x + static_cast<std::ptrdiff_t>(u) * k;
    simd::gemv<K, W>(pr.g, xu, ap, k);
    for (int i = 0; i < k; ++i)
      r[i] = -ap[i];
    simd::sparse_apply<K, W>(idx, conf, n, pr.y, xu, r, k, residual_weight);
    std::memcpy(p, r, sizeof(float) * static_cast<std::size_t>(k));
    float rs_old = simd::dot<K, W>(r, r, k);
    if (rs_old < 1e-20F) continue;
    for (int it = 0; it < pr.steps; ++it) {
      simd::gemv<K, W>(pr.g, p, ap, k);
      simd::sparse_apply<K, W>(idx, conf, n, pr.y, p, ap, k, product_weight);
      const float pap = simd::dot<K, W>(p, ap, k);
      if (!(pap > 0.0F))
        break; // converged to rounding (or a singular direction): stop here
      const float step = rs_old / pap;
      simd::axpy(step, p, xu, k);
      simd::axpy(-step, ap, r, k);
      const float rs_new = simd::dot<K, W>(r, r, k);
      if (rs_new < 1e-20F) break;
      const float beta = rs_new / rs_old;
      for (int i = 0; i < k; ++i)
        p[i] = r[i] + beta * p[i];
      rs_old = rs_new;
    }
  }
}

/// Loss terms of rows [first, last) (see loss_rows): x^T G x and every stored
/// entry's (c - 1) s^2 - 2 c s + c, s = x.y_j; dot products in float with the
/// 16-lane kernel, each row's terms summed in double. work holds k floats.
template <int K, int W>
[[gnu::always_inline]] inline void
loss_rows_impl(const cg_problem& pr, std::int32_t first, std::int32_t last,
               float* work, double& value, double& confidence_sum) {
  const int k = K > 0 ? K : pr.k;
  for (std::int32_t u = first; u < last; ++u) {
    const float* xu = pr.x + static_cast<std::ptrdiff_t>(u) * k;
    simd::gemv<K, W>(pr.g, xu, work, k);
    double v = simd::dot<K, W>(xu, work, k);
    for (auto j = pr.indptr[u]; j < pr.indptr[u + 1]; ++j) {
      const double c = pr.values[j];
      const double sc = simd::dot<K, W>(
          xu, pr.y + static_cast<std::ptrdiff_t>(pr.indices[j]) * k, k);
      // c (1 - s)^2 replaces the 1 * s^2 already counted in x^T G x.
      v += (c - 1.0) * sc * sc - 2.0 * c * sc + c;
      confidence_sum += c;
    }
    value += v;
  }
}

template <int W>
[[gnu::always_inline]] inline void
loss_rows_k(const cg_problem& pr, std::int32_t first, std::int32_t last,
            float* work, double& value, double& confidence_sum) {
  switch (pr.k) {
  case 32:
    loss_rows_impl<32, W>(pr, first, last, work, value, confidence_sum);
    break;
  case 64:
    loss_rows_impl<64, W>(pr, first, last, work, value, confidence_sum);
    break;
  case 128:
    loss_rows_impl<128, W>(pr, first, last, work, value, confidence_sum);
    break;
  default:
    loss_rows_impl<0, W>(pr, first, last, work, value, confidence_sum);
    break;
  }
}

template <int W>
[[gnu::always_inline]] inline void cg_rows_k(const cg_problem& pr,
                                             std::int32_t first,
                                             std::int32_t last, float* work) {
  switch (pr.k) {
  case 32:
    cg_rows_impl<32, W>(pr, first, last, work);
    break;
  case 64:
    cg_rows_impl<64, W>(pr, first, last, work);
    break;
  case 128:
    cg_rows_impl<128, W>(pr, first, last, work);
    break;
  default:
    cg_rows_impl<0, W>(pr, first, last, work);
    break;
  }
}

/// out (k x k column-major) = sum over rows [first, last) of y_i y_i^T, in row
/// order, element by element, in T (float, or double: a product of two floats
/// is exact in double, so only the sums round).
template <class T>
[[gnu::always_inline]] inline void gram_rows_impl(const float* y, int k,
                                                  std::int64_t first,
                                                  std::int64_t last,
                                                  T* out) {
  const auto kk = static_cast<std::size_t>(k);
  std::memset(out, 0, sizeof(T) * kk * kk);
  std::int64_t i = first;
  // Four rows at a time (a column is loaded and stored once for all four);
  // the sum per element is still in row order.
  for (; i + 4 <= last; i += 4) {
    const float* a = y + i * k;
    const float* b = a + k;
    const float* c = b + k;
    const float* d = c + k;
    for (std::size_t j = 0; j < kk; ++j) {
      T* col = out + j * kk;
      const T aj = a[j], bj = b[j], cj = c[j], dj = d[j];
      for (std::size_t e = 0; e < kk; ++e)
        col[e] = (((col[e] + T(a[e]) * aj) + T(b[e]) * bj) + T(c[e]) * cj) +
                 T(d[e]) * dj;
    }
  }
  for (; i < last; ++i) {
    const float* a = y + i * k;
    for (std::size_t j = 0; j < kk; ++j) {
      T* col = out + j * kk;
      const T aj = a[j];
      for (std::size_t e = 0; e < kk; ++e)
        col[e] += T(a[e]) * aj;
    }
  }
}

// One entry point per instruction set; all share the code above.
[[gnu::target("avx512f")]] void cg_rows_avx512(const cg_problem& pr,
                                               std::int32_t first,
                                               std::int32_t last, float* work) {
  cg_rows_k<16>(pr, first, last, work);
}
[[gnu::target("avx2")]] void cg_rows_avx2(const cg_problem& pr,
                                          std::int32_t first, std::int32_t last,
                                          float* work) {
  cg_rows_k<8>(pr, first, last, work);
}
void cg_rows_sse2(const cg_problem& pr, std::int32_t first, std::int32_t last,
                  float* work) {
  cg_rows_k<4>(pr, first, last, work);
}
[[gnu::target("avx512f")]] void loss_rows_avx512(const cg_problem& pr, std::int32_t first,
                                                 std::int32_t last, float* work,
                                                 double& value, double& confidence_sum) {
  loss_rows_k<16>(pr, first, last, work, value, confidence_sum);
}
[[gnu::target("avx2")]] void loss_rows_avx2(const cg_problem& pr, std::int32_t first,
                                            std::int32_t last, float* work, double& value,
                                            double& confidence_sum) {
  loss_rows_k<8>(pr, first, last, work, value, confidence_sum);
}
void loss_rows_sse2(const cg_problem& pr, std::int32_t first, std::int32_t last,
                    float* work, double& value, double& confidence_sum) {
  loss_rows_k<4>(pr, first, last, work, value, confidence_sum);
}
[[gnu::target("avx512f")]] void gram_rows_avx512(const float* y, int k,
                                                 std::int64_t first,
                                                 std::int64_t last,
                                                 float* out) {
  gram_rows_impl(y, k, first, last, out);
}
[[gnu::target("avx2")]] void gram_rows_avx2(const float* y, int k,
                                            std::int64_t first,
                                            std::int64_t last, float* out) {
  gram_rows_impl(y, k, first, last, out);
}
void gram_rows_sse2(const float* y, int k, std::int64_t first,
                    std::int64_t last, float* out) {
  gram_rows_impl(y, k, first, last, out);
}
[[gnu::target("avx512f")]] void gram_rows_avx512(const float* y, int k,
                                                 std::int64_t first,
                                                 std::int64_t last,
                                                 double* out) {
  gram_rows_impl(y, k, first, last, out);
}
[[gnu::target("avx2")]] void gram_rows_avx2(const float* y, int k,
                                            std::int64_t first,
                                            std::int64_t last, double* out) {
  gram_rows_impl(y, k, first, last, out);
}
void gram_rows_sse2(const float* y, int k, std::int64_t first,
                    std::int64_t last, double* out) {
  gram_rows_impl(y, k, first, last, out);
}

#ifndef __clang__
#pragma GCC pop_options
#endif

/// 16, 8 or 4: the widest vectors this CPU (and OS) supports.
int cpu_vector_width() {
  static const int width = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2")) return 8;
    return 4;
  }();
  return width;
}

std::atomic<int> forced_vector_width{0}; // kernel_vector_width(force)

int vector_width() {
  const int forced = forced_vector_width.load(std::memory_order_relaxed);
  return forced > 0 ? std::min(forced, cpu_vector_width()) : cpu_vector_width();
}

void cg_rows(const cg_problem& pr, std::int32_t first, std::int32_t last,
             float* work) {
  switch (vector_width()) {
  case 16:
    cg_rows_avx512(pr, first, last, work);
    break;
  case 8:
    cg_rows_avx2(pr, first, last, work);
    break;
  default:
    cg_rows_sse2(pr, first, last, work);
    break;
  }
}

void loss_kernel(const cg_problem& pr, std::int32_t first, std::int32_t last,
                 float* work, double& value, double& confidence_sum) {
  switch (vector_width()) {
  case 16:
    loss_rows_avx512(pr, first, last, work, value, confidence_sum);
    break;
  case 8:
    loss_rows_avx2(pr, first, last, work, value, confidence_sum);
    break;
  default:
    loss_rows_sse2(pr, first, last, work, value, confidence_sum);
    break;
  }
}

template <class T>
void gram_rows(const float* y, int k, std::int64_t first, std::int64_t last,
               T* out) {
  switch (vector_width()) {
  case 16:
    gram_rows_avx512(y, k, first, last, out);
    break;
  case 8:
    gram_rows_avx2(y, k, first, last, out);
    break;
  default:
    gram_rows_sse2(y, k, first, last, out);
    break;
  }
}

/// Runs body(first, last) over [0, n) in chunks of `chunk`, handed out
/// dynamically to `threads` threads (the calling thread is one of them).
template <class Body>
void parallel_chunks(std::int64_t n, std::int64_t chunk, int threads,
                     const Body& body) {
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  const auto t = static_cast<int>(std::min<std::int64_t>(threads, chunks));
  std::atomic<std::int64_t> next{0};
  auto run = [&] {
    for (std::int64_t i;
         (i = next.fetch_add(1, std::memory_order_relaxed)) < chunks;)
      body(i * chunk, std::min(n, (i + 1) * chunk));
  };
  if (t <= 1) {
    run();
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(t - 1));
  for (int i = 1; i < t; ++i)
    pool.emplace_back(run);
  run();
  for (auto& th : pool)
    th.join();
}

} // namespace

int kernel_vector_width(int force) {
  EDDY_ASSERT(force == 0 || force == 4 || force == 8 || force == 16);
  if (force > 0) forced_vector_width.store(force, std::memory_order_relaxed);
  return vector_width();
}

namespace {

// Y^T Y in T: fixed blocks of rows, each summed by gram_rows, then the blocks
// added in block order: the same bits for any number of threads.
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> gram_blocks(const factor_matrix& y,
                                                             int threads) {
  using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  EDDY_ASSERT(threads >= 1);
  const auto k = y.cols();
  constexpr std::int64_t block = 2048;
  const std::int64_t n = y.rows();
  const std::int64_t blocks = std::max<std::int64_t>(1, (n + block - 1) / block);
  std::vector<matrix> partial(static_cast<std::size_t>(blocks), matrix(k, k));
  parallel_chunks(blocks, 1, threads, [&](std::int64_t b, std::int64_t) {
    gram_rows(y.data(), static_cast<int>(k), b * block, std::min(n, (b + 1) * block),
              partial[static_cast<std::size_t>(b)].data());
  });
  matrix g = partial[0];
  for (std::size_t b = 1; b < partial.size(); ++b)
    g += partial[b];
  return g;
}

} // namespace

Eigen::MatrixXf gram(const factor_matrix& y, float reg, int threads) {
  Eigen::MatrixXf g = gram_blocks<float>(y, threads);
  g.diagonal().array() += reg;
  return g;
}

Eigen::MatrixXd gram_double(const factor_matrix& y, int threads) {
  return gram_blocks<double>(y, threads);
}

namespace {

void check_shapes(const csr_matrix& c, const factor_matrix& y,
                  const Eigen::MatrixXf& yty, const factor_matrix& x) {
  EDDY_ASSERT(c.rows == x.rows() && c.cols == y.rows());
  EDDY_ASSERT(x.cols() == y.cols());
  EDDY_ASSERT(yty.rows() == y.cols() && yty.cols() == y.cols());
  EDDY_ASSERT(c.indptr.size() == static_cast<std::size_t>(c.rows) + 1);
}

void solve_cholesky(const csr_matrix& c, const factor_matrix& y,
                    const Eigen::MatrixXf& yty, factor_matrix& x,
                    std::int32_t u) {
  const auto k = y.cols();
  Eigen::MatrixXf a = yty;
  Eigen::VectorXf b = Eigen::VectorXf::Zero(k);
  for (auto j = c.indptr[static_cast<std::size_t>(u)];
       j < c.indptr[static_cast<std::size_t>(u) + 1]; ++j) {
    const float conf = c.values[static_cast<std::size_t>(j)];
    auto yi = y.row(c.indices[static_cast<std::size_t>(j)]).transpose();
    a.selfadjointView<Eigen::Lower>().rankUpdate(yi, conf - 1.0F);
    b += conf * yi;
  }
  // LDLT reads the lower triangle, the one rankUpdate maintained.
  x.row(u) = a.ldlt().solve(b).transpose();
}

cg_problem make_problem(const csr_matrix& c, const factor_matrix& y,
                        const Eigen::MatrixXf& yty, int cg_steps,
                        factor_matrix& x) {
  cg_problem pr;
  pr.indptr = c.indptr.data();
  pr.indices = c.indices.data();
  pr.values = c.values.data();
  pr.y = y.data();
  pr.g = yty.data();
  pr.x = x.data();
  pr.k = static_cast<int>(y.cols());
  pr.steps = cg_steps;
  return pr;
}

} // namespace

void solve_rows(const csr_matrix& c, const factor_matrix& y,
                const Eigen::MatrixXf& yty, int cg_steps, factor_matrix& x,
                std::int32_t first, std::int32_t last) {
  check_shapes(c, y, yty, x);
  EDDY_ASSERT(0 <= first && first <= last && last <= c.rows);
  EDDY_ASSERT(cg_steps >= 0);
  if (cg_steps == 0) {
    for (auto u = first; u < last; ++u)
      solve_cholesky(c, y, yty, x, u);
    return;
  }
  std::vector<float> work(3 * static_cast<std::size_t>(y.cols()));
  cg_rows(make_problem(c, y, yty, cg_steps, x), first, last, work.data());
}

void solve_rows(const csr_matrix& c, const factor_matrix& y,
                const Eigen::MatrixXf& yty, int cg_steps, factor_matrix& x,
                int threads) {
  check_shapes(c, y, yty, x);
  EDDY_ASSERT(threads >= 1 && cg_steps >= 0);
  // Small chunks handed out dynamically: rows differ a lot in stored entries
  // (popular items), and each row is solved on its own, so the split does
  // not change any result.
  constexpr std::int64_t chunk = 64;
  if (cg_steps == 0) {
    parallel_chunks(
        c.rows, chunk, threads, [&](std::int64_t a, std::int64_t b) {
          for (auto u = a; u < b; ++u)
            solve_cholesky(c, y, yty, x, static_cast<std::int32_t>(u));
        });
    return;
  }
  const cg_problem pr = make_problem(c, y, yty, cg_steps, x);
  parallel_chunks(c.rows, chunk, threads, [&](std::int64_t a, std::int64_t b) {
    // Per thread, not per row: 3 k floats.
    thread_local std::vector<float> work;
    work.resize(3 * static_cast<std::size_t>(y.cols()));
    cg_rows(pr, static_cast<std::int32_t>(a), static_cast<std::int32_t>(b),
            work.data());
  });
}

loss_terms loss_rows(const csr_matrix& c, const factor_matrix& x,
                     const factor_matrix& y, const Eigen::MatrixXf& yty,
                     std::int32_t first, std::int32_t last) {
  check_shapes(c, y, yty, x);
  EDDY_ASSERT(0 <= first && first <= last && last <= c.rows);
  loss_terms out;
  // Each row's terms depend only on that row (the 16-lane kernels): the same
  // for any block or thread split.
  cg_problem pr;
  pr.indptr = c.indptr.data();
  pr.indices = c.indices.data();
  pr.values = c.values.data();
  pr.y = y.data();
  pr.g = yty.data();
  pr.x = const_cast<float*>(x.data()); // read only here
  pr.k = static_cast<int>(x.cols());
  std::vector<float> work(static_cast<std::size_t>(pr.k));
  loss_kernel(pr, first, last, work.data(), out.value, out.confidence_sum);
  out.nnz = c.indptr[static_cast<std::size_t>(last)] - c.indptr[static_cast<std::size_t>(first)];
  return out;
}

loss_terms loss_rows(const csr_matrix& c, const factor_matrix& x,
                     const factor_matrix& y, const Eigen::MatrixXf& yty,
                     int threads) {
  EDDY_ASSERT(threads >= 1);
  // Fixed chunks merged in chunk order: the same bits for any thread count.
  constexpr std::int64_t chunk = 1024;
  const std::int64_t chunks = std::max<std::int64_t>(1, (c.rows + chunk - 1) / chunk);
  std::vector<loss_terms> part(static_cast<std::size_t>(chunks));
  parallel_chunks(chunks, 1, threads, [&](std::int64_t b, std::int64_t) {
    part[static_cast<std::size_t>(b)] =
        loss_rows(c, x, y, yty, static_cast<std::int32_t>(b * chunk),
                  static_cast<std::int32_t>(std::min<std::int64_t>(c.rows, (b + 1) * chunk)));
  });
  loss_terms out;
  for (const auto& t : part)
    out.merge(t);
  return out;
}

als_loss loss(const csr_matrix& c, const factor_matrix& x,
              const factor_matrix& y, float reg, int threads) {
  const loss_terms t = loss_rows(c, x, y, gram(y, reg, threads), threads);
  als_loss out;
  out.loss =
      t.value + static_cast<double>(reg) * y.cast<double>().squaredNorm();
  const double denom = t.confidence_sum + static_cast<double>(c.rows) * c.cols -
                       static_cast<double>(t.nnz);
  out.normalized = denom > 0.0 ? out.loss / denom : 0.0;
  return out;
}

factor_matrix init_factors(std::int32_t rows, int factors, std::uint64_t seed,
                           std::uint64_t stream, float scale) {
  EDDY_ASSERT(rows >= 0 && factors >= 1);
  factor_matrix m(rows, factors);
  std::uint64_t mix = stream;
  const std::uint64_t row_base = splitmix64(mix);
  for (std::int32_t r = 0; r < rows; ++r) {
    rng g(seed, row_base ^ static_cast<std::uint64_t>(r));
    for (int k = 0; k < factors; ++k)
      m(r, k) = static_cast<float>(g.uniform()) * scale;
  }
  return m;
}

als_model fit(const csr_matrix& c, const als_params& p) {
  return fit(c, p, iteration_callback{});
}

als_model fit(const csr_matrix& c, const als_params& p,
              const iteration_callback& on_iteration) {
  EDDY_ASSERT(p.factors >= 1 && p.iterations >= 0 && p.cg_steps >= 0);
  EDDY_ASSERT(p.reg >= 0.0F && p.threads >= 1);
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t0) {
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  const csr_matrix ct = c.transpose();
  als_model m;
  m.users = init_factors(c.rows, p.factors, p.seed, 0, p.init_scale);
  m.items = init_factors(c.cols, p.factors, p.seed, 1, p.init_scale);
  for (int it = 0; it < p.iterations; ++it) {
    iteration_stats st;
    st.iteration = it + 1;
    auto t0 = clock::now();
    solve_rows(c, m.items, gram(m.items, p.reg, p.threads), p.cg_steps, m.users,
               p.threads);
    solve_rows(ct, m.users, gram(m.users, p.reg, p.threads), p.cg_steps,
               m.items, p.threads);
    st.solve_seconds = seconds_since(t0);
    if (p.track_loss) {
      t0 = clock::now();
      m.losses.push_back(loss(c, m.users, m.items, p.reg, p.threads));
      st.loss_seconds = seconds_since(t0);
      st.loss = &m.losses.back();
    }
    if (on_iteration) on_iteration(st);
  }
  return m;
}

} // namespace eddy::models
