#include "gengap/generalization/io/saved_model.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

constexpr int kFormatVersion = 1;

std::string_view activation_formula(Activation a) {
  switch (a) {
    case Activation::relu: return "max(z, 0)";
    case Activation::silu: return "z / (1 + exp(-z))";
    case Activation::softplus: return "log(1 + exp(z))";
    case Activation::tanh: return "tanh(z)";
  }
  return "";
}

nlohmann::ordered_json schedule_json(const Schedule& s) {
  nlohmann::ordered_json j;
  j["kind"] = to_string(s.kind);
  j["T"] = s.T;
  j["t_min"] = s.t_min;
  j["beta_min"] = s.beta_min;
  j["beta_max"] = s.beta_max;
  j["sigma_max"] = s.sigma_max;
  switch (s.kind) {
    case ScheduleKind::ou:
      j["mean_scale"] = "mu_t = exp(-t)";
      j["variance"] = "sigma_t^2 = 1 - exp(-2 t)";
      break;
    case ScheduleKind::vp:
      j["mean_scale"] = "mu_t = exp(-B(t)/2), B(t) = beta_min t + (beta_max - beta_min) t^2 / 2";
      j["variance"] = "sigma_t^2 = 1 - exp(-B(t))";
      break;
    case ScheduleKind::ve:
      j["mean_scale"] = "mu_t = 1";
      j["variance"] = "sigma_t^2 = (sigma_max^(2 t) - 1) / (2 ln sigma_max)";
      break;
  }
  return j;
}

const nlohmann::json& member(const nlohmann::json& j, const char* key, const std::string& file) {
  if (!j.is_object() || !j.contains(key)) throw InvalidArgument(file, std::string("missing key '") + key + "'");
  return j.at(key);
}

template <class T>
T get(const nlohmann::json& j, const char* key, const std::string& file) {
  try {
    return member(j, key, file).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(file, std::string("key '") + key + "': " + e.what());
  }
}

Matrix read_matrix(const std::filesystem::path& path, std::size_t rows, std::size_t cols) {
  const NpyArray array = read_npy(path);
  if (array.ndim() != 2 || array.shape[0] != rows || array.shape[1] != cols) {
    throw InvalidArgument(path.string(), "expected shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
  }
  return Matrix(rows, cols, array.values);
}

std::vector<double> read_vector(const std::filesystem::path& path) {
  const NpyArray array = read_npy(path);
  if (array.ndim() != 1) throw InvalidArgument(path.string(), "expected a 1-d array");
  return array.values;
}

}  // namespace

void save_model(const std::filesystem::path& dir, const SavedModel& model) {
  const RandomFeatures& rf = model.features;
  rf.validate();
  require(model.tau.size() == model.weights.size(), "weights", "one weight matrix per saved tau");
  const std::size_t m = rf.num_features(), d = rf.dim(), k = model.tau.size();
  std::vector<double> stacked;
  stacked.reserve(k * d * m);
  for (const Matrix& A : model.weights) {
    require_shape(A, d, m, "weights");
    stacked.insert(stacked.end(), A.values().begin(), A.values().end());
  }
  ensure_directory(dir, "model");

  write_npy(dir / "W.npy", rf.W);
  write_npy(dir / "U.npy", rf.U);
  write_npy(dir / "b.npy", rf.b);
  const std::size_t a_shape[] = {k, d, m};
  write_npy(dir / "A.npy", stacked, a_shape);
  write_npy(dir / "tau.npy", model.tau);

  nlohmann::ordered_json j;
  j["format"] = "gengap random-feature score model";
  j["format_version"] = kFormatVersion;
  j["formula"] = "s_A(x, t) = c(t) / m * A act(W x + U e(t) + b) + k(t) x; A = A.npy[k] (d x m), x in R^d";
  j["m"] = m;
  j["d"] = d;
  j["activation"] = to_string(rf.activation);
  j["activation_formula"] = activation_formula(rf.activation);
  nlohmann::ordered_json embedding;
  embedding["kind"] = to_string(rf.embedding.kind);
  embedding["dim"] = rf.embedding.dim();
  if (rf.embedding.is_trigonometric()) {
    write_npy(dir / "frequencies.npy", rf.embedding.frequencies);
    embedding["frequencies"] = "frequencies.npy";
    embedding["formula"] = "e(t) = concat(sin(2 pi omega t), cos(2 pi omega t)), omega = frequencies.npy";
  } else {
    embedding["horizon"] = rf.embedding.horizon;
    if (rf.embedding.kind == EmbeddingKind::polynomial) {
      embedding["degree"] = rf.embedding.degree;
      embedding["formula"] = "e(t) = [(t / horizon)^k for k = 1 .. degree]";
    } else {
      embedding["formula"] = "e(t) = [t / horizon]";
    }
  }
  j["embedding"] = embedding;
  j["output_scale"] = to_string(model.setup.output_scale);
  j["output_scale_formula"] = model.setup.output_scale == OutputScale::one         ? "c(t) = 1"
                              : model.setup.output_scale == OutputScale::inv_sigma ? "c(t) = 1 / sigma_t"
                                                                                   : "c(t) = mu_t / sigma_t^2, plus -x / sigma_t^2";
  j["schedule"] = schedule_json(model.setup.schedule);
  j["t_min"] = model.setup.schedule.t_min;
  j["T"] = model.setup.schedule.T;
  j["weighting"] = to_string(model.setup.weighting);
  j["weighting_formula"] = model.setup.weighting == Weighting::sigma2       ? "lambda(t) = sigma_t^2"
                           : model.setup.weighting == Weighting::likelihood ? "lambda(t) = g(t)^2"
                                                                            : "lambda(t) = 1";
  j["arrays"] = {{"W", "W.npy"}, {"U", "U.npy"}, {"b", "b.npy"}, {"A", "A.npy"}, {"tau", "tau.npy"}};
  j["A_shape"] = {k, d, m};
  write_file_atomically(dir / "model.json", j.dump(2) + "\n");
}

SavedModel load_model(const std::filesystem::path& dir) {
  const std::string file = (dir / "model.json").string();
  std::ifstream in(dir / "model.json");
  if (!in) throw InvalidArgument(file, "cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(file, std::string("not valid JSON: ") + e.what());
  }
  require(get<int>(j, "format_version", file) == kFormatVersion, file, "unsupported format_version");
  const auto m = get<std::size_t>(j, "m", file);
  const auto d = get<std::size_t>(j, "d", file);

  SavedModel model;
  RandomFeatures& rf = model.features;
  rf.activation = parse_activation(get<std::string>(j, "activation", file));
  const nlohmann::json& embedding = member(j, "embedding", file);
  rf.embedding.kind = parse_embedding(get<std::string>(embedding, "kind", file));
  if (rf.embedding.is_trigonometric()) {
    rf.embedding.frequencies = read_vector(dir / "frequencies.npy");
  } else {
    rf.embedding.horizon = get<double>(embedding, "horizon", file);
    if (rf.embedding.kind == EmbeddingKind::polynomial) rf.embedding.degree = get<std::size_t>(embedding, "degree", file);
  }
  rf.W = read_matrix(dir / "W.npy", m, d);
  rf.U = read_matrix(dir / "U.npy", m, rf.embedding.dim());
  rf.b = read_vector(dir / "b.npy");
  rf.validate();

  const nlohmann::json& schedule = member(j, "schedule", file);
  Schedule& s = model.setup.schedule;
  s.kind = parse_schedule(get<std::string>(schedule, "kind", file));
  s.T = get<double>(schedule, "T", file);
  s.t_min = get<double>(schedule, "t_min", file);
  s.beta_min = get<double>(schedule, "beta_min", file);
  s.beta_max = get<double>(schedule, "beta_max", file);
  s.sigma_max = get<double>(schedule, "sigma_max", file);
  s.validate();
  model.setup.weighting = parse_weighting(get<std::string>(j, "weighting", file));
  model.setup.output_scale = parse_output_scale(get<std::string>(j, "output_scale", file));

  model.tau = read_vector(dir / "tau.npy");
  const NpyArray A = read_npy(dir / "A.npy");
  const std::size_t k = model.tau.size();
  if (A.ndim() != 3 || A.shape[0] != k || A.shape[1] != d || A.shape[2] != m) {
    throw InvalidArgument((dir / "A.npy").string(), "expected shape (" + std::to_string(k) + ", " +
                                                        std::to_string(d) + ", " + std::to_string(m) + ")");
  }
  for (std::size_t i = 0; i < k; ++i) {
    model.weights.emplace_back(d, m, std::vector<double>(A.values.begin() + static_cast<std::ptrdiff_t>(i * d * m),
                                                         A.values.begin() + static_cast<std::ptrdiff_t>((i + 1) * d * m)));
  }
  return model;
}

}  // namespace gengap
