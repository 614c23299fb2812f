// JSON string literals, for the places in libmodelquant and its tests that write JSON by hand
// (the quantize report, test tools). libmodelquant-fetch keeps its own copy (fetch/json.h).
#pragma once

#include <string>
#include <string_view>

namespace mq::util {

/// `text` as a JSON string literal (quotes included); control characters are escaped.
std::string json_quote(std::string_view text);

}  // namespace mq::util
