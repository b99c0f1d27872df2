#include "results_writer.hpp"

#include <chrono>
#include <cstdio>

#include "gengap/generalization/atomic_file.hpp"
#include "gengap/generalization/npy.hpp"
#include "gengap/generalization/saved_model.hpp"

namespace gengap::cli {
namespace {

// %.17g round-trips every double exactly (17 significant digits).
void append_number(std::string& line, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  line += buffer;
}

}  // namespace

std::string curves_csv(const EarlyStoppingResult& r) {
  std::string csv = "tau,loss_train,loss_pop,gap,norm_growth\n";
  for (std::size_t i = 0; i < r.tau.size(); ++i) {
    const double row[] = {r.tau[i], r.loss_train[i], r.loss_pop[i], r.gap[i], r.norm_growth[i]};
    for (std::size_t c = 0; c < std::size(row); ++c) {
      if (c > 0) csv += ',';
      append_number(csv, row[c]);
    }
    csv += '\n';
  }
  return csv;
}

void write_results(const std::filesystem::path& out, const EarlyStoppingResult& r, nlohmann::ordered_json record) {
  const auto start = std::chrono::steady_clock::now();
  SavedModel model;
  model.features = r.features;
  model.setup = r.config.dsm_setup();
  for (const std::size_t i : r.saved_indices) model.tau.push_back(r.tau[i]);
  model.weights = r.saved_weights;
  save_model(out / "model", model);

  write_npy(out / "train.npy", r.training_set);
  write_npy(out / "eigenvalues.npy", r.eigenvalues);
  write_file_atomically(out / "curves.csv", curves_csv(r));

  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  nlohmann::ordered_json& timings = record["timings"];
  const double total = timings.value("total", 0.0) + elapsed.count();
  timings.erase("total");  // re-added after "write" so it stays the last entry
  timings["write"] = elapsed.count();
  timings["total"] = total;
  write_file_atomically(out / "config.json", record.dump(2) + "\n");
}

}  // namespace gengap::cli
