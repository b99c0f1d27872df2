#pragma once
// The results folder of `gengap run` (the README's stable contract):
//   config.json      parameters ("config"), seed, "environment" (versions,
//                    BLAS, threads), "timings" per phase, "summary", "command"
//   curves.csv       tau,loss_train,loss_pop,gap,norm_growth (%.17g)
//   train.npy        n x d training set
//   eigenvalues.npy  eigenvalues of G_n, ascending
//   model/           W.npy, U.npy, b.npy, frequencies.npy, A.npy, tau.npy, model.json
// Every file is replaced atomically; config.json is written last, so its
// presence with a "summary" marks a complete folder.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "gengap/generalization/early_stopping.hpp"

namespace gengap::cli {

// curves.csv's text: header row, then one row per tau with %.17g values.
std::string curves_csv(const EarlyStoppingResult& result);

// Writes the folder (which must exist). `record` is config.json's content
// without the timings of this write, which are added under timings.write.
void write_results(const std::filesystem::path& out, const EarlyStoppingResult& result,
                   nlohmann::ordered_json record);

}  // namespace gengap::cli
