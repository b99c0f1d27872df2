#pragma once
// Checks of a `gengap study` results folder shared by the command-line tests
// (cli_study_test.cpp, cli_mpi_test.cpp): config.json, settings.csv,
// summary.npy and settings/ describe the same finished settings, and no
// temporary file is left.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "gengap/generalization/io/npy.hpp"

namespace gengap::testing_cli {

inline std::vector<std::vector<std::string>> csv_rows(const std::filesystem::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read(path));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) fields.push_back(cell);
    rows.push_back(fields);
  }
  return rows;
}

inline std::vector<std::filesystem::path> temporaries(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(entry.path());
  }
  return found;
}

// config.json, settings.csv, summary.npy and the settings/ folders describe
// the same finished settings; returns their indices.
inline std::vector<std::size_t> expect_consistent_folder(const std::filesystem::path& out, std::size_t total) {
  const auto config = nlohmann::json::parse(read(out / "config.json"));
  std::vector<std::size_t> listed;
  std::set<std::string> folders;
  for (const auto& entry : config["settings"]) {
    listed.push_back(entry["index"].get<std::size_t>());
    const std::filesystem::path folder = out / entry["folder"].get<std::string>();
    folders.insert(folder.filename().string());
    // A complete S1 folder: config.json (written last) with its summary.
    const auto s1 = nlohmann::json::parse(read(folder / "config.json"));
    EXPECT_TRUE(s1.contains("summary")) << folder;
    EXPECT_EQ(s1["part_of"]["setting"], entry["index"]);
    EXPECT_TRUE(std::filesystem::exists(folder / "curves.csv")) << folder;
    EXPECT_TRUE(std::filesystem::exists(folder / "model" / "A.npy")) << folder;
  }
  EXPECT_EQ(config["summary"]["settings_finished"].get<std::size_t>(), listed.size());
  EXPECT_EQ(config["summary"]["settings_total"].get<std::size_t>(), total);
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(out / "settings")) on_disk.insert(entry.path().filename().string());
  EXPECT_EQ(on_disk, folders);  // no setting folder that config.json does not list

  const auto rows = csv_rows(out / "settings.csv");
  const auto& columns = config["summary_columns"];
  EXPECT_EQ(rows.size(), listed.size() + 1);
  EXPECT_EQ(rows.front().size(), columns.size());
  for (std::size_t r = 1; r < rows.size(); ++r) {
    EXPECT_EQ(rows[r].size(), columns.size());
    EXPECT_EQ(std::stoul(rows[r][0]), listed[r - 1]);  // index column, in setting order
  }
  const NpyArray table = read_npy(out / "summary.npy");
  EXPECT_EQ(table.shape, (std::vector<std::size_t>{listed.size(), columns.size()}));
  for (std::size_t r = 0; r < listed.size(); ++r) {
    EXPECT_EQ(table.values[r * columns.size()], static_cast<double>(listed[r]));
    EXPECT_EQ(table.values[r * columns.size() + 3], std::stod(rows[r + 1][3]));  // kl_best, %.17g exact
  }
  EXPECT_TRUE(temporaries(out).empty());
  return listed;
}

}  // namespace gengap::testing_cli
