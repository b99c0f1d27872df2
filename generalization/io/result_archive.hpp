#pragma once
// An S1 result (early_stopping.hpp) as bytes and back, bit for bit: how an MPI
// rank hands a finished study setting to rank 0, which writes every folder
// (distributed_study.hpp). Every field of EarlyStoppingResult travels, so the
// folder rank 0 writes from the copy is the one the computing rank would have
// written (tested: archive -> result -> archive gives the same bytes, and
// write_results gives the same files). The config travels as its JSON form,
// whose numbers round-trip exactly (shortest round-trip decimal).
//
// Format: "gengap-s1-result" + a format number, then the fields in
// declaration order (binary_archive.hpp: native byte order and doubles).
// A mismatched format number or a truncated message throws std::runtime_error.
#include <string>
#include <string_view>

#include "gengap/generalization/studies/s1/early_stopping.hpp"

namespace gengap {

std::string archive_result(const EarlyStoppingResult& result);
EarlyStoppingResult unarchive_result(std::string_view bytes);

}  // namespace gengap
