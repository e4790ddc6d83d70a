// A directory of its own under /tmp for tests that need real files,
// removed with everything in it.
#pragma once

#include <stdlib.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace relay::test {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "relay-unit") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `name` in the directory; returns its path.
  std::string file(const std::string& name, const std::string& content) const {
    const auto p = path / name;
    std::ofstream(p) << content;
    return p.string();
  }
};

}  // namespace relay::test
