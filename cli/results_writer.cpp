#include "results_writer.hpp"

#include <chrono>
#include <cstdio>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/generalization/plots/early_stopping_plots.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/io/saved_model.hpp"

namespace gengap::cli {


void append_csv_row(std::string& csv, std::span<const double> row) {
  for (std::size_t c = 0; c < row.size(); ++c) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.17g", row[c]);
    if (c > 0) csv += ',';
    csv += buffer;
  }
  csv += '\n';
}

nlohmann::ordered_json plots_record(const std::function<std::vector<std::filesystem::path>()>& draw) {
  nlohmann::ordered_json plots;
  try {
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const auto& png : draw()) files.push_back(png.filename().string());
    plots["files"] = files;
  } catch (const GnuplotNotFound& e) {
    plots["error"] = std::string("gnuplot not found: ") + e.what();
  } catch (const std::runtime_error& e) {
    plots["error"] = e.what();
  }
  return plots;
}

std::string curves_csv(const EarlyStoppingResult& r) {
  std::string csv =
      "tau,loss_train,loss_pop,gap,norm_growth,kl_ode,kl_ode_se,kl_quad,kl_quad_error,kl_mass,kl_flags,"
      "kl_ode_evaluations,kl_quad_evaluations,kl_ode_failed,kl_quad_nodes,kl_score_integral,"
      "score_matching,likelihood_bound,optimization_error,optimization_bound,loss_train_second,monte_carlo_error,"
      "rademacher,theorem_tau4_mn,theorem_tau3_m2,theorem_inv_tau,theorem_inv_m\n";
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t i = 0; i < r.tau.size(); ++i) {
    const KlRow kl = i < r.kl.size() ? r.kl[i] : KlRow{};
    const BoundRow b = i < r.bounds.rows.size() ? r.bounds.rows[i] : BoundRow{};
    // Counts are NaN, not 0, where the KL was not computed.
    const auto count = [&](std::size_t c) { return kl.evaluated ? static_cast<double>(c) : nan; };
    const double row[] = {r.tau[i],           r.loss_train[i],     r.loss_pop[i],       r.gap[i],
                          r.norm_growth[i],   kl.ode,              kl.ode_se,           kl.quad,
                          kl.quad_error,      kl.mass,             count(kl.flags),     kl.ode_evaluations,
                          kl.quad_evaluations, count(kl.ode_failed), count(kl.quad_nodes), kl.score_integral,
                          b.score_matching,    b.likelihood_bound,  b.optimization_error, b.optimization_bound,
                          b.loss_train_second, b.monte_carlo_error, b.rademacher,       b.theorem_tau4_mn,
                          b.theorem_tau3_m2,   b.theorem_inv_tau,   b.theorem_inv_m};
    append_csv_row(csv, row);
  }
  return csv;
}

std::string density_csv(const DensitySnapshot& snapshot) {
  std::string csv = "x,p0,p_theta\n";
  for (std::size_t j = 0; j < snapshot.x.size(); ++j) {
    const double row[] = {snapshot.x[j], snapshot.p0[j], snapshot.p_theta[j]};
    append_csv_row(csv, row);
  }
  return csv;
}

namespace {

void write_densities(const std::filesystem::path& dir, const EarlyStoppingResult& r) {
  ensure_directory(dir, "out");
  std::string index = "snapshot,row,tau,kl_quad,kl_ode,kl_mass\n";
  for (std::size_t k = 0; k < r.densities.size(); ++k) {
    const DensitySnapshot& s = r.densities[k];
    const std::string stem = "snapshot_" + std::to_string(k);
    write_file_atomically(dir / (stem + ".csv"), density_csv(s));
    std::vector<double> table;
    table.reserve(3 * s.x.size());
    for (std::size_t j = 0; j < s.x.size(); ++j) {
      table.push_back(s.x[j]);
      table.push_back(s.p0[j]);
      table.push_back(s.p_theta[j]);
    }
    const std::size_t shape[] = {s.x.size(), 3};
    write_npy(dir / (stem + ".npy"), table, shape);
    const KlRow& kl = r.kl[s.index];
    const double row[] = {static_cast<double>(k), static_cast<double>(s.index), s.tau, kl.quad, kl.ode, kl.mass};
    append_csv_row(index, row);
  }
  write_file_atomically(dir / "snapshots.csv", index);
}

// Snapshots of an earlier run into the same folder that this run did not
// rewrite (fewer saved taus, or no quadrature) would pass for this run's.
void remove_stale_densities(const std::filesystem::path& dir, std::size_t written) {
  if (!std::filesystem::is_directory(dir)) return;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string stem = entry.path().stem().string();
    const std::string extension = entry.path().extension().string();
    if (written == 0 && name == "snapshots.csv") {
      std::filesystem::remove(entry.path());
      continue;
    }
    if (!stem.starts_with("snapshot_") || (extension != ".csv" && extension != ".npy")) continue;
    const std::string digits = stem.substr(9);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stoull(digits) >= written) std::filesystem::remove(entry.path());
  }
}


}  // namespace

nlohmann::ordered_json write_results(const std::filesystem::path& out, const EarlyStoppingResult& r,
                                     nlohmann::ordered_json record) {
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
  if (!r.densities.empty()) write_densities(out / "densities", r);
  remove_stale_densities(out / "densities", r.densities.size());
  record["plots"] = plots_record([&] { return write_early_stopping_plots(out / "plots", r); });

  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  nlohmann::ordered_json& timings = record["timings"];
  const double total = timings.value("total", 0.0) + elapsed.count();
  timings.erase("total");  // re-added after "write" so it stays the last entry
  timings["write"] = elapsed.count();
  timings["total"] = total;
  write_file_atomically(out / "config.json", record.dump(2) + "\n");
  return record;
}

}  // namespace gengap::cli
