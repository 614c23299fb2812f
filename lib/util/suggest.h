// "Did you mean": the closest of a few known words to a mistyped one. Header-only and std-only,
// so the command-line tools use the same rule for option names as the library for op types.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace mq::util {

/// Edit distance (insert, delete, substitute, each 1), ignoring ASCII case.
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// The choice closest to `word` when it is near enough to be a typo (at most 2 edits, and
/// fewer than a third of the word), or "" when none is.
inline std::string closest_match(std::string_view word, const std::vector<std::string>& choices) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(1, std::min<std::size_t>(2, (word.size() + 2) / 3)) + 1;
  for (const auto& c : choices) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

/// " (did you mean 'X'?)" for the closest choice, or "" when none is close.
inline std::string did_you_mean(std::string_view word, const std::vector<std::string>& choices) {
  const std::string best = closest_match(word, choices);
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

}  // namespace mq::util
