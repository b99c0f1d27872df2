#include "gengap/solvers/sde/tweedie.hpp"

#include <vector>

namespace gengap {

void tweedie_denoise(const Schedule& schedule, const ScoreDivergenceField& field, double t, Matrix& x) {
  const double mu = schedule.mean_scale(t), sigma = schedule.std_dev(t);
  const std::vector<double> times(x.rows(), t);
  std::vector<double> score(x.rows() * x.cols());
  field(times, x.view(), score, {});
  for (std::size_t k = 0; k < score.size(); ++k) x.flat()[k] = (x.flat()[k] + sigma * sigma * score[k]) / mu;
}

}  // namespace gengap
