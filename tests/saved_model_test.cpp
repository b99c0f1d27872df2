// Saved models (generalization/io/saved_model.hpp): what load_model reads back is
// bit for bit what save_model wrote, for both embeddings; inconsistent folders
// are rejected naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/io/saved_model.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {
namespace {

namespace fs = std::filesystem;

class SavedModelTest : public testing::TestWithParam<EmbeddingKind> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_saved_model_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static SavedModel make(EmbeddingKind kind) {
    SavedModel model;
    model.setup.schedule = default_schedule(ScheduleKind::vp);
    model.setup.weighting = Weighting::likelihood;
    model.setup.output_scale = OutputScale::inv_sigma;
    const TimeEmbedding embedding = kind == EmbeddingKind::fourier      ? fourier_embedding(6, 4.0, 2)
                                    : kind == EmbeddingKind::sinusoidal ? sinusoidal_embedding(4, 2.0)
                                    : kind == EmbeddingKind::polynomial ? polynomial_embedding(3, 2.0)
                                                                        : linear_embedding(1.0);
    model.features = draw_random_features(10, 2, embedding, Activation::silu, FeatureInit::gaussian, 5);
    for (int k = 0; k < 3; ++k) {
      Matrix A(2, 10);
      CounterRng(k, streams::initial_weights).fill_normal(A.flat());
      model.weights.push_back(A);
      model.tau.push_back(0.5 * (k + 1));
    }
    return model;
  }
  fs::path dir_;
};

TEST_P(SavedModelTest, LoadReturnsWhatWasSaved) {
  const SavedModel saved = make(GetParam());
  save_model(dir_, saved);
  const SavedModel loaded = load_model(dir_);
  EXPECT_EQ(loaded.features.W, saved.features.W);
  EXPECT_EQ(loaded.features.U, saved.features.U);
  EXPECT_EQ(loaded.features.b, saved.features.b);
  EXPECT_EQ(loaded.features.activation, saved.features.activation);
  EXPECT_EQ(loaded.features.embedding.kind, saved.features.embedding.kind);
  EXPECT_EQ(loaded.features.embedding.frequencies, saved.features.embedding.frequencies);
  EXPECT_EQ(loaded.features.embedding.horizon, saved.features.embedding.horizon);
  EXPECT_EQ(loaded.setup.schedule.kind, saved.setup.schedule.kind);
  EXPECT_EQ(loaded.setup.schedule.T, saved.setup.schedule.T);
  EXPECT_EQ(loaded.setup.schedule.t_min, saved.setup.schedule.t_min);
  EXPECT_EQ(loaded.setup.schedule.beta_max, saved.setup.schedule.beta_max);
  EXPECT_EQ(loaded.setup.weighting, saved.setup.weighting);
  EXPECT_EQ(loaded.setup.output_scale, saved.setup.output_scale);
  EXPECT_EQ(loaded.tau, saved.tau);
  EXPECT_EQ(loaded.weights, saved.weights);
}

TEST_P(SavedModelTest, RejectsInconsistentArrays) {
  save_model(dir_, make(GetParam()));
  // A.npy with one saved time fewer than tau.npy lists.
  const std::vector<double> values(2 * 2 * 10, 0.0);
  const std::size_t shape[] = {2, 2, 10};
  write_npy(dir_ / "A.npy", values, shape);
  try {
    load_model(dir_);
    FAIL() << "expected an error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("A.npy"), std::string::npos) << e.what();
  }
  fs::remove(dir_ / "W.npy");
  EXPECT_THROW(load_model(dir_), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Embeddings, SavedModelTest, testing::Values(EmbeddingKind::fourier, EmbeddingKind::sinusoidal,
                                                                 EmbeddingKind::linear, EmbeddingKind::polynomial),
                         [](const testing::TestParamInfo<EmbeddingKind>& info) {
                           return std::string(to_string(info.param));
                         });

}  // namespace
}  // namespace gengap
