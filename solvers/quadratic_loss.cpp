#include "gengap/solvers/quadratic_loss.hpp"

#include <cblas.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <cmath>
#include <string>
#include <vector>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/remote_error.hpp"

namespace gengap {
namespace {

// Rows per feature task. Fixed (never derived from the thread count), so every
// point's features come from the same calls whatever the scheduling.
constexpr std::size_t chunk_rows = 64;

// Independent accumulators ("lanes", GramOptions::lanes). Each round of the
// sweep hands one share of its points to each lane, which adds it to its own
// copy of G with a single full-size dsyrk; the copies are summed once at the
// end. A fixed number (never the thread count), so every entry's arithmetic is
// the same for any number of threads. Why not split G into output blocks
// instead: every block re-packs its slice of the tile, and on 2 cores that
// packing and the smaller BLAS calls cost ~20% against one large dsyrk
// (measured: output blocks of 128-1024 reached 79-83% of OpenBLAS's threaded
// dsyrk, two lanes 95-108%). The price is one m x m accumulator per lane.

// One lane's sums: G's lower triangle, C and L_0 of its rows.
struct LaneSums {
  Matrix G;
  Matrix C;
  double L0 = 0.0;
};

// Messages of the distributed reduction: rank 0 asks for lane l ("send"),
// its owner sends the lane as blocks of packed lower-triangle rows, then C
// and L_0. Rows per block: at most 2^21 doubles (16 MiB) each.
constexpr int tag_send_lane = 2000;
constexpr int tag_lane_block = 2001;
constexpr std::size_t block_doubles = std::size_t{1} << 21;

void send_lane(Communicator& world, const LaneSums& lane) {
  const std::size_t m = lane.G.rows();
  std::vector<double> block;
  for (std::size_t i = 0; i < m;) {
    block.clear();
    for (; i < m && (block.empty() || block.size() + i + 1 <= block_doubles); ++i) {
      const double* row = lane.G.data() + i * m;
      block.insert(block.end(), row, row + i + 1);
    }
    world.send(0, tag_lane_block, {reinterpret_cast<const char*>(block.data()), block.size() * sizeof(double)});
  }
  std::vector<double> rest(lane.C.flat().begin(), lane.C.flat().end());
  rest.push_back(lane.L0);
  world.send(0, tag_lane_block, {reinterpret_cast<const char*>(rest.data()), rest.size() * sizeof(double)});
}

// Adds lane l (owned by rank `owner`) into `total`, block by block as it arrives.
void add_remote_lane(Communicator& world, int owner, LaneSums& total) {
  const std::size_t m = total.G.rows(), d = total.C.cols();
  world.send(owner, tag_send_lane, {});
  std::vector<double> values;
  const auto next = [&](std::size_t expected_at_least) {
    const Communicator::Message message = world.receive(owner, tag_lane_block);
    values.resize(message.bytes.size() / sizeof(double));
    std::memcpy(values.data(), message.bytes.data(), values.size() * sizeof(double));
    if (values.empty() || values.size() < expected_at_least) {
      throw std::runtime_error("gram_matrices: a short message from rank " + std::to_string(owner));
    }
  };
  for (std::size_t i = 0; i < m;) {
    next(i + 1);
    std::size_t k = 0;
    for (; i < m && k + i + 1 <= values.size(); ++i) {
      double* row = total.G.data() + i * m;
      for (std::size_t j = 0; j <= i; ++j) row[j] += values[k++];
    }
    if (k != values.size()) throw std::runtime_error("gram_matrices: a misaligned block from rank " + std::to_string(owner));
  }
  next(m * d + 1);
  for (std::size_t k = 0; k < m * d; ++k) total.C.flat()[k] += values[k];
  total.L0 += values[m * d];
}

int as_int(std::size_t n) { return static_cast<int>(n); }

// A chunk of a round: its design points, sqrt(weight), and its contribution
// to C (stored d x m, so the accumulation runs along contiguous feature rows).
struct Chunk {
  DesignTile points;
  std::vector<double> scale;
  std::vector<double> cross;  // d x m
};

// Fills the chunk of `count` points starting at point `first`, writes their
// features weighted by sqrt(weight) into phi (count x m) and accumulates the
// chunk's share of C while those rows are still in cache.
void fill_chunk(const RandomFeatures& rf, const DesignPoints& points, std::size_t first, std::size_t count,
                Chunk& chunk, double* phi) {
  const std::size_t m = rf.num_features(), d = rf.dim();
  points.fill(first, first + count, chunk.points);
  const DesignTile& tile = chunk.points;
  require(tile.rows() == count && tile.x.cols() == d && tile.y.cols() == d && tile.weight.size() == count &&
              tile.loss0.size() == count,
          "points", "fill() returned a tile of the wrong shape");
  chunk.scale.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const double w = tile.weight[i];
    if (!(w >= 0.0) || !std::isfinite(w)) {
      throw InvalidArgument("points", "weight of design point " + std::to_string(first + i) +
                                          " is negative or non-finite (" + std::to_string(w) + ")");
    }
    chunk.scale[i] = std::sqrt(w);
  }
  feature_tile(rf, tile.x, tile.t, chunk.scale, {phi, count * m});
  chunk.cross.assign(d * m, 0.0);
  for (std::size_t i = 0; i < count; ++i) {
    const double* row = phi + i * m;
    for (std::size_t l = 0; l < d; ++l) {
      const double target = chunk.scale[i] * tile.y(i, l);
      double* out = chunk.cross.data() + l * m;
      for (std::size_t j = 0; j < m; ++j) out[j] += row[j] * target;
    }
  }
}

void require_inputs(const RandomFeatures& rf, const DesignPoints& points) {
  rf.validate();
  require(points.dim() == rf.dim(), "points",
          "design points have dimension " + std::to_string(points.dim()) + " but the random features expect d = " +
              std::to_string(rf.dim()));
  require(points.size() > 0, "points", "no design points");
}

}  // namespace

// ------------------------------------------------------------ QuadraticLoss
void QuadraticLoss::validate() const {
  const std::size_t m = G.rows();
  require(m > 0, "G", "must be non-empty");
  require_shape(G, m, m, "G");
  require(C.cols() > 0, "C", "dimension d must be positive");
  require_shape(C, m, C.cols(), "C");
  require_finite(G.flat(), "G");
  require_finite(C.flat(), "C");
  require(std::isfinite(L0), "L0", "must be finite, got " + std::to_string(L0));
}

double QuadraticLoss::value(MatrixView A) const {
  const std::size_t m = num_features(), d = dim();
  require_shape(A, d, m, "A");
  require_finite(A.flat(), "A");
  // AG = A G (d x m); tr(A G A^T) = sum AG .* A, tr(A C) = sum_{j,i} A(j,i) C(i,j).
  std::vector<double> AG(d * m);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(d), as_int(m), as_int(m), 1.0, A.data, as_int(m),
              G.data(), as_int(m), 0.0, AG.data(), as_int(m));
  double quadratic = 0.0, linear = 0.0;
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < m; ++i) {
      quadratic += AG[j * m + i] * A(j, i);
      linear += A(j, i) * C(i, j);
    }
  }
  const double md = static_cast<double>(m);
  return quadratic / (2.0 * md * md) - linear / md + L0;
}

Matrix QuadraticLoss::gradient(MatrixView A) const {
  const std::size_t m = num_features(), d = dim();
  require_shape(A, d, m, "A");
  require_finite(A.flat(), "A");
  const double md = static_cast<double>(m);
  Matrix grad(d, m);
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < m; ++i) grad(j, i) = -C(i, j) / md;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(d), as_int(m), as_int(m), 1.0 / (md * md), A.data,
              as_int(m), G.data(), as_int(m), 1.0, grad.data(), as_int(m));
  return grad;
}

// ------------------------------------------------------------ gram_matrices
QuadraticLoss gram_matrices(const RandomFeatures& rf, const DesignPoints& points, const GramOptions& options) {
  require_inputs(rf, points);
  require(options.tile_rows >= 1, "tile_rows", "must be at least 1, got 0");
  require(options.lanes >= 1, "lanes", "must be at least 1, got 0");
  const std::size_t m = rf.num_features(), d = rf.dim(), N = points.size();
  const std::size_t lanes = options.lanes;
  SingleProcess alone;
  Communicator& world = options.world != nullptr ? *options.world : alone;
  const auto ranks = static_cast<std::size_t>(world.size()), rank = static_cast<std::size_t>(world.rank());
  // This rank's lanes: rank, rank + R, ...
  std::vector<std::size_t> mine;
  for (std::size_t lane = rank; lane < lanes; lane += ranks) mine.push_back(lane);
  // A round covers up to lanes * tile_rows points; its rows are split evenly
  // between the lanes (only the last round can be short).
  const std::size_t tile_rows = std::min(options.tile_rows, (N + lanes - 1) / lanes);
  const std::size_t round_rows = lanes * tile_rows;
  const std::size_t max_chunks = mine.size() * ((tile_rows + chunk_rows - 1) / chunk_rows);

  // Workspace, allocated once: O(tile_rows m) features per own lane + its O(m^2) accumulator.
  std::vector<Chunk> chunks(max_chunks);
  std::vector<double> phi(mine.size() * tile_rows * m);
  std::vector<LaneSums> sums;  // built in place: a fill-constructor would copy an m x m prototype
  for (std::size_t k = 0; k < mine.size(); ++k) sums.push_back({Matrix(m, m), Matrix(m, d), 0.0});

  struct Piece {  // one chunk of one own lane in the current round
    std::size_t lane, first, count, row;  // index into `mine`, first point, points, row in phi
  };
  std::vector<Piece> pieces;
  pieces.reserve(max_chunks);
  std::vector<std::size_t> lane_rows(mine.size());  // rows of each own lane in this round

  warn_if_slow_blas();
  const ScopedBlasThreads single_threaded_blas(1);
  // An error on one rank must reach the others before the reduction waits on it.
  std::exception_ptr local_error;
  try {
    for (std::size_t first = 0; first < N; first += round_rows) {
      check_interrupt();
      const std::size_t rows = std::min(round_rows, N - first);
      const std::size_t share = (rows + lanes - 1) / lanes;  // <= tile_rows
      pieces.clear();
      for (std::size_t k = 0; k < mine.size(); ++k) {
        const std::size_t begin = std::min(rows, mine[k] * share), end = std::min(rows, (mine[k] + 1) * share);
        lane_rows[k] = end - begin;
        for (std::size_t r = begin; r < end; r += chunk_rows) {
          pieces.push_back({k, first + r, std::min(chunk_rows, end - r), k * tile_rows + (r - begin)});
        }
      }
      // Phase 1: design points, weighted features and C contributions; rows independent.
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, pieces.size(), 1),
          [&](const tbb::blocked_range<std::size_t>& r) {
            for (std::size_t c = r.begin(); c != r.end(); ++c) {
              fill_chunk(rf, points, pieces[c].first, pieces[c].count, chunks[c], phi.data() + pieces[c].row * m);
            }
          },
          tbb::simple_partitioner{});
      // Each lane's C and L_0 in point order (serial: the sums must not depend on scheduling).
      for (std::size_t c = 0; c < pieces.size(); ++c) {
        LaneSums& lane = sums[pieces[c].lane];
        for (std::size_t l = 0; l < d; ++l) {
          const double* part = chunks[c].cross.data() + l * m;
          for (std::size_t j = 0; j < m; ++j) lane.C(j, l) += part[j];
        }
        for (double v : chunks[c].points.loss0) lane.L0 += v;
      }
      // Phase 2: each lane adds its rows' Gram matrix to its accumulator.
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, mine.size(), 1),
          [&](const tbb::blocked_range<std::size_t>& r) {
            for (std::size_t k = r.begin(); k != r.end(); ++k) {
              if (lane_rows[k] == 0) continue;
              cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, as_int(m), as_int(lane_rows[k]), 1.0,
                          phi.data() + k * tile_rows * m, as_int(m), 1.0, sums[k].G.data(), as_int(m));
            }
          },
          tbb::simple_partitioner{});
      if (options.on_progress) options.on_progress(static_cast<double>(first + rows) / static_cast<double>(N));
    }
  } catch (...) {
    local_error = std::current_exception();
  }
  throw_if_any_rank_failed(world, local_error);

  if (rank != 0) {
    // Rank 0 asks for each of this rank's lanes in lane order, then says whether the sum is finite.
    for (const LaneSums& lane : sums) {
      world.receive(0, tag_send_lane);
      send_lane(world, lane);
    }
    throw_if_any_rank_failed(world, nullptr);
    return {};
  }
  // Lane 0 is rank 0's own (0 mod R = 0): the others are added to it in lane order.
  LaneSums& total = sums[0];
  for (std::size_t lane = 1; lane < lanes; ++lane) {
    if (lane % ranks == 0) {
      const LaneSums& own = sums[lane / ranks];
      double* G = total.G.data();
      const double* other = own.G.data();
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j <= i; ++j) G[i * m + j] += other[i * m + j];
      for (std::size_t k = 0; k < m * d; ++k) total.C.flat()[k] += own.C.flat()[k];
      total.L0 += own.L0;
    } else {
      add_remote_lane(world, static_cast<int>(lane % ranks), total);
    }
  }
  QuadraticLoss loss{std::move(total.G), std::move(total.C), total.L0};
  double* G = loss.G.data();
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = i + 1; j < m; ++j) G[i * m + j] = G[j * m + i];
  }
  const auto finite = [](std::span<const double> v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  std::exception_ptr overflow;
  if (!finite(loss.G.flat()) || !finite(loss.C.flat()) || !std::isfinite(loss.L0)) {
    overflow = std::make_exception_ptr(
        NumericalError("gram_matrices: non-finite entries in G, C or L0 (features or targets overflowed)"));
  }
  throw_if_any_rank_failed(world, overflow);
  return loss;
}

// ------------------------------------------------------------ direct_loss
double direct_loss(const RandomFeatures& rf, const DesignPoints& points, MatrixView A) {
  require_inputs(rf, points);
  const std::size_t m = rf.num_features(), d = rf.dim(), N = points.size();
  require_shape(A, d, m, "A");
  require_finite(A.flat(), "A");
  constexpr std::size_t tile_rows = 1024;
  const std::size_t rows_max = std::min(tile_rows, N);
  const std::size_t max_chunks = (rows_max + chunk_rows - 1) / chunk_rows;
  const double inv_m = 1.0 / static_cast<double>(m);

  std::vector<Chunk> chunks(max_chunks);
  std::vector<double> phi(rows_max * m), contribution(rows_max);
  double total = 0.0;
  const ScopedBlasThreads single_threaded_blas(1);
  for (std::size_t first = 0; first < N; first += tile_rows) {
    const std::size_t rows = std::min(tile_rows, N - first);
    const std::size_t n_chunks = (rows + chunk_rows - 1) / chunk_rows;
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, n_chunks, 1),
        [&](const tbb::blocked_range<std::size_t>& r) {
          std::vector<double> score(chunk_rows * d);
          for (std::size_t c = r.begin(); c != r.end(); ++c) {
            Chunk& chunk = chunks[c];
            // Unweighted features: the point's weight multiplies its residual below.
            const std::size_t r0 = c * chunk_rows, count = std::min(chunk_rows, rows - r0);
            points.fill(first + r0, first + r0 + count, chunk.points);
            const DesignTile& tile = chunk.points;
            require(tile.rows() == count && tile.x.cols() == d, "points", "fill() returned a tile of the wrong shape");
            double* ph = phi.data() + r0 * m;
            feature_tile(rf, tile.x, tile.t, {}, {ph, count * m});
            // score (count x d) = phi A^T / m
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, as_int(count), as_int(d), as_int(m), inv_m, ph,
                        as_int(m), A.data, as_int(m), 0.0, score.data(), as_int(d));
            for (std::size_t i = 0; i < count; ++i) {
              double residual2 = 0.0, y2 = 0.0;
              for (std::size_t j = 0; j < d; ++j) {
                const double y = tile.y(i, j), r_ij = score[i * d + j] - y;
                residual2 += r_ij * r_ij;
                y2 += y * y;
              }
              const double w = tile.weight[i];
              contribution[r0 + i] = 0.5 * w * residual2 + (tile.loss0[i] - 0.5 * w * y2);
            }
          }
        },
        tbb::simple_partitioner{});
    for (std::size_t i = 0; i < rows; ++i) total += contribution[i];
  }
  if (!std::isfinite(total)) throw NumericalError("direct_loss: non-finite loss");
  return total;
}

}  // namespace gengap
