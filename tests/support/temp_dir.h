// A unique temporary folder for one test, removed with everything in it on destruction.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mq::test {

class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }
  /// Names of the entries in the folder (to prove nothing stray was left behind).
  std::vector<std::string> entries() const;

 private:
  std::filesystem::path path_;
};

}  // namespace mq::test
