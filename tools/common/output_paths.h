// Checks of a tool's output paths before it does any work: each names the path and the problem,
// so a run that would fail at the end (after minutes of work, or after writing another output)
// fails at once and writes nothing.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace mq::cli {

/// Empty when a file can be created at `path` (its folder exists, is a folder and takes a new
/// file: tried with a temporary, which is removed), else why not.
inline std::string output_path_problem(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const auto quoted = [](const fs::path& p) { return "'" + p.string() + "'"; };
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "output folder " + quoted(dir) + " does not exist";
  if (!fs::is_directory(dir, ec)) return "output folder " + quoted(dir) + " is not a directory";
  if (fs::is_directory(path, ec)) return "output " + quoted(path) + " is a directory";
  std::string probe = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) {
    std::string why = std::strerror(errno);
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    return "cannot write in output folder " + quoted(dir) + ": " + why;
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return {};
}

/// True when `a` and `b` name the same file: the same existing file (any spelling, symlinks),
/// or, for files that do not exist yet, the same normalized absolute path.
inline bool same_path(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  if (std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec)) return std::filesystem::equivalent(a, b, ec);
  const auto norm = [](const std::filesystem::path& p) {
    std::error_code e;
    return std::filesystem::weakly_canonical(std::filesystem::absolute(p, e), e);
  };
  return norm(a) == norm(b);
}

}  // namespace mq::cli
