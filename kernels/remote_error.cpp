#include "gengap/kernels/remote_error.hpp"

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "gengap/kernels/binary_archive.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"

namespace gengap {
namespace {

enum class ErrorKind : std::uint8_t { none, invalid_argument, numerical, interrupted, other };

}  // namespace

std::string encode_exception(const std::exception_ptr& error) {
  ErrorKind kind = ErrorKind::none;
  std::string what;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const InvalidArgument& e) {
      kind = ErrorKind::invalid_argument;
      what = e.what();
    } catch (const NumericalError& e) {
      kind = ErrorKind::numerical;
      what = e.what();
    } catch (const Interrupted& e) {
      kind = ErrorKind::interrupted;
      what = e.what();
    } catch (const std::exception& e) {
      kind = ErrorKind::other;
      what = e.what();
    } catch (...) {
      kind = ErrorKind::other;
      what = "unknown exception";
    }
  }
  ByteWriter w;
  w.put(static_cast<std::uint8_t>(kind));
  w.put(what);
  return w.release();
}

void throw_encoded_exception(std::string_view bytes) {
  ByteReader r(bytes);
  const auto kind = static_cast<ErrorKind>(r.get<std::uint8_t>("the error kind"));
  const std::string what = r.get_string("the error message");
  switch (kind) {
    case ErrorKind::invalid_argument: {
      // InvalidArgument(field, problem) reads "field: problem".
      const std::size_t colon = what.find(": ");
      if (colon == std::string::npos) throw InvalidArgument(what, "");
      throw InvalidArgument(what.substr(0, colon), what.substr(colon + 2));
    }
    case ErrorKind::numerical: throw NumericalError(what);
    case ErrorKind::interrupted: throw Interrupted();
    case ErrorKind::none: throw std::logic_error("throw_encoded_exception: no error was encoded");
    case ErrorKind::other: break;
  }
  throw std::runtime_error(what);
}

void throw_if_any_rank_failed(Communicator& world, const std::exception_ptr& local_error) {
  if (world.size() == 1) {
    if (local_error) std::rethrow_exception(local_error);
    return;
  }
  constexpr int report = agreement_tag, verdict = agreement_tag + 1;
  const std::string mine = encode_exception(local_error);
  std::string chosen;
  if (world.rank() == 0) {
    std::vector<std::string> reports(static_cast<std::size_t>(world.size()));
    reports[0] = mine;
    for (int received = 1; received < world.size();) {
      Communicator::Message m = world.receive(Communicator::any_source, report);
      reports.at(static_cast<std::size_t>(m.source)) = std::move(m.bytes);
      ++received;
    }
    chosen = mine;
    for (const std::string& r : reports) {
      if (static_cast<ErrorKind>(r.at(0)) != ErrorKind::none) {
        chosen = r;
        break;
      }
    }
    for (int rank = 1; rank < world.size(); ++rank) world.send(rank, verdict, chosen);
  } else {
    world.send(0, report, mine);
    Communicator::Message m = world.receive(0, verdict);
    chosen = std::move(m.bytes);
  }
  if (static_cast<ErrorKind>(chosen.at(0)) != ErrorKind::none) throw_encoded_exception(chosen);
}

void require_same_on_every_rank(Communicator& world, std::string_view text, std::string_view field,
                                std::string_view what) {
  if (world.size() == 1) return;
  constexpr int broadcast = agreement_tag + 2;
  std::exception_ptr mismatch;
  if (world.rank() == 0) {
    for (int rank = 1; rank < world.size(); ++rank) world.send(rank, broadcast, text);
  } else if (world.receive(0, broadcast).bytes != text) {
    mismatch = std::make_exception_ptr(InvalidArgument(
        field, "rank " + std::to_string(world.rank()) + "'s " + std::string(what) +
                   " differs from rank 0's (every rank must be started with the same command line and files)"));
  }
  throw_if_any_rank_failed(world, mismatch);
}

}  // namespace gengap
