// Helpers shared by the command-line tools: exit codes and one-line error reporting.
#pragma once

#include <fmt/core.h>
#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>

namespace mq::cli {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

/// `text` with control characters escaped (\n, \r, \t, \xNN). An error is one line on stderr
/// (scripts and logs read it line by line), but messages quote file names and names from inside
/// a model, which may hold newlines.
inline std::string one_line(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (byte < 0x20 || byte == 0x7f) out += fmt::format("\\x{:02x}", byte);
    else out += c;
  }
  return out;
}

/// Prints "TOOL: error: MESSAGE" as one line on stderr; returns exit_failure.
inline int fail(std::string_view tool, std::string_view message) {
  fmt::print(stderr, "{}: error: {}\n", tool, one_line(message));
  return exit_failure;
}

/// Prints the usage error and the hint to --help on stderr; returns exit_usage.
inline int usage_error(std::string_view tool, std::string_view message) {
  fmt::print(stderr, "{}: {}\nrun '{} --help' for usage\n", tool, one_line(message), tool);
  return exit_usage;
}

/// `--help`/`-h` prints `usage` and `--version` prints "TOOL VERSION", both on stdout; returns
/// exit_ok for them and nullopt for any other argument.
inline std::optional<int> help_or_version(std::string_view arg, std::string_view tool, std::string_view usage,
                                          std::string_view version) {
  if (arg == "-h" || arg == "--help") {
    fmt::print("{}", usage);
    return exit_ok;
  }
  if (arg == "--version") {
    fmt::print("{} {}\n", tool, version);
    return exit_ok;
  }
  return std::nullopt;
}

}  // namespace mq::cli
