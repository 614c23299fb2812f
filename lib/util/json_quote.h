// JSON string literals, for the few places that write JSON by hand (the quantize report, the
// fetch library's JSON values, test tools).
#pragma once

#include <string>
#include <string_view>

namespace mq::util {

/// `text` as a JSON string literal (quotes included); control characters are escaped.
std::string json_quote(std::string_view text);

}  // namespace mq::util
