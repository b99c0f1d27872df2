#pragma once
// The results folder of `gengap run` (the README's stable contract):
//   config.json      parameters ("config"), seed, "environment" (versions,
//                    BLAS, threads), "timings" per phase, "summary", "command"
//   curves.csv       header, one row per tau (%.17g; "nan" where a value was not computed):
//                    tau,loss_train,loss_pop,gap,norm_growth,
//                    kl_ode,kl_ode_se,kl_quad,           KL(p_0 || p_theta) by the likelihood ODE
//                                                        over test samples (+- its standard error)
//                                                        and by quadrature (docs/math.md §10)
//                    kl_quad_error,kl_mass,kl_flags,     the quadrature's discretisation error estimate
//                                                        (the ODE's own error shows in |kl_mass - 1|), int p_theta dx
//                                                        on its grid, kl_flags bits (kl_trajectory.hpp:
//                                                        1 mass off by > 1e-3, 2 failed ODE test points,
//                                                        4 quadrature budget hit, 8 failed nodes,
//                                                        16 window too small; 0 = clean)
//                    kl_ode_evaluations,kl_quad_evaluations,  mean ODE evaluations per test point / node
//                    kl_ode_failed,kl_quad_nodes         failed test points, final grid nodes
//                    kl_score_integral                   KL by quadrature with the paper's learned density
//                                                        (its (11): the score at t_min integrated in x)
//                    score_matching,likelihood_bound,    the bound terms of docs/math.md §10 (bound_terms.hpp):
//                    optimization_error,optimization_bound,  J_SM(A(tau); g^2), J_SM + KL(p_T || pi),
//                    loss_train_second,monte_carlo_error,    L_n(A(tau)) - min L_n and ||A_0 - A*||^2/(2 tau),
//                    rademacher,theorem_tau4_mn,             L'_{n,K} from second draws and |L_{n,K} - L'_{n,K}|/sqrt 2,
//                    theorem_tau3_m2,theorem_inv_tau,        the Rademacher term, Theorem 1's shape terms
//                    theorem_inv_m                           (NaN where not computed)
//   densities/       at the saved taus (k = 0.. in model/tau.npy order; quadrature only):
//                    snapshot_<k>.csv (header x,p0,p_theta) and snapshot_<k>.npy (G x 3, same
//                    columns): the target p_0 and the learned p_theta (density at t_min) on that
//                    tau's adaptive grid within p_0's window; snapshots.csv lists
//                    snapshot,row,tau,kl_quad,kl_ode,kl_mass
//   plots/           losses.png, kl.png, densities.png, bounds.png (generalization/plots/early_stopping_plots.hpp),
//                    each with its gnuplot script (.gp) and data (.dat); config.json's "plots"
//                    lists the PNGs, or says why they could not be drawn (the data are kept)
//   train.npy        n x d training set
//   eigenvalues.npy  eigenvalues of G_n, ascending
//   model/           W.npy, U.npy, b.npy, frequencies.npy, A.npy, tau.npy, model.json
// Every file is replaced atomically; config.json is written last, so its
// presence with a "summary" marks a complete folder.
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/studies/s1/early_stopping.hpp"

namespace gengap::cli {

// One CSV row of numbers (%.17g: every double round-trips; "nan" where missing), newline-terminated.
void append_csv_row(std::string& csv, std::span<const double> row);

// config.json's "plots" entry for drawing figures: {"files": [PNG names]} from
// `draw`, or {"error": why} when gnuplot is missing or fails (plots are a
// convenience on top of the numbers: their data and scripts are still written).
nlohmann::ordered_json plots_record(const std::function<std::vector<std::filesystem::path>()>& draw);

// curves.csv's text: header row, then one row per tau with %.17g values.
std::string curves_csv(const EarlyStoppingResult& result);
// densities/snapshot_<k>.csv's text (header x,p0,p_theta).
std::string density_csv(const DensitySnapshot& snapshot);

// Writes the folder (which must exist). `record` is config.json's content
// without the timings of this write, which are added under timings.write.
// Returns config.json's content as written.
nlohmann::ordered_json write_results(const std::filesystem::path& out, const EarlyStoppingResult& result,
                   nlohmann::ordered_json record);

}  // namespace gengap::cli
