// A hub-style HTTP server on 127.0.0.1 for fetch tests (cpp-httplib, started in process on a
// free port): serves files at /{repo}/resolve/{revision}/{filename}, logs every request, and
// injects faults (status codes, dropped connections, stalls, ignored Range, redirects).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mq::test {

/// A fault for the next `times` requests of one path (-1: every request).
struct hub_fault {
  int status = 0;              ///< answer this status with a short body instead of the file
  std::size_t drop_after = 0;  ///< send this many body bytes, then close the connection
  std::chrono::milliseconds stall{0};  ///< with drop_after: send nothing for this long first
  bool ignore_range = false;   ///< answer 200 with the whole file even when Range was asked
  std::string redirect_to;     ///< answer 302 with this Location
  std::string linked_etag;     ///< with redirect_to: an X-Linked-Etag header, as the hub sends to its CDN
  int times = 1;
};

/// One request as the server saw it.
struct hub_request {
  std::string method;         ///< "GET" or "HEAD"
  std::string path;
  std::string range;          ///< the Range header, "" when none
  std::string authorization;  ///< the Authorization header, "" when none
};

class hub_server {
 public:
  hub_server();   ///< listens on 127.0.0.1, a free port
  ~hub_server();  ///< stops (interrupting stalls) and joins
  hub_server(const hub_server&) = delete;
  hub_server& operator=(const hub_server&) = delete;

  /// "http://127.0.0.1:PORT"
  std::string endpoint() const;
  /// Serves `content` at /{repo}/resolve/{revision}/{filename} (replacing what was there) with
  /// `etag` as its ETag header (default: "\"etag-<size>\""); returns that path.
  std::string put(const std::string& repo, const std::string& filename, std::string content,
                  const std::string& revision = "main", const std::string& etag = {});
  /// Injects a fault on a path returned by put() (or any other path).
  void fault(const std::string& path, hub_fault f);
  /// Requests so far, in order (all paths, or one path).
  std::vector<hub_request> requests(const std::string& path = {}) const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace mq::test
