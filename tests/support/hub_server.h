// A hub-style HTTP server on 127.0.0.1 for fetch tests (cpp-httplib, started in process on a
// free port): serves files at /{repo}/resolve/{revision}/{filename}, logs every request, and
// injects faults (status codes, dropped connections, stalls, ignored Range or If-Range,
// redirects with the hub's X-Linked-* headers). Files can be served like a plain static server:
// without ETag, with Last-Modified only, or without a length (chunked, no Range support).
// Range requests follow RFC 9110: If-Range that does not match gives the whole file (200), a
// range starting at or past the end gives 416 with "Content-Range: bytes */SIZE".
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
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
  bool ignore_if_range = false;  ///< answer a Range request with 206 even when If-Range does not match
  std::string redirect_to;     ///< answer 302 with this Location
  std::string linked_etag;     ///< with redirect_to: an X-Linked-Etag header, as the hub sends to its CDN
  std::string linked_size;     ///< with redirect_to: an X-Linked-Size header
  /// Called (without the server's lock) once this request has taken the fault and, for a file,
  /// the content it will send: e.g. put() a new version while the old one is being dropped.
  std::function<void()> then;
  int times = 1;
};

/// How a file's validators are served.
struct hub_file_headers {
  bool etag = true;               ///< send an ETag (put()'s, or "\"etag-<size>\"")
  std::string last_modified;      ///< a Last-Modified value, "" for none
  bool length = true;             ///< false: chunked, no Content-Length and no Range support
};

/// One request as the server saw it.
struct hub_request {
  std::string method;         ///< "GET" or "HEAD"
  std::string path;
  std::string range;          ///< the Range header, "" when none
  std::string authorization;  ///< the Authorization header, "" when none
  std::string if_range;       ///< the If-Range header, "" when none
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
  /// `etag` as its ETag header (default: "\"etag-<size>\""); returns that path. The file's
  /// headers (set by headers()) are kept.
  std::string put(const std::string& repo, const std::string& filename, std::string content,
                  const std::string& revision = "main", const std::string& etag = {});
  /// How the file at `path` (returned by put()) is served from now on.
  void headers(const std::string& path, hub_file_headers h);
  /// Injects a fault on a path returned by put() (or any other path).
  void fault(const std::string& path, hub_fault f);
  /// Requests so far, in order (all paths, or one path).
  std::vector<hub_request> requests(const std::string& path = {}) const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace mq::test
