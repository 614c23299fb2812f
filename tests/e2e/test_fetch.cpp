// mq::model_store against a real HTTP server on 127.0.0.1 (tests/support/hub_server) with
// injected faults: resume, retries, no retry on 401/403/404, redirects without the token,
// stalls, hash mismatches, concurrent pulls, servers ignoring Range, offline use, INT8 rebuilds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <atomic>
#include <thread>
#include <vector>

#include "fetch/config.h"
#include "fetch/sha256.h"
#include "mq/model.h"
#include "mq/store.h"
#include "support/fetch_fixture.h"
#include "support/hub_server.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

namespace fs = std::filesystem;

// REQUIRE on an mq::result, printing its error message when it failed.
#define REQUIRE_OK(r)                              \
  do {                                             \
    if (!(r)) FAIL((r).error().message);            \
  } while (0)
using mq::test::hub_fault;
using mq::test::hub_server;
using mq::test::temp_dir;
using mq::test::config_of;

namespace {

struct setup {
  temp_dir dir;
  hub_server hub;
  std::string model = mq::test::matmul_model_bytes();
  std::string path;

  explicit setup(const std::string& name = "m", const std::string& catalog_extra = {},
                 const std::string& quantize = "enabled = true\nmethod = \"dynamic_int8\"\n") {
    path = hub.put("test/" + name, "model.onnx", model);
    write_catalog(mq::test::catalog_entry(name, catalog_extra, quantize));
  }
  void write_catalog(const std::string& text) const { mq::test::write_bytes(dir / "catalog.toml", text); }

  mq::store_options options() const {
    mq::store_options o;
    o.models_dir = dir / "models";
    o.catalog_file = dir / "catalog.toml";
    o.endpoint = hub.endpoint();
    o.stall_timeout = std::chrono::milliseconds(300);
    o.connect_timeout = std::chrono::milliseconds(2000);
    o.retry_backoff = std::chrono::milliseconds(10);
    o.max_attempts = 3;
    return o;
  }
  mq::model_store store(const mq::store_options& o) const {
    auto s = mq::model_store::open(o);
    REQUIRE_OK(s);
    return std::move(*s);
  }
  mq::model_store store() const { return store(options()); }
  fs::path model_dir(const std::string& name = "m") const { return dir / "models" / name; }
};

hub_fault status_fault(int status, int times = 1) {
  hub_fault f;
  f.status = status;
  f.times = times;
  return f;
}

hub_fault drop_fault(std::size_t after, std::chrono::milliseconds stall = {}, int times = 1) {
  hub_fault f;
  f.drop_after = after;
  f.stall = stall;
  f.times = times;
  return f;
}

hub_fault ignore_range_fault() {
  hub_fault f;
  f.ignore_range = true;
  return f;
}

hub_fault redirect_fault(std::string to) {
  hub_fault f;
  f.redirect_to = std::move(to);
  return f;
}

// Requests of one method (GET transfers, HEAD upstream checks) the server saw for `path`.
std::size_t count(const hub_server& hub, const std::string& path, const std::string& method) {
  std::size_t n = 0;
  for (const auto& r : hub.requests(path)) n += r.method == method ? 1 : 0;
  return n;
}

// Nothing in the model folder that an app could mistake for a usable model.
void require_no_model(const fs::path& dir) {
  CHECK_FALSE(fs::exists(dir / "model.onnx"));
  CHECK_FALSE(fs::exists(dir / "model-int8.onnx"));
  CHECK_FALSE(fs::exists(dir / "config.json"));
  CHECK_FALSE(fs::exists(dir / "model.onnx.partial"));
}

}  // namespace

TEST_CASE("pull publishes fp32, int8 and config.json; a second pull reuses them", "[fetch]") {
  setup s;
  auto store = s.store();
  std::vector<mq::pull_stage> stages;
  auto pulled = store.pull("m", [&](const mq::pull_progress& p) { stages.push_back(p.stage); });
  REQUIRE_OK(pulled);
  CHECK(pulled->downloaded);
  CHECK(pulled->quantized);
  CHECK(pulled->use_int8);
  CHECK(mq::test::read_bytes(pulled->fp32) == s.model);
  REQUIRE(fs::exists(pulled->int8));
  CHECK(std::find(stages.begin(), stages.end(), mq::pull_stage::quantizing) != stages.end());

  auto config = config_of(s.model_dir());
  CHECK(config["use_int8"].get<bool>());
  CHECK(config["task"].get<std::string>() == "test");
  CHECK(config["model_path"].get<std::string>() == "model.onnx");
  CHECK(config["int8_model_path"].get<std::string>() == "model-int8.onnx");
  CHECK(config["source"]["url"].get<std::string>() == s.hub.endpoint() + s.path);
  CHECK(config["source"]["sha256"].get<std::string>() == mq::fetch::sha256_hex(s.model));
  CHECK(config["source"]["etag"].get<std::string>() == "\"etag-" + std::to_string(s.model.size()) + "\"");
  CHECK(config["inputs"].dump().find("\"batch\"") != std::string::npos);
  CHECK(config["inputs"].dump().find("\"x\"") != std::string::npos);
  CHECK(config["quantization"]["status"].get<std::string>() == "quantized");
  auto int8 = mq::model::load(pulled->int8);
  REQUIRE_OK(int8);
  CHECK(int8->metadata("mq.cache_key") == config["quantization"]["cache_key"].get<std::string>());
  CHECK(config["quantization"]["cache_key"].get<std::string>().size() == 64);

  const auto before = count(s.hub, s.path, "GET");
  auto again = store.pull("m");
  REQUIRE_OK(again);
  CHECK_FALSE(again->downloaded);
  CHECK_FALSE(again->quantized);
  CHECK(again->use_int8);
  CHECK(count(s.hub, s.path, "GET") == before);
  CHECK(count(s.hub, s.path, "HEAD") == 1);  // no catalog sha256: the upstream ETag is checked

  auto listed = store.info("m");
  REQUIRE_OK(listed);
  CHECK(listed->state == mq::cache_state::fp32_int8);
  CHECK(listed->int8_bytes > 0);
}

TEST_CASE("a connection dropped mid-body is resumed with a Range request", "[fetch]") {
  setup s;
  s.hub.fault(s.path, drop_fault(1000));
  auto pulled = s.store().pull("m");
  REQUIRE_OK(pulled);
  const auto requests = s.hub.requests(s.path);
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].range.empty());
  CHECK(requests[1].range == "bytes=1000-");
  CHECK(mq::test::read_bytes(pulled->fp32) == s.model);
}

TEST_CASE("a partial file left by an earlier run is resumed", "[fetch]") {
  setup s;
  auto o = s.options();
  o.max_attempts = 1;
  s.hub.fault(s.path, drop_fault(700));
  auto first = s.store(o).pull("m");
  REQUIRE_FALSE(first);
  CHECK(first.error().code == mq::errc::network);
  CHECK(fs::file_size(s.model_dir() / "model.onnx.partial") == 700);
  CHECK_FALSE(fs::exists(s.model_dir() / "model.onnx"));
  auto second = s.store(o).pull("m");
  REQUIRE_OK(second);
  CHECK(s.hub.requests(s.path).back().range == "bytes=700-");
  CHECK(s.hub.requests(s.path).back().if_range == "\"etag-" + std::to_string(s.model.size()) + "\"");
  CHECK(mq::test::read_bytes(second->fp32) == s.model);
  CHECK_FALSE(fs::exists(s.model_dir() / "model.onnx.partial"));
}

TEST_CASE("a server error is retried; 404, 401 and 403 are not", "[fetch]") {
  SECTION("500 then 200") {
    setup s;
    s.hub.fault(s.path, status_fault(500));
    auto pulled = s.store().pull("m");
    REQUIRE_OK(pulled);
    CHECK(s.hub.requests(s.path).size() == 2);
  }
  SECTION("500 every time gives up after max_attempts") {
    setup s;
    s.hub.fault(s.path, status_fault(503, -1));
    auto pulled = s.store().pull("m");
    REQUIRE_FALSE(pulled);
    CHECK(s.hub.requests(s.path).size() == 3);
    CHECK_THAT(pulled.error().message, Catch::Contains("503") && Catch::Contains("3 attempts"));
  }
  for (const int status : {404, 401, 403}) {
    DYNAMIC_SECTION("status " << status) {
      setup s;
      s.hub.fault(s.path, status_fault(status, -1));
      auto pulled = s.store().pull("m");
      REQUIRE_FALSE(pulled);
      CHECK(s.hub.requests(s.path).size() == 1);
      CHECK_THAT(pulled.error().message, Catch::Contains(s.hub.endpoint() + s.path) &&
                                             Catch::Contains("http " + std::to_string(status)));
      if (status == 404) {
        CHECK(pulled.error().code == mq::errc::not_found);
        CHECK_THAT(pulled.error().message, Catch::Contains("revision"));
      } else {
        CHECK_THAT(pulled.error().message, Catch::Contains("HF_TOKEN"));
      }
      require_no_model(s.model_dir());
    }
  }
}

TEST_CASE("redirects are followed and the token is not sent to another host", "[fetch]") {
  setup s;
  hub_server cdn;
  const std::string cdn_path = cdn.put("cdn", "blob", s.model);
  s.hub.fault(s.path, redirect_fault(cdn.endpoint() + cdn_path));
  auto o = s.options();
  o.token = "secret-token";
  auto pulled = s.store(o).pull("m");
  REQUIRE_OK(pulled);
  CHECK(mq::test::read_bytes(pulled->fp32) == s.model);
  REQUIRE(s.hub.requests(s.path).size() == 1);
  CHECK(s.hub.requests(s.path)[0].authorization == "Bearer secret-token");
  REQUIRE(cdn.requests(cdn_path).size() == 1);
  CHECK(cdn.requests(cdn_path)[0].authorization.empty());
}

TEST_CASE("a stalled transfer is aborted and resumed", "[fetch]") {
  SECTION("stalls once") {
    setup s;
    s.hub.fault(s.path, drop_fault(900, std::chrono::milliseconds(5000)));
    auto pulled = s.store().pull("m");
    REQUIRE_OK(pulled);
    const auto requests = s.hub.requests(s.path);
    REQUIRE(requests.size() == 2);
    CHECK(requests[1].range == "bytes=900-");
    CHECK(mq::test::read_bytes(pulled->fp32) == s.model);
  }
  SECTION("stalls every time") {
    setup s;
    s.hub.fault(s.path, drop_fault(100, std::chrono::milliseconds(5000), -1));
    auto o = s.options();
    o.max_attempts = 2;
    auto pulled = s.store(o).pull("m");
    REQUIRE_FALSE(pulled);
    CHECK_THAT(pulled.error().message, Catch::Contains("stalled: no data for 300 ms"));
  }
}

TEST_CASE("a server that ignores Range restarts the file from zero", "[fetch]") {
  setup s;
  s.hub.fault(s.path, drop_fault(1200));
  s.hub.fault(s.path, ignore_range_fault());
  auto pulled = s.store().pull("m");
  REQUIRE_OK(pulled);
  const auto requests = s.hub.requests(s.path);
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].range == "bytes=1200-");
  CHECK(mq::test::read_bytes(pulled->fp32) == s.model);
}

TEST_CASE("wrong bytes: nothing that looks like a model is left", "[fetch]") {
  SECTION("sha256 from the catalog does not match") {
    setup s("m", "sha256 = \"" + mq::fetch::sha256_hex("something else") + "\"\n");
    auto pulled = s.store().pull("m");
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().code == mq::errc::integrity);
    CHECK_THAT(pulled.error().message, Catch::Contains("sha256 mismatch") && Catch::Contains(s.path));
    require_no_model(s.model_dir());
  }
  SECTION("no sha256, and the bytes are not an onnx model") {
    setup s;
    s.hub.put("test/m", "model.onnx", "<html>rate limited</html>");
    auto pulled = s.store().pull("m");
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().code == mq::errc::integrity);
    require_no_model(s.model_dir());
  }
  SECTION("matching sha256 passes") {
    setup s("m", "sha256 = \"" + mq::fetch::sha256_hex(mq::test::matmul_model_bytes()) + "\"\n");
    auto pulled = s.store().pull("m");
    REQUIRE_OK(pulled);
    CHECK(config_of(s.model_dir())["source"]["sha256_from_catalog"].get<bool>());
  }
}

TEST_CASE("two concurrent pulls of one model download it once and both succeed", "[fetch]") {
  setup s;
  // Slow the first transfer down so that the two pulls overlap.
  s.hub.fault(s.path, drop_fault(2000, std::chrono::milliseconds(150)));
  auto o = s.options();
  o.stall_timeout = std::chrono::milliseconds(5000);
  std::vector<mq::result<mq::pulled_model>> results;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      auto store = mq::model_store::open(o);
      auto r = store ? store->pull("m") : mq::result<mq::pulled_model>(mq::fail(mq::errc::internal, "open"));
      std::lock_guard lock(mutex);
      results.push_back(std::move(r));
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    REQUIRE_OK(r);
    CHECK(r->use_int8);
  }
  CHECK((results[0]->downloaded != results[1]->downloaded));
  CHECK(mq::test::read_bytes(s.model_dir() / "model.onnx") == s.model);
  // One transfer (plus its resume after the injected drop); the later puller checks the ETag.
  CHECK(count(s.hub, s.path, "GET") == 2);
  CHECK(count(s.hub, s.path, "HEAD") <= 1);
}

TEST_CASE("the int8 model is rebuilt when the quantization options change, and only then", "[fetch]") {
  setup s;
  auto first = s.store().pull("m");
  REQUIRE_OK(first);
  const auto key1 = config_of(s.model_dir())["quantization"]["cache_key"].get<std::string>();

  auto same = s.store().pull("m");
  REQUIRE_OK(same);
  CHECK_FALSE(same->quantized);

  s.write_catalog(mq::test::catalog_entry("m", {}, "enabled = true\nmethod = \"weight_only_int8\"\nper_channel = true\n"));
  auto changed = s.store().pull("m");
  REQUIRE_OK(changed);
  CHECK(changed->quantized);
  CHECK_FALSE(changed->downloaded);
  auto config = config_of(s.model_dir());
  CHECK(config["quantization"]["cache_key"].get<std::string>() != key1);
  CHECK_THAT(config["quantization"]["options"].get<std::string>(), Catch::Contains("format=qdq") && Catch::Contains("per_channel=true"));
  auto int8 = mq::model::load(s.model_dir() / "model-int8.onnx");
  REQUIRE_OK(int8);
  CHECK(int8->metadata("mq.cache_key") == config["quantization"]["cache_key"].get<std::string>());

  SECTION("an int8 file with a stale key is not reused") {
    // Put the old int8 model back under the new config: its key does not match, so it is rebuilt.
    auto old = mq::model::load(s.model_dir() / "model-int8.onnx");
    REQUIRE_OK(old);
    old->set_metadata("mq.cache_key", key1);
    REQUIRE(old->save(s.model_dir() / "stale.onnx"));
    fs::rename(s.model_dir() / "stale.onnx", s.model_dir() / "model-int8.onnx");
    auto again = s.store().pull("m");
    REQUIRE_OK(again);
    CHECK(again->quantized);
  }
  SECTION("--force downloads and quantizes again") {
    auto o = s.options();
    o.cache = mq::cache_policy::refresh;
    auto forced = s.store(o).pull("m");
    REQUIRE_OK(forced);
    CHECK(forced->downloaded);
    CHECK(forced->quantized);
  }
  SECTION("--no-quantize keeps a matching int8 model and builds none") {
    auto o = s.options();
    o.quantize = mq::quantize_mode::never;
    auto kept = s.store(o).pull("m");
    REQUIRE_OK(kept);
    CHECK(kept->use_int8);
    CHECK_FALSE(kept->quantized);
  }
}

TEST_CASE("without a catalog sha256 the recorded ETag tells when the upstream file changed", "[fetch]") {
  setup s;
  s.hub.put("test/m", "model.onnx", s.model, "main", "\"v1\"");
  auto first = s.store().pull("m");
  REQUIRE_OK(first);
  CHECK(config_of(s.model_dir())["source"]["etag"].get<std::string>() == "\"v1\"");
  const auto key1 = config_of(s.model_dir())["quantization"]["cache_key"].get<std::string>();
  const std::string changed = mq::test::matmul_model_bytes(32, 16, false, 2.0f);
  REQUIRE(changed != s.model);

  SECTION("same ETag: one HEAD request, no download (even if the bytes differ)") {
    // Same size too: a size that differs would say the file changed whatever the ETag.
    s.hub.put("test/m", "model.onnx", mq::test::matmul_model_bytes(64, 64, false, 2.0f), "main", "\"v1\"");
    auto again = s.store().pull("m");
    REQUIRE_OK(again);
    CHECK_FALSE(again->downloaded);
    CHECK_FALSE(again->upstream_changed);
    CHECK_FALSE(again->quantized);
    CHECK(again->warnings.empty());
    CHECK(count(s.hub, s.path, "GET") == 1);
    CHECK(count(s.hub, s.path, "HEAD") == 1);
    CHECK(mq::test::read_bytes(again->fp32) == s.model);
  }
  SECTION("new bytes with a new ETag: downloaded and quantized again") {
    s.hub.put("test/m", "model.onnx", changed, "main", "\"v2\"");
    std::vector<std::string> messages;
    auto again = s.store().pull("m", [&](const mq::pull_progress& p) {
      if (p.stage == mq::pull_stage::upstream_changed) messages.push_back(p.message);
    });
    REQUIRE_OK(again);
    CHECK(again->downloaded);
    CHECK(again->upstream_changed);
    CHECK(again->quantized);
    REQUIRE(messages.size() == 1);
    CHECK_THAT(messages[0], Catch::Contains("\"v1\"") && Catch::Contains("\"v2\""));
    CHECK(mq::test::read_bytes(again->fp32) == changed);
    auto config = config_of(s.model_dir());
    CHECK(config["source"]["etag"].get<std::string>() == "\"v2\"");
    CHECK(config["source"]["sha256"].get<std::string>() == mq::fetch::sha256_hex(changed));
    CHECK(config["quantization"]["cache_key"].get<std::string>() != key1);
    auto int8 = mq::model::load(again->int8);
    REQUIRE_OK(int8);
    CHECK(int8->metadata("mq.cache_key") == config["quantization"]["cache_key"].get<std::string>());
    CHECK(count(s.hub, s.path, "GET") == 2);
    CHECK(count(s.hub, s.path, "HEAD") == 1);

    auto third = s.store().pull("m");  // and now it is up to date
    REQUIRE_OK(third);
    CHECK_FALSE(third->downloaded);
    CHECK(count(s.hub, s.path, "GET") == 2);
  }
  SECTION("the same bytes with a new ETag: downloaded again, the INT8 model is kept") {
    s.hub.put("test/m", "model.onnx", s.model, "main", "\"v1-repacked\"");
    auto again = s.store().pull("m");
    REQUIRE_OK(again);
    CHECK(again->downloaded);
    CHECK_FALSE(again->quantized);  // same sha256, options and version: same key
    CHECK(again->use_int8);
    CHECK(config_of(s.model_dir())["source"]["etag"].get<std::string>() == "\"v1-repacked\"");
  }
  SECTION("the check fails: the cached model is used, with a warning") {
    s.hub.fault(s.path, status_fault(503));
    auto again = s.store().pull("m");
    REQUIRE_OK(again);
    CHECK_FALSE(again->downloaded);
    CHECK(again->use_int8);
    REQUIRE(again->warnings.size() == 1);
    CHECK_THAT(again->warnings[0], Catch::Contains("upstream") && Catch::Contains("503"));
    CHECK(count(s.hub, s.path, "HEAD") == 1);  // one attempt only
  }
  SECTION("offline: no request at all") {
    s.hub.put("test/m", "model.onnx", changed, "main", "\"v2\"");
    auto o = s.options();
    o.network = mq::network_mode::offline;
    auto again = s.store(o).pull("m");
    REQUIRE_OK(again);
    CHECK_FALSE(again->downloaded);
    CHECK(s.hub.requests(s.path).size() == 1);
  }
}

TEST_CASE("with a catalog sha256 the hash is the authority: no ETag check", "[fetch]") {
  setup s("m", "sha256 = \"" + mq::fetch::sha256_hex(mq::test::matmul_model_bytes()) + "\"\n");
  s.hub.put("test/m", "model.onnx", s.model, "main", "\"v1\"");
  REQUIRE(s.store().pull("m"));
  s.hub.put("test/m", "model.onnx", s.model, "main", "\"v2\"");
  auto again = s.store().pull("m");
  REQUIRE_OK(again);
  CHECK_FALSE(again->downloaded);
  CHECK(count(s.hub, s.path, "HEAD") == 0);
  CHECK(count(s.hub, s.path, "GET") == 1);
}

TEST_CASE("the hub's X-Linked-Etag on its redirect is what is recorded and compared", "[fetch]") {
  setup s;
  hub_server cdn;
  const std::string cdn_path = cdn.put("cdn", "blob", s.model, "main", "\"cdn-1\"");
  auto redirect = redirect_fault(cdn.endpoint() + cdn_path);
  redirect.linked_etag = "\"lfs-1\"";
  s.hub.fault(s.path, redirect);
  REQUIRE(s.store().pull("m"));
  CHECK(config_of(s.model_dir())["source"]["etag"].get<std::string>() == "\"lfs-1\"");

  // The CDN's own ETag changes (another edge, another upload id); the hub's does not.
  cdn.put("cdn", "blob", s.model, "main", "\"cdn-2\"");
  s.hub.fault(s.path, redirect);
  auto same = s.store().pull("m");
  REQUIRE_OK(same);
  CHECK_FALSE(same->downloaded);
  CHECK(count(cdn, cdn_path, "HEAD") == 0);  // the hub's redirect answers the check: no CDN request
  CHECK(count(cdn, cdn_path, "GET") == 1);

  // The hub's changes: downloaded again.
  redirect.linked_etag = "\"lfs-2\"";
  s.hub.fault(s.path, redirect);
  s.hub.fault(s.path, redirect);
  auto changed = s.store().pull("m");
  REQUIRE_OK(changed);
  CHECK(changed->upstream_changed);
  CHECK(changed->downloaded);
  CHECK(count(cdn, cdn_path, "GET") == 2);
  CHECK(config_of(s.model_dir())["source"]["etag"].get<std::string>() == "\"lfs-2\"");
}

TEST_CASE("a failed quantization keeps the fp32 model usable, or fails with strict", "[fetch]") {
  setup s;
  s.model = mq::test::matmul_model_bytes(64, 64, /*poison=*/true);  // 4096: at the auto size floor
  s.hub.put("test/m", "model.onnx", s.model);
  auto pulled = s.store().pull("m");
  REQUIRE_OK(pulled);
  CHECK_FALSE(pulled->use_int8);
  CHECK(pulled->int8.empty());
  REQUIRE(pulled->warnings.size() == 1);
  CHECK_THAT(pulled->warnings[0], Catch::Contains("quantization failed"));
  CHECK_FALSE(fs::exists(s.model_dir() / "model-int8.onnx"));
  auto config = config_of(s.model_dir());
  CHECK_FALSE(config["use_int8"].get<bool>());
  CHECK(config["int8_model_path"].is_null());
  CHECK(config["quantization"]["status"].get<std::string>() == "failed");

  auto o = s.options();
  o.on_quantize_failure = mq::quantize_failure::error;
  auto strict = s.store(o).pull("m");
  REQUIRE_FALSE(strict);
  CHECK_THAT(strict.error().message, Catch::Contains("strict"));
  CHECK(fs::exists(s.model_dir() / "model.onnx"));
}

TEST_CASE("offline pulls use the cache only", "[fetch]") {
  temp_dir dir;
  mq::store_options o;
  o.models_dir = dir / "models";
  o.catalog_file = dir / "catalog.toml";
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m") + mq::test::catalog_entry("other"));
  {
    hub_server hub;
    hub.put("test/m", "model.onnx", mq::test::matmul_model_bytes());
    o.endpoint = hub.endpoint();
    auto store = mq::model_store::open(o);
    REQUIRE_OK(store);
    REQUIRE(store->pull("m"));
  }
  o.network = mq::network_mode::offline;
  o.endpoint = "http://127.0.0.1:1";  // nothing listens there
  auto store = mq::model_store::open(o);
  REQUIRE_OK(store);
  auto cached = store->pull("m");
  REQUIRE_OK(cached);
  CHECK(cached->use_int8);
  CHECK_FALSE(cached->downloaded);
  auto missing = store->pull("other");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("offline") && Catch::Contains("'other'") &&
                                          Catch::Contains("model.onnx"));
}

TEST_CASE("file:// endpoints work as local mirrors, with labels", "[fetch]") {
  temp_dir dir;
  const auto mirror = dir / "mirror" / "test" / "m" / "resolve" / "v1";
  fs::create_directories(mirror);
  const std::string model = mq::test::matmul_model_bytes();
  mq::test::write_bytes(mirror / "model.onnx", model);
  mq::test::write_bytes(mirror / "labels.txt", "cat\ndog\n");
  mq::test::write_bytes(dir / "catalog.toml",
                        mq::test::catalog_entry("m", "revision = \"v1\"\nlabels = \"labels.txt\"\n"));
  mq::store_options o;
  o.models_dir = dir / "models";
  o.catalog_file = dir / "catalog.toml";
  o.endpoint = "file://" + (dir / "mirror").string();
  auto store = mq::model_store::open(o);
  REQUIRE_OK(store);
  auto pulled = store->pull("m");
  REQUIRE_OK(pulled);
  CHECK(mq::test::read_bytes(pulled->fp32) == model);
  CHECK(mq::test::read_bytes(pulled->labels) == "cat\ndog\n");
  CHECK(config_of(pulled->dir)["labels_path"].get<std::string>() == "labels.txt");

  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("gone", "revision = \"v1\"\n"));
  auto reopened = mq::model_store::open(o);
  REQUIRE_OK(reopened);
  auto missing = reopened->pull("gone");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == mq::errc::not_found);
}

TEST_CASE("remove deletes a pulled model; unknown names are errors", "[fetch]") {
  setup s;
  auto store = s.store();
  REQUIRE(store.pull("m"));
  REQUIRE(store.remove("m"));
  CHECK_FALSE(fs::exists(s.model_dir()));
  auto entry = store.info("m");
  REQUIRE_OK(entry);
  CHECK(entry->state == mq::cache_state::not_pulled);
  // In the catalog but not pulled (any more): an error that says so, not a silent success.
  auto again = store.remove("m");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == mq::errc::not_found);
  CHECK_THAT(again.error().message, Catch::Contains("model 'm' is not pulled") && Catch::Contains(s.model_dir().string()));
  CHECK_FALSE(fs::exists(s.model_dir()));
  CHECK_FALSE(store.remove("nope"));
  CHECK_FALSE(store.remove("../m"));
  auto unknown = store.pull("nope");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == mq::errc::not_found);
  CHECK_THAT(unknown.error().message, Catch::Contains("'nope'"));
}

TEST_CASE("real models from the shared folder are pulled and quantized", "[fetch][shared]") {
  const auto dir = mq::test::shared_models_dir();
  if (!dir) {
    WARN("SKIPPED: shared models folder not found (MQ_SHARED_MODELS_DIR)");
    return;
  }
  for (const char* name : {"oww_hello_deepa", "ppocr_mobile_v2_cls"}) {
    const fs::path file = *dir / (std::string(name) + ".onnx");
    if (!fs::exists(file)) {
      WARN("SKIPPED: " << file << " not found");
      continue;
    }
    setup s(name);
    const std::string bytes = mq::test::read_bytes(file);
    s.hub.put(std::string("test/") + name, "model.onnx", bytes);
    s.hub.fault("/test/" + std::string(name) + "/resolve/main/model.onnx", drop_fault(bytes.size() / 2));
    s.write_catalog(mq::test::catalog_entry(name, "sha256 = \"" + mq::fetch::sha256_hex(bytes) + "\"\n"));
    auto pulled = s.store().pull(name);
    REQUIRE_OK(pulled);
    CHECK(pulled->use_int8);
    CHECK(mq::test::read_bytes(pulled->fp32) == bytes);
    CHECK(fs::file_size(pulled->int8) < bytes.size());
  }
}

TEST_CASE("a model in which auto quantizes nothing is pulled with use_int8 = false", "[fetch]") {
  // Every weight under auto's 4096-element floor: the "INT8" file would be the FP32 model. It is
  // kept (so the next pull knows it is up to date), but apps are told to load the FP32 model.
  setup s;
  s.model = mq::test::matmul_model_bytes(32, 16);  // 512 elements
  s.path = s.hub.put("test/m", "model.onnx", s.model);
  auto store = s.store();
  auto pulled = store.pull("m");
  REQUIRE_OK(pulled);
  CHECK(pulled->quantized);
  CHECK_FALSE(pulled->use_int8);
  auto config = config_of(s.model_dir());
  CHECK_FALSE(config["use_int8"].get<bool>());
  CHECK(config["quantization"]["summary"]["quantized_nodes"].get<double>() == 0);
  auto again = store.pull("m");
  REQUIRE_OK(again);
  CHECK_FALSE(again->quantized);  // cached
  CHECK_FALSE(again->use_int8);
}

TEST_CASE("a token sent over plain http is warned about, once per store", "[fetch]") {
  setup s;
  s.write_catalog(mq::test::catalog_entry("m") + mq::test::catalog_entry("n"));
  s.hub.put("test/n", "model.onnx", s.model);
  auto count_token_warnings = [](const mq::pulled_model& p) {
    return std::count_if(p.warnings.begin(), p.warnings.end(), [](const std::string& w) {
      return w.find("HF_TOKEN") != std::string::npos && w.find("unencrypted") != std::string::npos;
    });
  };
  auto o = s.options();
  o.token = "secret-token";
  auto store = s.store(o);
  std::vector<std::string> messages;
  auto first = store.pull("m", [&](const mq::pull_progress& p) {
    if (p.stage == mq::pull_stage::warning) messages.push_back(p.message);
  });
  REQUIRE_OK(first);
  CHECK(count_token_warnings(*first) == 1);
  REQUIRE(messages.size() == 1);
  CHECK_THAT(messages[0], Catch::Contains(s.hub.endpoint()) && Catch::Contains("https://"));
  auto second = store.pull("n");
  REQUIRE_OK(second);
  CHECK(count_token_warnings(*second) == 0);

  SECTION("no token: no warning") {
    auto plain = s.store().pull("m");
    REQUIRE_OK(plain);
    CHECK(count_token_warnings(*plain) == 0);
  }
}

TEST_CASE("malformed endpoints are errors that show a valid one", "[fetch]") {
  setup s;
  struct bad_case {
    std::string endpoint;
    std::string hint;
  };
  for (const auto& c : std::vector<bad_case>{{"file://tmp/x", "file:///tmp/x"},
                                             {"/srv/mirror", "file:///srv/mirror"},
                                             {"models.example.com", "https://models.example.com"},
                                             {"ftp://example.com", "https://"},
                                             {"http://", "http://host"},
                                             {"https:///x", "https://host"},
                                             {"", "https://"}}) {
    auto o = s.options();
    o.endpoint = c.endpoint;
    auto store = mq::model_store::open(o);
    INFO(c.endpoint);
    REQUIRE_FALSE(store);
    CHECK(store.error().code == mq::errc::invalid_argument);
    CHECK_THAT(store.error().message, Catch::StartsWith("endpoint '" + c.endpoint + "'") && Catch::Contains(c.hint));
    CHECK_FALSE(mq::check_endpoint(c.endpoint));
  }
  for (const std::string good : {"file:///srv/mirror", "file://localhost/srv/mirror", "http://127.0.0.1:8080",
                                 "https://huggingface.co/", "HTTPS://hub.example.com:8443/base"}) {
    INFO(good);
    CHECK(mq::check_endpoint(good));
  }
}

namespace {

std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("a failed first pull leaves nothing behind; no pull leaves its lock file", "[fetch]") {
  setup s;
  SECTION("404 with no models folder: none is left") {
    s.hub.fault(s.path, status_fault(404, -1));
    REQUIRE_FALSE(s.store().pull("m"));
    CHECK_FALSE(fs::exists(s.dir / "models"));
  }
  SECTION("404 into an existing models folder: it stays as it was, empty") {
    fs::create_directories(s.dir / "models");
    s.hub.fault(s.path, status_fault(404, -1));
    REQUIRE_FALSE(s.store().pull("m"));
    CHECK(entries_of(s.dir / "models").empty());
  }
  SECTION("a nested models folder that did not exist is removed up to what existed") {
    auto o = s.options();
    o.models_dir = s.dir / "a" / "b" / "models";
    s.hub.fault(s.path, status_fault(403, -1));
    REQUIRE_FALSE(s.store(o).pull("m"));
    CHECK_FALSE(fs::exists(s.dir / "a"));
  }
  SECTION("sha256 mismatch: nothing left") {
    s.write_catalog(mq::test::catalog_entry("m", "sha256 = \"" + mq::fetch::sha256_hex("other") + "\"\n"));
    REQUIRE_FALSE(s.store().pull("m"));
    CHECK_FALSE(fs::exists(s.dir / "models"));
  }
  SECTION("success: the model files only") {
    REQUIRE(s.store().pull("m"));
    CHECK(entries_of(s.model_dir()) == std::vector<std::string>{"config.json", "model-int8.onnx", "model.onnx"});
    REQUIRE(s.store().pull("m"));  // cached
    CHECK(entries_of(s.model_dir()) == std::vector<std::string>{"config.json", "model-int8.onnx", "model.onnx"});
  }
  SECTION("an interrupted download keeps what resumes it, and no lock") {
    auto o = s.options();
    o.max_attempts = 1;
    s.hub.fault(s.path, drop_fault(700));
    REQUIRE_FALSE(s.store(o).pull("m"));
    const auto names = entries_of(s.model_dir());
    CHECK(std::find(names.begin(), names.end(), "model.onnx.partial") != names.end());
    CHECK(std::find(names.begin(), names.end(), ".lock") == names.end());
    REQUIRE(s.store(o).pull("m"));
    CHECK(entries_of(s.model_dir()) == std::vector<std::string>{"config.json", "model-int8.onnx", "model.onnx"});
  }
  SECTION("a failed pull of a cached model keeps the cache") {
    REQUIRE(s.store().pull("m"));
    auto o = s.options();
    o.cache = mq::cache_policy::refresh;
    s.hub.fault(s.path, status_fault(404, -1));
    REQUIRE_FALSE(s.store(o).pull("m"));
    CHECK(entries_of(s.model_dir()) == std::vector<std::string>{"config.json", "model-int8.onnx", "model.onnx"});
  }
}

TEST_CASE("pulls waiting on one another while the lock file comes and goes all succeed", "[fetch]") {
  // Each pull deletes its lock file when it is done; a pull that waited on the deleted file must
  // notice and lock the new one, or two pulls would run at once.
  setup s;
  s.hub.fault(s.path, drop_fault(2000, std::chrono::milliseconds(100)));
  auto o = s.options();
  o.stall_timeout = std::chrono::milliseconds(5000);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = mq::model_store::open(o);
      if (store && store->pull("m")) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 4);
  CHECK(count(s.hub, s.path, "GET") == 2);  // one transfer and its resume
  CHECK_FALSE(fs::exists(s.model_dir() / ".lock"));
}

TEST_CASE("a file that changed between the interruption and the resume is never spliced", "[fetch]") {
  setup s;
  const std::string v2 = mq::test::matmul_model_bytes(64, 64, false, 2.0f);
  REQUIRE(v2.size() == s.model.size());  // same size: only a validator tells the versions apart
  REQUIRE(v2 != s.model);
  auto o = s.options();
  o.max_attempts = 1;
  auto interrupt = [&] {
    s.hub.fault(s.path, drop_fault(1000));
    REQUIRE_FALSE(s.store(o).pull("m"));
    REQUIRE(fs::file_size(s.model_dir() / "model.onnx.partial") == 1000);
  };

  SECTION("ETag: If-Range, and the server sends the new file whole") {
    s.hub.put("test/m", "model.onnx", s.model, "main", "\"v1\"");
    interrupt();
    s.hub.put("test/m", "model.onnx", v2, "main", "\"v2\"");
    auto pulled = s.store(o).pull("m");
    REQUIRE_OK(pulled);
    CHECK((mq::test::read_bytes(pulled->fp32) == v2));  // not spliced
    const auto last = s.hub.requests(s.path).back();
    CHECK(last.range == "bytes=1000-");
    CHECK(last.if_range == "\"v1\"");
    CHECK(config_of(s.model_dir())["source"]["etag"] == "\"v2\"");
  }
  SECTION("Last-Modified only: If-Range with the date") {
    s.hub.headers(s.path, {false, "Mon, 01 Jan 2024 00:00:00 GMT", true});
    interrupt();
    s.hub.put("test/m", "model.onnx", v2);
    s.hub.headers(s.path, {false, "Tue, 02 Jan 2024 00:00:00 GMT", true});
    auto pulled = s.store(o).pull("m");
    REQUIRE_OK(pulled);
    CHECK((mq::test::read_bytes(pulled->fp32) == v2));  // not spliced
    CHECK(s.hub.requests(s.path).back().if_range == "Mon, 01 Jan 2024 00:00:00 GMT");
  }
  SECTION("a server that ignores If-Range: its 206 of another ETag is refused, the file restarts") {
    s.hub.put("test/m", "model.onnx", s.model, "main", "\"v1\"");
    interrupt();
    s.hub.put("test/m", "model.onnx", v2, "main", "\"v2\"");
    hub_fault f;
    f.ignore_if_range = true;
    s.hub.fault(s.path, f);
    auto again = s.options();
    again.max_attempts = 2;
    auto pulled = s.store(again).pull("m");
    REQUIRE_OK(pulled);
    CHECK((mq::test::read_bytes(pulled->fp32) == v2));  // not spliced
    const auto requests = s.hub.requests(s.path);
    REQUIRE(requests.size() == 3);
    CHECK(requests[1].range == "bytes=1000-");
    CHECK(requests[2].range.empty());
  }
  SECTION("no ETag and no Last-Modified: an unpinned partial is not resumed") {
    s.hub.headers(s.path, {false, "", true});
    interrupt();
    s.hub.put("test/m", "model.onnx", v2);
    auto pulled = s.store(o).pull("m");
    REQUIRE_OK(pulled);
    CHECK((mq::test::read_bytes(pulled->fp32) == v2));  // not spliced
    CHECK(s.hub.requests(s.path).back().range.empty());
  }
  SECTION("the file changes between two attempts of one pull") {
    s.hub.put("test/m", "model.onnx", s.model, "main", "\"v1\"");
    auto f = drop_fault(1000);
    f.then = [&] { s.hub.put("test/m", "model.onnx", v2, "main", "\"v2\""); };
    s.hub.fault(s.path, f);
    auto pulled = s.store().pull("m");
    REQUIRE_OK(pulled);
    CHECK((mq::test::read_bytes(pulled->fp32) == v2));  // not spliced
    CHECK(s.hub.requests(s.path).back().if_range == "\"v1\"");
  }
}

TEST_CASE("a pinned partial download resumes even from a server without validators", "[fetch]") {
  setup s("m", "sha256 = \"" + mq::fetch::sha256_hex(mq::test::matmul_model_bytes()) + "\"\n");
  s.hub.headers(s.path, {false, "", true});
  auto o = s.options();
  o.max_attempts = 1;
  s.hub.fault(s.path, drop_fault(700));
  REQUIRE_FALSE(s.store(o).pull("m"));
  auto pulled = s.store(o).pull("m");
  REQUIRE_OK(pulled);  // the pinned sha256 checks the joined file
  CHECK(s.hub.requests(s.path).back().range == "bytes=700-");
  CHECK(s.hub.requests(s.path).back().if_range.empty());
  CHECK(mq::test::read_bytes(pulled->fp32) == s.model);
}

TEST_CASE("a complete partial file answered with 416 and Content-Range */N is complete", "[fetch]") {
  setup s;
  auto o = s.options();
  o.max_attempts = 1;
  s.hub.fault(s.path, drop_fault(700));
  REQUIRE_FALSE(s.store(o).pull("m"));
  // The rest arrived just before the process died (the transfer was not seen to end).
  {
    std::ofstream partial(s.model_dir() / "model.onnx.partial", std::ios::binary | std::ios::app);
    partial << s.model.substr(700);
  }
  const auto before = s.hub.requests(s.path).size();
  auto pulled = s.store(o).pull("m");
  REQUIRE_OK(pulled);
  CHECK(mq::test::read_bytes(pulled->fp32) == s.model);
  const auto requests = s.hub.requests(s.path);
  REQUIRE(requests.size() == before + 1);  // no download again
  CHECK(requests.back().range == "bytes=" + std::to_string(s.model.size()) + "-");
}

TEST_CASE("without an ETag, Last-Modified and the size tell a changed upstream file, or the pull says it cannot",
          "[fetch]") {
  setup s;
  const std::string same_size = mq::test::matmul_model_bytes(64, 64, false, 2.0f);
  const std::string other_size = mq::test::matmul_model_bytes(32, 16, false, 2.0f);
  REQUIRE(same_size.size() == s.model.size());
  std::vector<std::string> cached_notes;
  auto note = [&](const mq::pull_progress& p) {
    if (p.stage == mq::pull_stage::cached && p.file == "model.onnx") cached_notes.push_back(p.message);
  };
  auto has_warning = [](const mq::pulled_model& p, const std::string& text) {
    return std::any_of(p.warnings.begin(), p.warnings.end(),
                       [&](const std::string& w) { return w.find(text) != std::string::npos; });
  };

  SECTION("Last-Modified only") {
    s.hub.headers(s.path, {false, "Mon, 01 Jan 2024 00:00:00 GMT", true});
    REQUIRE(s.store().pull("m"));
    auto config = config_of(s.model_dir());
    CHECK(config["source"]["etag"].is_null());
    CHECK(config["source"]["last_modified"] == "Mon, 01 Jan 2024 00:00:00 GMT");
    auto same = s.store().pull("m", note);
    REQUIRE_OK(same);
    CHECK_FALSE(same->downloaded);
    CHECK(same->warnings.empty());
    CHECK(cached_notes == std::vector<std::string>{"up to date: same Last-Modified"});
    s.hub.put("test/m", "model.onnx", same_size);
    s.hub.headers(s.path, {false, "Tue, 02 Jan 2024 00:00:00 GMT", true});
    auto changed = s.store().pull("m");
    REQUIRE_OK(changed);
    CHECK(changed->upstream_changed);
    CHECK((mq::test::read_bytes(changed->fp32) == same_size));
  }
  SECTION("a size only: a new size is noticed, the same size is said to be unverifiable") {
    s.hub.headers(s.path, {false, "", true});
    REQUIRE(s.store().pull("m"));
    s.hub.put("test/m", "model.onnx", same_size);
    auto same = s.store().pull("m", note);
    REQUIRE_OK(same);
    CHECK_FALSE(same->downloaded);
    CHECK(has_warning(*same, "only a size"));
    REQUIRE(cached_notes.size() == 1);
    CHECK_THAT(cached_notes[0], !Catch::Contains("up to date"));
    s.hub.put("test/m", "model.onnx", other_size);
    auto changed = s.store().pull("m");
    REQUIRE_OK(changed);
    CHECK(changed->upstream_changed);
    CHECK((mq::test::read_bytes(changed->fp32) == other_size));
  }
  SECTION("nothing to compare (no ETag, Last-Modified or length): the pull says so") {
    s.hub.headers(s.path, {false, "", false});
    REQUIRE(s.store().pull("m"));
    auto again = s.store().pull("m", note);
    REQUIRE_OK(again);
    CHECK_FALSE(again->downloaded);
    CHECK(has_warning(*again, "cannot be checked"));
    CHECK(cached_notes == std::vector<std::string>{"freshness cannot be checked"});
    CHECK(count(s.hub, s.path, "HEAD") == 1);
  }
  SECTION("the hub's X-Linked-Size on its redirect is compared too") {
    hub_server cdn;
    const std::string cdn_path = cdn.put("cdn", "blob", s.model);
    auto redirect = redirect_fault(cdn.endpoint() + cdn_path);
    redirect.linked_etag = "\"lfs-1\"";
    redirect.linked_size = std::to_string(s.model.size());
    redirect.times = 2;
    s.hub.fault(s.path, redirect);
    REQUIRE(s.store().pull("m"));
    auto same = s.store().pull("m");
    REQUIRE_OK(same);
    CHECK_FALSE(same->downloaded);
    redirect.linked_size = std::to_string(s.model.size() + 1);
    redirect.times = 1;
    s.hub.fault(s.path, redirect);
    std::vector<std::string> changes;
    auto changed = s.store().pull("m", [&](const mq::pull_progress& p) {
      if (p.stage == mq::pull_stage::upstream_changed) changes.push_back(p.message);
    });
    REQUIRE_OK(changed);
    REQUIRE(changes.size() == 1);
    CHECK_THAT(changes[0], Catch::Contains("size"));
  }
}

TEST_CASE("a file:// mirror's changed file is noticed by its mtime and size", "[fetch]") {
  temp_dir dir;
  const auto mirror = dir / "mirror" / "test" / "m" / "resolve" / "main";
  fs::create_directories(mirror);
  mq::test::write_bytes(mirror / "model.onnx", mq::test::matmul_model_bytes());
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  mq::store_options o;
  o.models_dir = dir / "models";
  o.catalog_file = dir / "catalog.toml";
  o.endpoint = "file://" + (dir / "mirror").string();
  auto store = mq::model_store::open(o);
  REQUIRE_OK(store);
  REQUIRE(store->pull("m"));
  auto same = store->pull("m");
  REQUIRE_OK(same);
  CHECK_FALSE(same->downloaded);
  CHECK(same->warnings.empty());
  const std::string v2 = mq::test::matmul_model_bytes(64, 64, false, 2.0f);
  const auto mtime = fs::last_write_time(mirror / "model.onnx");
  mq::test::write_bytes(mirror / "model.onnx", v2);
  fs::last_write_time(mirror / "model.onnx", mtime + std::chrono::seconds(10));  // Last-Modified has 1 s steps
  auto changed = store->pull("m");
  REQUIRE_OK(changed);
  CHECK(changed->upstream_changed);
  CHECK((mq::test::read_bytes(changed->fp32) == v2));
}

TEST_CASE("each retry is reported: what failed, attempt k of n, the wait", "[fetch]") {
  setup s;
  s.hub.fault(s.path, status_fault(503, 2));
  std::vector<mq::pull_progress> retries;
  auto pulled = s.store().pull("m", [&](const mq::pull_progress& p) {
    if (p.stage == mq::pull_stage::retrying) retries.push_back(p);
  });
  REQUIRE_OK(pulled);
  REQUIRE(retries.size() == 2);
  CHECK(retries[0].file == "model.onnx");
  CHECK_THAT(retries[0].message, Catch::Contains(s.hub.endpoint() + s.path) && Catch::Contains("http 503") &&
                                     Catch::Contains("attempt 1 of 3 failed; next try in 0.0 s"));
  CHECK_THAT(retries[1].message, Catch::Contains("attempt 2 of 3 failed"));
  SECTION("a stall too") {
    s.hub.fault(s.path, drop_fault(900, std::chrono::milliseconds(5000)));
    retries.clear();
    auto o = s.options();
    o.cache = mq::cache_policy::refresh;
    REQUIRE(s.store(o).pull("m", [&](const mq::pull_progress& p) {
      if (p.stage == mq::pull_stage::retrying) retries.push_back(p);
    }));
    REQUIRE(retries.size() == 1);
    CHECK_THAT(retries[0].message, Catch::Contains("stalled: no data for 300 ms") && Catch::Contains("attempt 1 of 3"));
  }
}

TEST_CASE("a pinned, verified file is kept when the endpoint changes; an unpinned one is fetched again", "[fetch]") {
  const std::string pin = "sha256 = \"" + mq::fetch::sha256_hex(mq::test::matmul_model_bytes()) + "\"\n";
  setup s("m", pin);
  REQUIRE(s.store().pull("m"));
  hub_server mirror;  // another endpoint with the same layout
  const std::string mirror_path = mirror.put("test/m", "model.onnx", s.model);
  auto o = s.options();
  o.endpoint = mirror.endpoint();
  SECTION("pinned: the pin is the identity, nothing is requested") {
    auto again = s.store(o).pull("m");
    REQUIRE_OK(again);
    CHECK_FALSE(again->downloaded);
    CHECK_FALSE(again->quantized);
    CHECK(mirror.requests().empty());
    CHECK(config_of(s.model_dir())["source"]["url"] == mirror.endpoint() + mirror_path);  // where it is now named
  }
  SECTION("unpinned: a recorded hash from another server proves nothing about this one") {
    s.write_catalog(mq::test::catalog_entry("m"));
    REQUIRE(s.store().pull("m"));
    auto again = s.store(o).pull("m");
    REQUIRE_OK(again);
    CHECK(again->downloaded);
    CHECK(count(mirror, mirror_path, "GET") == 1);
  }
}

TEST_CASE("config.json: a status that agrees with use_int8, sizes that agree, shapes of numbers", "[fetch]") {
  setup s;
  auto store = s.store();
  SECTION("quantized: the same status on every pull, sizes as on disk") {
    REQUIRE(store.pull("m"));
    for (int pull = 0; pull < 2; ++pull) {
      if (pull == 1) REQUIRE(store.pull("m"));  // cached
      auto config = config_of(s.model_dir());
      CHECK(config["quantization"]["status"] == "quantized");
      CHECK(config["use_int8"] == true);
      const auto fp32_bytes = fs::file_size(s.model_dir() / "model.onnx");
      const auto int8_bytes = fs::file_size(s.model_dir() / "model-int8.onnx");
      CHECK(config["source"]["bytes"] == fp32_bytes);
      CHECK(config["quantization"]["summary"]["model_bytes_before"] == fp32_bytes);
      CHECK(config["quantization"]["int8_bytes"] == int8_bytes);
      CHECK(config["quantization"]["summary"]["model_bytes_after"] == int8_bytes);
    }
    // x is float[batch, k], y float[batch, n]: the shape holds numbers or null, the names beside it.
    auto config = config_of(s.model_dir());
    const auto& x = config["inputs"][0];
    CHECK(x["name"] == "x");
    CHECK(x["shape"] == mq::fetch::json::parse("[null, null]"));
    CHECK(x["dim_params"] == mq::fetch::json::parse(R"(["batch", "k"])"));
    CHECK(config["outputs"][0]["dim_params"] == mq::fetch::json::parse(R"(["batch", "n"])"));
  }
  SECTION("nothing quantized: the status says so next to use_int8 false") {
    s.model = mq::test::matmul_model_bytes(32, 16);  // 512 elements: under auto's floor
    s.hub.put("test/m", "model.onnx", s.model);
    for (int pull = 0; pull < 2; ++pull) {
      REQUIRE(store.pull("m"));
      auto config = config_of(s.model_dir());
      CHECK(config["use_int8"] == false);
      CHECK(config["quantization"]["status"] == "nothing_quantized");
      CHECK(config["quantization"]["summary"]["quantized_nodes"] == 0);
    }
  }
}

namespace {

// Overwrites `path` in place (same inode, same size) with bytes that are neither the model nor
// ONNX, and puts its mtime back: only reading the file could tell.
void corrupt_in_place(const fs::path& path) {
  const auto mtime = fs::last_write_time(path);
  const auto size = fs::file_size(path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.write(std::string(size, 'x').data(), static_cast<std::streamsize>(size));
  }
  fs::last_write_time(path, mtime);
}

}  // namespace

TEST_CASE("a cached pull does not read the models again while their size, mtime and inode match", "[fetch]") {
  setup s("m", "sha256 = \"" + mq::fetch::sha256_hex(mq::test::matmul_model_bytes()) + "\"\n");
  REQUIRE(s.store().pull("m"));
  corrupt_in_place(s.model_dir() / "model.onnx");
  corrupt_in_place(s.model_dir() / "model-int8.onnx");

  SECTION("not hashed nor parsed: the changed bytes go unnoticed") {
    auto cached = s.store().pull("m");
    REQUIRE_OK(cached);  // a parse of either file would fail; a hash would not match the pin
    CHECK_FALSE(cached->downloaded);
    CHECK_FALSE(cached->quantized);
    CHECK(cached->use_int8);
    CHECK((mq::test::read_bytes(s.model_dir() / "model.onnx") == std::string(s.model.size(), 'x')));
  }
  SECTION("--verify hashes and checks them again") {
    auto o = s.options();
    o.cache = mq::cache_policy::verify;
    auto verified = s.store(o).pull("m");
    REQUIRE_OK(verified);
    CHECK(verified->downloaded);  // the hash did not match the pin
    CHECK(verified->quantized);   // the INT8 file did not load
    CHECK((mq::test::read_bytes(verified->fp32) == s.model));
    auto int8 = mq::model::load(verified->int8);
    REQUIRE_OK(int8);
  }
  SECTION("a new mtime: hashed again (and the pin finds the change)") {
    fs::last_write_time(s.model_dir() / "model.onnx", fs::last_write_time(s.model_dir() / "model.onnx") +
                                                          std::chrono::seconds(5));
    auto again = s.store().pull("m");
    REQUIRE_OK(again);
    CHECK(again->downloaded);
    CHECK((mq::test::read_bytes(again->fp32) == s.model));
  }
}

TEST_CASE("a touched but unchanged model is hashed again and kept", "[fetch]") {
  setup s;
  REQUIRE(s.store().pull("m"));
  const auto path = s.model_dir() / "model.onnx";
  fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(5));
  auto again = s.store().pull("m");
  REQUIRE_OK(again);
  CHECK_FALSE(again->downloaded);
  CHECK_FALSE(again->quantized);
  CHECK(count(s.hub, s.path, "GET") == 1);
}

TEST_CASE("config.json is not rewritten when a pull changes nothing", "[fetch]") {
  setup s("m", "classes = [\"cat\", \"dog\"]\n");
  REQUIRE(s.store().pull("m"));
  const auto before = mq::fetch::stamp_of(s.model_dir() / "config.json");
  const auto labels = mq::fetch::stamp_of(s.model_dir() / "labels.txt");
  REQUIRE(before);
  auto again = s.store().pull("m");
  REQUIRE_OK(again);
  CHECK(mq::fetch::stamp_of(s.model_dir() / "config.json") == before);  // same inode: not replaced
  CHECK(mq::fetch::stamp_of(s.model_dir() / "labels.txt") == labels);
  CHECK(again->config_json == mq::test::read_bytes(s.model_dir() / "config.json"));
  SECTION("but it is when something changed") {
    s.write_catalog(mq::test::catalog_entry("m", "classes = [\"cat\", \"dog\"]\ndescription = \"new\"\n"));
    REQUIRE(s.store().pull("m"));
    CHECK(mq::fetch::stamp_of(s.model_dir() / "config.json") != before);
    CHECK(config_of(s.model_dir())["description"] == "new");
  }
}

TEST_CASE("a model with external data: extra_files are fetched, verified, cached and quantized", "[fetch]") {
  temp_dir dir;
  hub_server hub;
  // In the repo the model is onnx/model.onnx and names its data "weights.bin" (beside it).
  const auto [model, data] = mq::test::matmul_model_external("weights.bin");
  const std::string model_path = hub.put("test/x", "onnx/model.onnx", model);
  const std::string data_path = hub.put("test/x", "onnx/weights.bin", data, "main", "\"w1\"");
  auto write_catalog = [&](const std::string& extra) {
    mq::test::write_bytes(dir / "catalog.toml", "[[models]]\nname = \"x\"\nrepo = \"test/x\"\nfilename = \"onnx/model.onnx\"\n" +
                                                    extra + "[models.quantize]\nenabled = true\n");
  };
  write_catalog("extra_files = [\"weights.bin\"]\n");
  mq::store_options o;
  o.models_dir = dir / "models";
  o.catalog_file = dir / "catalog.toml";
  o.endpoint = hub.endpoint();
  o.retry_backoff = std::chrono::milliseconds(10);
  const fs::path folder = dir / "models" / "x";
  auto open = [&] {
    auto s = mq::model_store::open(o);
    REQUIRE_OK(s);
    return std::move(*s);
  };

  auto pulled = open().pull("x");
  REQUIRE_OK(pulled);
  CHECK(pulled->use_int8);
  CHECK((mq::test::read_bytes(folder / "model.onnx") == model));
  CHECK((mq::test::read_bytes(folder / "weights.bin") == data));
  // The renamed model still finds its data; the INT8 model has its own beside it.
  auto fp32 = mq::model::load(folder / "model.onnx");
  REQUIRE_OK(fp32);
  auto int8 = mq::model::load(pulled->int8);
  REQUIRE_OK(int8);
  CHECK(fs::exists(folder / "model-int8.onnx.data"));
  auto config = config_of(folder);
  const auto& extra = config["source"]["extra_files"][0];
  CHECK(extra["path"] == "weights.bin");
  CHECK(extra["url"] == hub.endpoint() + data_path);
  CHECK(extra["sha256"] == mq::fetch::sha256_hex(data));
  CHECK(extra["etag"] == "\"w1\"");
  CHECK(config["quantization"]["summary"]["model_bytes_before"] == model.size() + data.size());
  CHECK(config["quantization"]["int8_bytes"] ==
        fs::file_size(folder / "model-int8.onnx") + fs::file_size(folder / "model-int8.onnx.data"));

  SECTION("cached: nothing downloaded, each file checked upstream") {
    auto again = open().pull("x");
    REQUIRE_OK(again);
    CHECK_FALSE(again->downloaded);
    CHECK_FALSE(again->quantized);
    CHECK(count(hub, data_path, "GET") == 1);
    CHECK(count(hub, data_path, "HEAD") == 1);
    CHECK(count(hub, model_path, "HEAD") == 1);
  }
  SECTION("the data file changes upstream: fetched again and quantized again") {
    const auto [model2, data2] = mq::test::matmul_model_external("weights.bin", 2.0f);
    REQUIRE(model2 == model);  // only the data differs
    hub.put("test/x", "onnx/weights.bin", data2, "main", "\"w2\"");
    auto again = open().pull("x");
    REQUIRE_OK(again);
    CHECK(again->upstream_changed);
    CHECK(again->quantized);  // the key covers the data file's hash
    CHECK((mq::test::read_bytes(folder / "weights.bin") == data2));
    CHECK(count(hub, model_path, "GET") == 1);
  }
  SECTION("a per-file pin is checked") {
    write_catalog("extra_files = [{ path = \"weights.bin\", sha256 = \"" + mq::fetch::sha256_hex("other") + "\" }]\n");
    auto o2 = o;
    o2.cache = mq::cache_policy::refresh;
    auto s = mq::model_store::open(o2);
    REQUIRE_OK(s);
    auto wrong = s->pull("x");
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == mq::errc::integrity);
    CHECK_THAT(wrong.error().message, Catch::Contains(hub.endpoint() + data_path) && Catch::Contains("sha256 mismatch"));
    write_catalog("extra_files = [{ path = \"weights.bin\", sha256 = \"" + mq::fetch::sha256_hex(data) + "\" }]\n");
    auto right = open().pull("x");
    REQUIRE_OK(right);
    CHECK(config_of(folder)["source"]["extra_files"][0]["sha256_from_catalog"] == true);
  }
  SECTION("offline: a missing data file is named") {
    fs::remove(folder / "weights.bin");
    auto o2 = o;
    o2.network = mq::network_mode::offline;
    auto s = mq::model_store::open(o2);
    REQUIRE_OK(s);
    auto missing = s->pull("x");
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message, Catch::Contains("offline") && Catch::Contains("weights.bin"));
  }
}

TEST_CASE("a first pull of a model whose data file fails leaves nothing", "[fetch]") {
  temp_dir dir;
  hub_server hub;
  const auto [model, data] = mq::test::matmul_model_external("data/weights.bin");
  hub.put("test/x", "model.onnx", model);  // data/weights.bin is not served: 404
  mq::test::write_bytes(dir / "catalog.toml", "[[models]]\nname = \"x\"\nrepo = \"test/x\"\nfilename = \"model.onnx\"\n"
                                              "extra_files = [\"data/weights.bin\"]\n");
  mq::store_options o;
  o.models_dir = dir / "models";
  o.catalog_file = dir / "catalog.toml";
  o.endpoint = hub.endpoint();
  auto s = mq::model_store::open(o);
  REQUIRE_OK(s);
  auto pulled = s->pull("x");
  REQUIRE_FALSE(pulled);
  CHECK_THAT(pulled.error().message, Catch::Contains("data/weights.bin") && Catch::Contains("404"));
  CHECK_FALSE(fs::exists(dir / "models"));
}

// Static INT8 (method = "static_int8"): calibrated on a folder of photos, keyed by their contents,
// with the fallback to dynamic_int8 when there is nothing usable and --strict making that an error.
namespace {

struct static_setup : setup {
  fs::path photos = dir / "photos";
  explicit static_setup(const std::string& quantize_extra = {}, bool with_folder = true) : setup("c") {
    // `dir` exists only now: the catalog is written again with the photos' folder in it.
    write_catalog(mq::test::catalog_entry("c", {}, mq::test::static_quantize(with_folder ? photos : fs::path(), quantize_extra)));
    hub.put("test/c", "model.onnx", mq::test::conv_model_bytes());
  }
  fs::path int8() const { return model_dir("c") / "model-int8.onnx"; }
};

bool contains_warning(const mq::pulled_model& p, const std::string& text) {
  for (const auto& w : p.warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("static_int8: a pull calibrates on the catalog's folder and quantizes the activations", "[fetch][static]") {
  static_setup s;
  mq::test::write_photos(s.photos, 4);
  auto store = s.store();
  auto pulled = store.pull("c");
  REQUIRE_OK(pulled);
  CHECK(pulled->quantized);
  CHECK(pulled->quantize_method == "static_int8");
  CHECK(pulled->fallback_reason.empty());
  CHECK(pulled->warnings.empty());
  CHECK(mq::test::has_quantized_activations(s.int8()));
  auto config = config_of(s.model_dir("c"));
  CHECK(config["quantization"]["method_used"] == "static_int8");
  CHECK(config["quantization"]["fallback_reason"].is_null());
  CHECK(config["quantization"]["calibration"]["source"] == "catalog_folder");
  CHECK(config["quantization"]["calibration"]["samples"] == 4);
  CHECK(config["quantization"]["calibration"]["preprocess"] == "unit");
  const std::string key = config["quantization"]["cache_key"].get<std::string>();

  // The same photos (even touched): the cached INT8 model is used.
  fs::last_write_time(s.photos / "frame2.png", fs::last_write_time(s.photos / "frame2.png") + std::chrono::hours(1));
  auto again = store.pull("c");
  REQUIRE_OK(again);
  CHECK_FALSE(again->quantized);
  CHECK(again->quantize_method == "static_int8");
  CHECK(config_of(s.model_dir("c"))["quantization"]["cache_key"] == key);

  // One photo changes: quantized again, under a new key.
  mq::test::write_png(s.photos / "frame2.png", 99);
  auto changed = store.pull("c");
  REQUIRE_OK(changed);
  CHECK(changed->quantized);
  CHECK(changed->quantize_method == "static_int8");
  const std::string key2 = config_of(s.model_dir("c"))["quantization"]["cache_key"].get<std::string>();
  CHECK(key2 != key);

  // A photo added: a new key too.
  mq::test::write_png(s.photos / "frame9.png", 9);
  auto added = store.pull("c");
  REQUIRE_OK(added);
  CHECK(added->quantized);
  CHECK(config_of(s.model_dir("c"))["quantization"]["cache_key"] != key2);
}

TEST_CASE("static_int8: calibration_files picks photos of the folder", "[fetch][static]") {
  static_setup s("calibration_files = [\"frame3.png\", \"frame1.png\"]\n");
  mq::test::write_photos(s.photos, 4);
  auto store = s.store();
  auto pulled = store.pull("c");
  REQUIRE_OK(pulled);
  CHECK(pulled->quantize_method == "static_int8");
  auto config = config_of(s.model_dir("c"));
  CHECK(config["quantization"]["calibration"]["samples"] == 2);
  CHECK(config["quantization"]["calibration"]["files"] == mq::fetch::json::array({"frame3.png", "frame1.png"}));
  const std::string key = config["quantization"]["cache_key"].get<std::string>();
  // A photo it does not list changes: nothing is rebuilt.
  mq::test::write_png(s.photos / "frame2.png", 77);
  auto again = store.pull("c");
  REQUIRE_OK(again);
  CHECK_FALSE(again->quantized);
  CHECK(config_of(s.model_dir("c"))["quantization"]["cache_key"] == key);
  // A listed photo missing: the fallback, naming it.
  fs::remove(s.photos / "frame3.png");
  auto missing = store.pull("c");
  REQUIRE_OK(missing);
  CHECK(missing->quantize_method == "dynamic_int8");
  CHECK_THAT(missing->fallback_reason, Catch::Contains("frame3.png") && Catch::Contains("does not exist"));
}

TEST_CASE("static_int8: store_options::calibration gives the photos, over the catalog's", "[fetch][static]") {
  static_setup s;
  mq::test::write_photos(s.photos, 5);
  auto catalog_pull = s.store().pull("c");
  REQUIRE_OK(catalog_pull);
  CHECK(config_of(s.model_dir("c"))["quantization"]["calibration"]["samples"] == 5);
  const std::string catalog_key = config_of(s.model_dir("c"))["quantization"]["cache_key"].get<std::string>();
  const fs::path mine = mq::test::write_photos(s.dir / "mine", 3);
  auto o = s.options();
  o.calibration = mine;
  auto store = s.store(o);
  auto pulled = store.pull("c");
  REQUIRE_OK(pulled);
  CHECK(pulled->quantized);
  CHECK(config_of(s.model_dir("c"))["quantization"]["cache_key"] != catalog_key);
  CHECK(pulled->quantize_method == "static_int8");
  CHECK(mq::test::has_quantized_activations(s.int8()));
  auto config = config_of(s.model_dir("c"));
  CHECK(config["quantization"]["calibration"]["source"] == "user_folder");
  CHECK(config["quantization"]["calibration"]["folder"] == fs::absolute(mine).lexically_normal().string());
  CHECK(config["quantization"]["calibration"]["samples"] == 3);
}

TEST_CASE("static_int8 without usable photos falls back to dynamic_int8 with a warning", "[fetch][static]") {
  SECTION("no folder in the catalog") {
    static_setup s({}, /*with_folder=*/false);
    auto pulled = s.store().pull("c");
    REQUIRE_OK(pulled);
    CHECK(pulled->quantize_method == "dynamic_int8");
    CHECK(pulled->fallback_reason == "the catalog entry names no calibration folder");
    CHECK(contains_warning(*pulled, "model 'c': static_int8 fell back to dynamic_int8: the catalog entry names no "
                                    "calibration folder; give calibration frames with --calibration DIR or a 'calibration' folder in the catalog"));
    CHECK_FALSE(mq::test::has_quantized_activations(s.int8()));
    auto config = config_of(s.model_dir("c"));
    CHECK(config["quantization"]["method_used"] == "dynamic_int8");
    CHECK(config["quantization"]["fallback_reason"] == "the catalog entry names no calibration folder");
    // The fallback is cached like any INT8 model, and still reported.
    auto again = s.store().pull("c");
    REQUIRE_OK(again);
    CHECK_FALSE(again->quantized);
    CHECK(again->quantize_method == "dynamic_int8");
    CHECK(contains_warning(*again, "fell back to dynamic_int8"));
    // Photos appear: static INT8 now.
    mq::test::write_photos(s.photos, 3);
    s.write_catalog(mq::test::catalog_entry("c", {}, mq::test::static_quantize(s.photos)));
    auto now = s.store().pull("c");
    REQUIRE_OK(now);
    CHECK(now->quantized);
    CHECK(now->quantize_method == "static_int8");
    CHECK(mq::test::has_quantized_activations(s.int8()));
  }
  SECTION("an empty folder") {
    static_setup s;
    fs::create_directories(s.photos);
    auto pulled = s.store().pull("c");
    REQUIRE_OK(pulled);
    CHECK(pulled->quantize_method == "dynamic_int8");
    CHECK_THAT(pulled->fallback_reason, Catch::Contains("holds no images"));
  }
  SECTION("a photo that does not decode") {
    static_setup s;
    mq::test::write_photos(s.photos, 3);
    mq::test::write_bytes(s.photos / "frame2.png", "\x89PNG\r\n\x1a\n not really");
    auto pulled = s.store().pull("c");
    REQUIRE_OK(pulled);
    CHECK(pulled->quantize_method == "dynamic_int8");
    CHECK_THAT(pulled->fallback_reason, Catch::StartsWith("static INT8 failed: ") && Catch::Contains("frame2.png"));
    CHECK(contains_warning(*pulled, "fell back to dynamic_int8"));
  }
}

TEST_CASE("static_int8 with --strict: no usable photos fail the pull and leave nothing", "[fetch][static]") {
  SECTION("no folder: before any download") {
    static_setup s({}, /*with_folder=*/false);
    auto o = s.options();
    o.on_quantize_failure = mq::quantize_failure::error;
    auto pulled = s.store(o).pull("c");
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().message ==
          "model 'c': static INT8 has no usable calibration data (--strict): the catalog entry names no calibration "
          "folder; give calibration frames with --calibration DIR or a 'calibration' folder in the catalog");
    CHECK_FALSE(fs::exists(s.dir / "models" / "c"));
    CHECK(s.hub.requests(s.path).empty());
  }
  SECTION("a photo that does not decode: after the download") {
    static_setup s;
    mq::test::write_photos(s.photos, 3);
    mq::test::write_bytes(s.photos / "frame2.png", "\x89PNG\r\n\x1a\n not really");
    auto o = s.options();
    o.on_quantize_failure = mq::quantize_failure::error;
    auto pulled = s.store(o).pull("c");
    REQUIRE_FALSE(pulled);
    CHECK_THAT(pulled.error().message, Catch::StartsWith("model 'c': quantization failed (--strict): static INT8 has "
                                                         "no usable calibration data: static INT8 failed: ") &&
                                           Catch::Contains("frame2.png"));
    CHECK_FALSE(fs::exists(s.dir / "models" / "c"));
  }
}

TEST_CASE("static_int8: calibration_files without a folder are fetched from the hub, verified and cached",
          "[fetch][static]") {
  static_setup s("", /*with_folder=*/false);
  // Two photos in another repo (a dataset of frames), one pinned.
  const fs::path made = mq::test::write_photos(s.dir / "made", 3);
  const std::string photo1 = mq::test::read_bytes(made / "frame1.png");
  const std::string photo2 = mq::test::read_bytes(made / "frame2.png");
  const std::string path1 = s.hub.put("frames/kitchen", "day/frame1.png", photo1, "v1");
  const std::string path2 = s.hub.put("frames/kitchen", "night/frame2.png", photo2, "v1");
  const auto write = [&](const std::string& pin2) {
    s.write_catalog(mq::test::catalog_entry(
        "c", {},
        mq::test::static_quantize({}, "calibration_repo = \"frames/kitchen\"\ncalibration_revision = \"v1\"\n"
                                      "calibration_files = [\"night/frame2.png\", { path = \"day/frame1.png\", sha256 = \"" +
                                          pin2 + "\" }]\n")));
  };
  write(mq::fetch::sha256_hex(photo1));
  const fs::path folder = s.model_dir("c") / "calibration";

  auto pulled = s.store().pull("c");
  REQUIRE_OK(pulled);
  CHECK(pulled->quantize_method == "static_int8");
  CHECK(pulled->fallback_reason.empty());
  CHECK(mq::test::has_quantized_activations(s.int8()));
  CHECK((mq::test::read_bytes(folder / "frame1.png") == photo1));
  CHECK((mq::test::read_bytes(folder / "frame2.png") == photo2));
  auto config = config_of(s.model_dir("c"));
  const auto& calibration = config["quantization"]["calibration"];
  CHECK(calibration["source"] == "catalog_hub");
  CHECK(calibration["samples"] == 2);
  CHECK(calibration["files"] == mq::fetch::json::array({"night/frame2.png", "day/frame1.png"}));
  const auto& listed = config["source"]["calibration_files"];
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["path"] == "calibration/frame2.png");
  CHECK(listed[0]["url"] == s.hub.endpoint() + path2);
  CHECK(listed[0]["sha256"] == mq::fetch::sha256_hex(photo2));
  CHECK(listed[0]["sha256_from_catalog"] == false);
  CHECK(listed[1]["sha256_from_catalog"] == true);
  const std::string key = config["quantization"]["cache_key"].get<std::string>();

  SECTION("cached: nothing fetched again, the INT8 model reused") {
    auto again = s.store().pull("c");
    REQUIRE_OK(again);
    CHECK_FALSE(again->quantized);
    CHECK(again->quantize_method == "static_int8");
    CHECK(count(s.hub, path1, "GET") == 1);
    CHECK(count(s.hub, path2, "GET") == 1);
    CHECK(count(s.hub, path1, "HEAD") == 0);  // pinned: its hash is the authority
    CHECK(count(s.hub, path2, "HEAD") == 1);  // unpinned: one upstream check
  }
  SECTION("an unpinned photo changes upstream: fetched again, quantized again under a new key") {
    mq::test::write_png(made / "other.png", 50);
    s.hub.put("frames/kitchen", "night/frame2.png", mq::test::read_bytes(made / "other.png"), "v1", "\"changed\"");
    auto again = s.store().pull("c");
    REQUIRE_OK(again);
    CHECK(again->quantized);
    CHECK(again->quantize_method == "static_int8");
    CHECK((mq::test::read_bytes(folder / "frame2.png") == mq::test::read_bytes(made / "other.png")));
    CHECK(config_of(s.model_dir("c"))["quantization"]["cache_key"] != key);
  }
  SECTION("a pin that does not match: the download is deleted and the pull falls back, or fails with --strict") {
    write(mq::fetch::sha256_hex("something else"));
    fs::remove(folder / "frame1.png");
    auto fallback = s.store().pull("c");
    REQUIRE_OK(fallback);
    CHECK(fallback->quantize_method == "dynamic_int8");
    CHECK_THAT(fallback->fallback_reason, Catch::Contains(s.hub.endpoint() + path1) && Catch::Contains("sha256 mismatch"));
    CHECK(contains_warning(*fallback, "fell back to dynamic_int8"));
    CHECK_FALSE(fs::exists(folder / "frame1.png"));
    CHECK_FALSE(fs::exists(folder / "frame1.png.partial"));
    auto o = s.options();
    o.on_quantize_failure = mq::quantize_failure::error;
    auto strict = s.store(o).pull("c");
    REQUIRE_FALSE(strict);
    CHECK_THAT(strict.error().message, Catch::Contains("no usable calibration data (--strict)") &&
                                           Catch::Contains("sha256 mismatch"));
  }
  SECTION("a photo missing upstream (404): the fallback names it") {
    fs::remove_all(folder);
    s.hub.fault(path2, status_fault(404, 100));
    auto fallback = s.store().pull("c");
    REQUIRE_OK(fallback);
    CHECK(fallback->quantize_method == "dynamic_int8");
    CHECK_THAT(fallback->fallback_reason, Catch::Contains("night/frame2.png") && Catch::Contains("404"));
  }
  SECTION("offline: cached photos serve; a missing one is a fallback that names it") {
    auto o = s.options();
    o.network = mq::network_mode::offline;
    auto cached = s.store(o).pull("c");
    REQUIRE_OK(cached);
    CHECK(cached->quantize_method == "static_int8");
    CHECK_FALSE(cached->quantized);
    fs::remove(folder / "frame2.png");
    auto missing = s.store(o).pull("c");
    REQUIRE_OK(missing);
    CHECK(missing->quantize_method == "dynamic_int8");
    CHECK_THAT(missing->fallback_reason, Catch::Contains("offline") && Catch::Contains("frame2.png"));
  }
}

TEST_CASE("static_int8: a first --strict pull whose hub photos fail leaves nothing", "[fetch][static]") {
  static_setup s("", /*with_folder=*/false);
  s.write_catalog(mq::test::catalog_entry(
      "c", {}, mq::test::static_quantize({}, "calibration_files = [\"frames/a.png\", \"frames/b.png\"]\n")));
  mq::test::write_photos(s.dir / "made", 1);
  s.hub.put("test/c", "frames/a.png", mq::test::read_bytes(s.dir / "made" / "frame1.png"));  // b.png: 404
  auto o = s.options();
  o.on_quantize_failure = mq::quantize_failure::error;
  auto pulled = s.store(o).pull("c");
  REQUIRE_FALSE(pulled);
  CHECK_THAT(pulled.error().message, Catch::Contains("frames/b.png") && Catch::Contains("404"));
  CHECK_FALSE(fs::exists(s.dir / "models" / "c"));
  CHECK(s.hub.requests(s.path).empty());  // the model was not downloaded
}

TEST_CASE("static_int8 measured not to pay: auto is written, said once, and kept by --strict", "[fetch][static]") {
  static_setup s;
  s.hub.put("test/c", "model.onnx", mq::test::mostly_depthwise_model_bytes());
  mq::test::write_photos(s.photos, 4);
  std::vector<std::string> lines;
  auto pulled = s.store().pull("c", [&](const mq::pull_progress& p) { lines.push_back(p.message); });
  REQUIRE_OK(pulled);
  CHECK(pulled->quantized);
  CHECK(pulled->quantize_method == "dynamic_int8");
  CHECK(pulled->fallback_kind == "measured");
  CHECK_THAT(pulled->fallback_reason, Catch::StartsWith("static INT8 would run only ") && Catch::Contains("% of the multiply-adds in int8"));
  CHECK(pulled->warnings.empty());  // a choice, not a problem: no "give calibration frames" advice
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("model 'c': dynamic_int8 instead of static_int8: static INT8 would run only ") != std::string::npos;
  }));
  CHECK_FALSE(mq::test::has_quantized_activations(s.int8()));
  auto config = config_of(s.model_dir("c"));
  CHECK(config["quantization"]["method_used"] == "dynamic_int8");
  CHECK(config["quantization"]["fallback_kind"] == "measured");
  CHECK(config["quantization"]["calibration"]["samples"] == 4);
  // --strict accepts it: the cached model is used, not quantized again on every pull.
  auto o = s.options();
  o.on_quantize_failure = mq::quantize_failure::error;
  auto strict = s.store(o).pull("c");
  REQUIRE_OK(strict);
  CHECK_FALSE(strict->quantized);
  CHECK(strict->quantize_method == "dynamic_int8");
  CHECK(strict->fallback_kind == "measured");
}
