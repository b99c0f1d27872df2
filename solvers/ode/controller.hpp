#pragma once
// PI step-size controller (Gustafsson/Soderlind form, as diffrax's
// PIDController with its integral and proportional gains): decides accept /
// reject from a weighted RMS error norm and proposes the next step; and the
// per-chunk sharing of its decisions when a chunk of rows steps together.
#include <span>
#include <string>

namespace gengap {

struct PiController {
  double rtol = 1e-6;
  double atol = 1e-6;
  double safety = 0.9;
  double min_factor = 0.2;
  double max_factor = 10.0;
  double beta1 = 0.7;  // integral-plus-proportional gain on the current error
  double beta2 = 0.4;  // proportional gain on the previous accepted error

  // InvalidArgument naming the field: rtol, atol > 0; 0 < safety <= 1;
  // 0 < min_factor <= 1 <= max_factor; beta1 > 0; beta2 >= 0; all finite.
  void validate() const;

  // sqrt(mean_i (err_i / (atol + rtol * max(|y0_i|, |y1_i|)))^2).
  double error_norm(std::span<const double> y0, std::span<const double> y1, std::span<const double> err) const;

  // safety * err^(-beta1/(q+1)) * err_prev^(beta2/(q+1)), clamped to
  // [min_factor, max_factor]; q = tableau error_order. Errors are floored at
  // 1e-10 so an exactly-zero error gives max_factor rather than inf/0.
  double factor(double err, double err_prev, int error_order) const;

  static bool accept(double err) { return err <= 1.0; }
};

// How the rows of a chunk are stepped: each with its own time and step
// (per_trajectory), or all together (per_chunk: one time, one step, one
// accept/reject decision for the chunk; the error norm is the largest of the
// rows', so every row is at least as accurate as when stepped alone).
enum class StepSharing { per_trajectory, per_chunk };
const char* to_string(StepSharing sharing);
StepSharing parse_step_sharing(const std::string& name);  // "per_trajectory" | "per_chunk"; InvalidArgument "sharing"

// The per-chunk wrapper around the controller's inputs. per_chunk: every row
// with ok[p] takes the largest error among those rows; per_trajectory: no change.
void share_errors(StepSharing sharing, std::span<double> errors, std::span<const char> ok);
// per_chunk: every step becomes the most cautious one (the smallest |h|, in
// the direction `direction` = +1 or -1); per_trajectory: no change.
void share_steps(StepSharing sharing, std::span<double> steps, double direction);

}  // namespace gengap
