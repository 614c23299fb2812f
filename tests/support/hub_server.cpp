#include "support/hub_server.h"

#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace mq::test {

struct hub_server::state {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  mutable std::mutex mutex;
  std::condition_variable stopping_cv;
  bool stopping = false;
  std::map<std::string, std::shared_ptr<const std::string>> files;
  std::map<std::string, std::string> etags;
  std::map<std::string, hub_file_headers> headers;
  std::map<std::string, std::vector<hub_fault>> faults;
  std::vector<hub_request> log;

  // Waits up to `d`, returning early when the server stops.
  void interruptible_sleep(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    stopping_cv.wait_for(lock, d, [&] { return stopping; });
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    // httplib slices a sized content provider to the request's Range by itself (206 +
    // Content-Range). To answer a Range request with the whole file (If-Range mismatch, a
    // server ignoring Range) or with a status, the parsed ranges are dropped first.
    auto& ranges = const_cast<httplib::Request&>(req).ranges;
    hub_fault f;
    bool has_fault = false;
    std::shared_ptr<const std::string> file;
    std::string etag;
    hub_file_headers file_headers;
    {
      std::lock_guard lock(mutex);
      log.push_back({req.method, req.path, req.get_header_value("Range"), req.get_header_value("Authorization"),
                     req.get_header_value("If-Range")});
      auto it = faults.find(req.path);
      if (it != faults.end() && !it->second.empty()) {
        f = it->second.front();
        has_fault = true;
        if (f.times > 0 && --it->second.front().times == 0) it->second.erase(it->second.begin());
      }
      if (auto fit = files.find(req.path); fit != files.end()) file = fit->second;
      if (auto eit = etags.find(req.path); eit != etags.end()) etag = eit->second;
      if (auto hit = headers.find(req.path); hit != headers.end()) file_headers = hit->second;
    }
    if (has_fault && f.then) f.then();
    if (has_fault && !f.redirect_to.empty()) {
      ranges.clear();
      res.status = 302;
      res.set_header("Location", f.redirect_to);
      if (!f.linked_etag.empty()) res.set_header("X-Linked-Etag", f.linked_etag);
      if (!f.linked_size.empty()) res.set_header("X-Linked-Size", f.linked_size);
      return;
    }
    if (has_fault && f.status != 0) {
      ranges.clear();
      res.status = f.status;
      res.set_content("injected status " + std::to_string(f.status), "text/plain");
      return;
    }
    if (!file) {
      ranges.clear();
      res.status = 404;
      res.set_content("no such file", "text/plain");
      return;
    }
    const std::string etag_value =
        !file_headers.etag ? std::string() : !etag.empty() ? etag : "\"etag-" + std::to_string(file->size()) + "\"";
    if (!etag_value.empty()) res.set_header("ETag", etag_value);
    if (!file_headers.last_modified.empty()) res.set_header("Last-Modified", file_headers.last_modified);
    if (!file_headers.length) {
      // Chunked: no length, and so no Range either (the whole file, status 200).
      ranges.clear();
      res.status = 200;
      res.set_chunked_content_provider("application/octet-stream", [file](std::size_t offset, httplib::DataSink& sink) {
        if (offset >= file->size()) {
          sink.done();
          return true;
        }
        return sink.write(file->data() + offset, std::min<std::size_t>(file->size() - offset, 64 * 1024));
      });
      return;
    }
    if (!ranges.empty()) {
      const std::string if_range = req.get_header_value("If-Range");
      // RFC 9110 13.1.5: a strong ETag or the Last-Modified date must match, else the whole file.
      const bool validator_matches = if_range.empty() || (if_range == etag_value && if_range.rfind("W/", 0) != 0) ||
                                     (!file_headers.last_modified.empty() && if_range == file_headers.last_modified);
      if ((has_fault && f.ignore_range) || (!validator_matches && !(has_fault && f.ignore_if_range))) {
        ranges.clear();
      } else if (ranges.size() == 1 && ranges[0].first >= 0 &&
                 static_cast<std::size_t>(ranges[0].first) >= file->size()) {
        ranges.clear();
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(file->size()));
        return;
      }
    }
    const std::size_t drop_after = has_fault ? f.drop_after : 0;
    const auto stall = has_fault ? f.stall : std::chrono::milliseconds(0);
    auto sent = std::make_shared<std::size_t>(0);
    res.set_content_provider(file->size(), "application/octet-stream",
                             [this, file, drop_after, stall, sent](std::size_t offset, std::size_t length,
                                                                    httplib::DataSink& sink) {
                               std::size_t n = std::min<std::size_t>(length, 16 * 1024);
                               if (drop_after > 0) {
                                 if (*sent >= drop_after) {
                                   if (stall.count() > 0) interruptible_sleep(stall);
                                   return false;  // close the connection mid-body
                                 }
                                 n = std::min(n, drop_after - *sent);
                               }
                               *sent += n;
                               return sink.write(file->data() + offset, n);
                             });
  }
};

hub_server::hub_server() : state_(std::make_unique<state>()) {
  state_->server.set_keep_alive_max_count(1);
  state_->server.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) { state_->handle(req, res); });
  state_->port = state_->server.bind_to_any_port("127.0.0.1");
  if (state_->port <= 0) throw std::runtime_error("hub_server: cannot bind 127.0.0.1");
  state_->thread = std::thread([this] { state_->server.listen_after_bind(); });
  for (int i = 0; i < 5000 && !state_->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

hub_server::~hub_server() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->stopping_cv.notify_all();
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

std::string hub_server::endpoint() const { return "http://127.0.0.1:" + std::to_string(state_->port); }

std::string hub_server::put(const std::string& repo, const std::string& filename, std::string content,
                            const std::string& revision, const std::string& etag) {
  const std::string path = "/" + repo + "/resolve/" + revision + "/" + filename;
  std::lock_guard lock(state_->mutex);
  state_->files[path] = std::make_shared<const std::string>(std::move(content));
  if (etag.empty()) state_->etags.erase(path);
  else state_->etags[path] = etag;
  return path;
}

void hub_server::headers(const std::string& path, hub_file_headers h) {
  std::lock_guard lock(state_->mutex);
  state_->headers[path] = std::move(h);
}

void hub_server::fault(const std::string& path, hub_fault f) {
  std::lock_guard lock(state_->mutex);
  state_->faults[path].push_back(std::move(f));
}

std::vector<hub_request> hub_server::requests(const std::string& path) const {
  std::lock_guard lock(state_->mutex);
  std::vector<hub_request> out;
  for (const auto& r : state_->log) {
    if (path.empty() || r.path == path) out.push_back(r);
  }
  return out;
}

}  // namespace mq::test
