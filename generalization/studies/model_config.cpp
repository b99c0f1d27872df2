// RandomFeatureModelConfig: validation naming the dotted field and the
// strict JSON form of its groups (model_config.hpp).
#include "gengap/generalization/studies/model_config.hpp"

#include <unistd.h>

#include <cmath>
#include <string>

#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/io/detail/config_reader.hpp"
#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

using Json = nlohmann::json;
using detail::config_number;
using detail::ObjectReader;
using detail::require_positive;
using detail::rethrow_as;

constexpr EnumName<TrainLossMethod> train_loss_method_names[] = {{TrainLossMethod::monte_carlo, "monte_carlo"},
                                                                 {TrainLossMethod::quadrature, "quadrature"}};
constexpr EnumName<InitialWeights> initial_weights_names[] = {{InitialWeights::zero, "zero"},
                                                              {InitialWeights::gaussian, "gaussian"}};

TrainLossMethod parse_train_loss_method(std::string_view s) {
  return parse_enum_name(s, train_loss_method_names, "method", "method");
}

InitialWeights parse_initial_weights(std::string_view s) {
  return parse_enum_name(s, initial_weights_names, "initial_weights", "initial weights");
}

// The flow holds four m x m matrices at its peak (run_early_stopping).
void require_fits_in_memory(std::size_t m) {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return;  // unknown: let the allocation decide
  const double physical = double(pages) * double(page_size);
  const double needed = 4.0 * 8.0 * double(m) * double(m);
  require(needed <= physical, "model.m",
          config_number(double(m)) + " features need ~" + config_number(std::ceil(needed / 1e9)) +
              " GB for the m x m matrices of the flow, more than this machine's " +
              config_number(std::floor(physical / 1e9)) + " GB");
}

}  // namespace

std::string_view to_string(TrainLossMethod m) { return enum_name(m, train_loss_method_names, "method", "TrainLossMethod"); }
std::string_view to_string(InitialWeights w) {
  return enum_name(w, initial_weights_names, "initial_weights", "InitialWeights");
}

void RandomFeatureModelConfig::validate() const {
  require_positive(model.m, "model.m");
  require_fits_in_memory(model.m);
  if (model.embedding == EmbeddingKind::fourier || model.embedding == EmbeddingKind::sinusoidal) {
    require(model.embedding_dim > 0 && model.embedding_dim % 2 == 0, "model.embedding_dim",
            "must be even and positive for the " + std::string(to_string(model.embedding)) + " embedding, got " +
                std::to_string(model.embedding_dim));
  }
  if (model.embedding == EmbeddingKind::fourier) require_positive(model.embedding_scale, "model.embedding_scale");
  if (model.embedding_horizon) {
    require(std::isfinite(*model.embedding_horizon) && *model.embedding_horizon > 0.0, "model.embedding_horizon",
            "must be positive and finite (or null: schedule.T), got " + config_number(*model.embedding_horizon));
  }
  if (model.embedding == EmbeddingKind::polynomial) require_positive(model.embedding_dim, "model.embedding_dim");
  for (const auto& [scale, key] : {std::pair{model.w_scale, "model.w_scale"}, std::pair{model.u_scale, "model.u_scale"},
                                   std::pair{model.b_scale, "model.b_scale"}}) {
    require(std::isfinite(scale) && scale >= 0.0, key, "must be finite and non-negative, got " + config_number(scale));
  }
  require(std::isfinite(model.initial_scale) && model.initial_scale >= 0.0, "model.initial_scale",
          "must be finite and non-negative, got " + config_number(model.initial_scale));
  require(std::isfinite(schedule.T) && std::isfinite(schedule.t_min), "schedule.T", "must be finite");
  require(schedule.t_min > 0.0, "schedule.t_min", "must be positive, got " + config_number(schedule.t_min));
  require(schedule.T > schedule.t_min, "schedule.T",
          "must be greater than schedule.t_min (T = " + config_number(schedule.T) +
              ", t_min = " + config_number(schedule.t_min) + ")");
  try {
    schedule.validate();
  } catch (const InvalidArgument& e) {
    // The schedule names its own fields ("T", "sigma_max"); prefix them with
    // the group unless they already carry it.
    const std::string what = e.what();
    const std::string field = what.substr(0, what.find(':'));
    rethrow_as(field.starts_with("schedule") ? field : "schedule." + field, e);
  }
  if (train_loss.method == TrainLossMethod::monte_carlo) {
    require_positive(train_loss.draws_per_sample, "train_loss.draws_per_sample");
  } else {
    require_positive(train_loss.time_nodes, "train_loss.time_nodes");
    require_positive(train_loss.noise_nodes, "train_loss.noise_nodes");
  }
}

DsmSetup RandomFeatureModelConfig::dsm_setup() const {
  DsmSetup setup;
  setup.schedule = schedule;
  setup.weighting = weighting;
  setup.output_scale = model.output_scale;
  return setup;
}

nlohmann::ordered_json to_json(const RandomFeatureModelConfig& c) {
  nlohmann::ordered_json j;
  j["seed"] = c.seed;
  j["model"] = {{"m", c.model.m},
                {"activation", to_string(c.model.activation)},
                {"feature_init", to_string(c.model.feature_init)},
                {"embedding", to_string(c.model.embedding)},
                {"embedding_dim", c.model.embedding_dim},
                {"embedding_scale", c.model.embedding_scale},
                {"embedding_horizon", c.model.embedding_horizon ? nlohmann::ordered_json(*c.model.embedding_horizon)
                                                                : nlohmann::ordered_json(nullptr)},
                {"w_scale", c.model.w_scale},
                {"u_scale", c.model.u_scale},
                {"b_scale", c.model.b_scale},
                {"output_scale", to_string(c.model.output_scale)},
                {"initial_weights", to_string(c.model.initial_weights)},
                {"initial_scale", c.model.initial_scale}};
  j["schedule"] = {{"kind", to_string(c.schedule.kind)},       {"T", c.schedule.T},
                   {"t_min", c.schedule.t_min},                {"beta_min", c.schedule.beta_min},
                   {"beta_max", c.schedule.beta_max},          {"sigma_max", c.schedule.sigma_max}};
  j["weighting"] = to_string(c.weighting);
  j["train_loss"] = {{"method", to_string(c.train_loss.method)},
                     {"draws_per_sample", c.train_loss.draws_per_sample},
                     {"time_nodes", c.train_loss.time_nodes},
                     {"noise_nodes", c.train_loss.noise_nodes}};
  return j;
}

void read_model_config(ObjectReader& root, RandomFeatureModelConfig& c) {
  root.read("seed", c.seed);
  if (const nlohmann::json* model = root.find("model")) {
    ObjectReader r(*model, "model");
    r.read("m", c.model.m);
    r.read_named("activation", c.model.activation, parse_activation);
    r.read_named("feature_init", c.model.feature_init, parse_feature_init);
    r.read_named("embedding", c.model.embedding, parse_embedding);
    r.read("embedding_dim", c.model.embedding_dim);
    r.read("embedding_scale", c.model.embedding_scale);
    r.read("embedding_horizon", c.model.embedding_horizon);
    r.read("w_scale", c.model.w_scale);
    r.read("u_scale", c.model.u_scale);
    r.read("b_scale", c.model.b_scale);
    r.read_named("output_scale", c.model.output_scale, parse_output_scale);
    r.read_named("initial_weights", c.model.initial_weights, parse_initial_weights);
    r.read("initial_scale", c.model.initial_scale);
    r.finish();
  }
  if (const nlohmann::json* schedule = root.find("schedule")) {
    ObjectReader r(*schedule, "schedule");
    ScheduleKind kind = c.schedule.kind;
    r.read_named("kind", kind, parse_schedule);
    c.schedule = default_schedule(kind);
    r.read("T", c.schedule.T);
    r.read("t_min", c.schedule.t_min);
    r.read("beta_min", c.schedule.beta_min);
    r.read("beta_max", c.schedule.beta_max);
    r.read("sigma_max", c.schedule.sigma_max);
    r.finish();
  }
  root.read_named("weighting", c.weighting, parse_weighting);
  if (const nlohmann::json* train = root.find("train_loss")) {
    ObjectReader r(*train, "train_loss");
    r.read_named("method", c.train_loss.method, parse_train_loss_method);
    r.read("draws_per_sample", c.train_loss.draws_per_sample);
    r.read("time_nodes", c.train_loss.time_nodes);
    r.read("noise_nodes", c.train_loss.noise_nodes);
    r.finish();
  }
}

RandomFeatureModelConfig random_feature_model_config_from_json(const nlohmann::json& json) {
  RandomFeatureModelConfig c;
  ObjectReader root(json, "");
  read_model_config(root, c);
  root.finish();
  return c;
}

}  // namespace gengap
