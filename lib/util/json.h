#pragma once

#include <nlohmann/json.hpp>

namespace mq::util {
using json = nlohmann::ordered_json;
}
