#pragma once
// Running the gengap program from tests (GENGAP_CLI_PATH) as a user does:
// through the shell, capturing exit code, stdout and stderr.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef GENGAP_CLI_PATH
#error "command-line tests need the gengap_cli target (GENGAP_CLI_PATH)"
#endif

extern char** environ;

namespace gengap::testing_cli {

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `gengap <arguments>` through the shell (arguments are trusted test
// strings), with `environment` ("NAME=value ...") prepended; stdout and stderr
// go through files in `scratch`, removed afterwards. GENGAP_BLAS_REEXECUTED is
// cleared so that the program makes its own OpenBLAS decision.
inline Outcome run_gengap(const std::filesystem::path& scratch, const std::string& arguments,
                          const std::string& environment = "") {
  const std::filesystem::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string command = "env -u GENGAP_BLAS_REEXECUTED " + environment + " '" + GENGAP_CLI_PATH + "' " +
                              arguments + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  Outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.out = read(out);
  o.err = read(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return o;
}

// `gengap <arguments> --out <out>` is bad input: exit code 2, one line on
// stderr that starts with `message` (naming the key), and nothing written at
// `out` (rejected before anything is computed).
inline void expect_rejected(const std::filesystem::path& scratch, const std::string& arguments,
                            const std::string& message, const std::filesystem::path& out) {
  const Outcome o = run_gengap(scratch, arguments + " --out '" + out.string() + "'");
  EXPECT_EQ(o.exit_code, 2) << arguments;
  EXPECT_EQ(o.err.rfind(message, 0), 0u) << arguments << ": " << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << arguments;
}

// Starts `arguments` (argv[0] looked up in PATH, no shell) as a child with
// stdout/stderr in files; its pid, or -1.
inline pid_t spawn_process(std::vector<std::string> arguments, const std::filesystem::path& out,
                           const std::filesystem::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (std::string& a : arguments) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int status = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return status == 0 ? pid : -1;
}

// Starts gengap as a child (argv, no shell) with stdout/stderr in files.
inline pid_t spawn_gengap(const std::vector<std::string>& arguments, const std::filesystem::path& out,
                          const std::filesystem::path& err) {
  // GENGAP_BLAS_REEXECUTED cleared so the program makes its own OpenBLAS decision
  // (as run_gengap does); env execs gengap in the same process.
  std::vector<std::string> args = {"env", "-u", "GENGAP_BLAS_REEXECUTED", GENGAP_CLI_PATH};
  args.insert(args.end(), arguments.begin(), arguments.end());
  return spawn_process(std::move(args), out, err);
}

}  // namespace gengap::testing_cli
