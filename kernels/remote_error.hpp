#pragma once
// An exception carried between ranks of a distributed run, keeping its type
// (InvalidArgument, NumericalError, Interrupted, else std::runtime_error) and
// its message exactly, so that a failure on any rank ends the run with the
// same one-line error (and the command line's exit code) as a one-process run.
#include <exception>
#include <string>
#include <string_view>

#include "gengap/kernels/communicator.hpp"

namespace gengap {

// The exception `error` holds, as bytes (any other type: its what(), as
// std::runtime_error).
std::string encode_exception(const std::exception_ptr& error);
// Throws what encode_exception encoded.
[[noreturn]] void throw_encoded_exception(std::string_view bytes);

// Collective (every rank calls it; it returns or throws on all of them
// alike): each rank brings its own error or none; if any rank has one, every
// rank throws the error of the lowest such rank. With SingleProcess: rethrows
// `local_error` if set. Uses message tags >= agreement_tag and waits for
// every rank.
inline constexpr int agreement_tag = 1000;
void throw_if_any_rank_failed(Communicator& world, const std::exception_ptr& local_error);

// Collective: rank 0 sends `text` to every rank, each compares it with its
// own; if any differs, every rank throws InvalidArgument(field, "rank r's
// <what> differs from rank 0's (every rank must be started with the same
// command line and files)") for the lowest such rank r. Tag agreement_tag + 2.
void require_same_on_every_rank(Communicator& world, std::string_view text, std::string_view field,
                                std::string_view what);

}  // namespace gengap
