// Downloads one URL into a `.partial` file with libcurl (the only file that includes curl):
// resume with Range + If-Range, never splicing two versions of a file; retries with backoff,
// stall detection, bearer token kept to its host.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "mq/result.h"

namespace mq::fetch {

/// What tells one version of a remote file from another, as the server describes it. file://
/// URLs have Last-Modified (the mtime, in seconds) and a size.
struct validators {
  std::string etag;           ///< ETag of the response that sends the bytes, "" when none
  std::string last_modified;  ///< its Last-Modified, "" when none
  std::string linked_etag;    ///< the hub's X-Linked-Etag from a redirect of the chain, "" when none
  std::uint64_t size = 0;     ///< full size: X-Linked-Size, Content-Range's total or Content-Length; 0 unknown

  /// The ETag that names the file: the hub's X-Linked-Etag (its CDN's ETag may differ per
  /// edge), else the ETag.
  const std::string& identity() const noexcept { return linked_etag.empty() ? etag : linked_etag; }
  /// True when an ETag or a Last-Modified tells versions apart (a size alone does not).
  bool can_tell_versions() const noexcept { return !identity().empty() || !last_modified.empty(); }
};

/// How `now` differs from `had` ("ETag \"a\" -> \"b\"", "Last-Modified ... -> ...", "size 10 -> 12
/// bytes"): the first validator both give that differs; "" when none does (the same version, or
/// nothing to compare).
std::string version_change(const validators& had, const validators& now);

/// One transient failure that will be retried, for a progress display.
struct retry_notice {
  std::string message;  ///< what failed, naming the URL
  int attempt = 0;      ///< the attempt that failed, from 1
  int max_attempts = 0;
  std::chrono::milliseconds delay{0};  ///< the wait before the next attempt
};

/// How hard to try.
struct transfer_options {
  std::string token;  ///< sent as "Authorization: Bearer ..." to the URL's own scheme+host+port only
  std::chrono::milliseconds connect_timeout{15000};
  /// A transfer that receives no byte for this long is aborted (and retried, resuming).
  std::chrono::milliseconds stall_timeout{30000};
  int max_attempts = 5;  ///< attempts in total, for transient failures (reset, timeout, stall, 5xx)
  std::chrono::milliseconds backoff{500};  ///< wait before the 2nd attempt; doubles each time (max 30 s)
  int max_redirects = 10;
  std::function<void(const retry_notice&)> on_retry;  ///< called before each wait (none: silent)
};

/// What a finished transfer reports.
struct transfer_result {
  std::uint64_t bytes = 0;     ///< size of the complete file
  validators version;          ///< of the bytes in the file
  std::string final_url;       ///< after redirects
  int attempts = 0;            ///< requests that failed transiently before success, plus one
  std::uint64_t resumed_from = 0;  ///< bytes already in `partial` when the last request started
};

/// Called as bytes arrive: bytes in the file so far, and the total (0 when unknown).
using byte_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// Where a download starts.
struct resume_from {
  /// The version of the bytes already in `partial`: they are kept only while the server still
  /// sends that version (If-Range with its ETag or Last-Modified; a response whose ETag,
  /// Last-Modified or size differs starts the file again from zero). Ignored when `partial` is
  /// empty. Without `resume`, `partial` is emptied first.
  validators version;
  bool resume = false;
  /// Called when the file (re)starts from byte 0 with a new version, before its first byte is
  /// written: the caller records it, so that a later run can resume these bytes safely.
  std::function<void(const validators&)> on_new_version;
};

/// Downloads `url` (http, https or file) and appends it to `partial`, resuming as `from` says
/// (Range + If-Range; a server that answers 200 instead restarts from zero). A complete
/// `partial` answered with 416 and "Content-Range: bytes */SIZE" of its size is complete. On
/// success `partial` holds the whole file, all of one version. On failure `partial` keeps what
/// arrived (so the next run resumes). Errors (`errc::network`, `errc::not_found`) name the URL
/// and the cause: HTTP status with what to check (401/403: token; 404: repo, revision,
/// filename), curl's error, or "stalled: no data for N ms".
[[nodiscard]] result<transfer_result> download(const std::string& url, const std::filesystem::path& partial,
                                               const transfer_options& options, const resume_from& from = {},
                                               const byte_progress& progress = {});

/// What a HEAD request tells about a URL, redirects followed (and the token kept) like
/// `download`; a hub redirect carrying X-Linked-Etag answers it without asking its CDN.
struct remote_file {
  validators version;
  std::string final_url;
};

/// A HEAD request for `url` (http, https; file:// gives the file's mtime and size): the cheap
/// "did the upstream file change?" check. Errors as for `download` (`errc::not_found` for 404,
/// `errc::network` otherwise).
[[nodiscard]] result<remote_file> probe(const std::string& url, const transfer_options& options);

/// "scheme://host:port" of a URL (lowercase scheme and host, default port filled in), or "".
std::string url_origin(const std::string& url);

}  // namespace mq::fetch
