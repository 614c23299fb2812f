#include "fetch/http.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <mutex>
#include <thread>

#include "fetch/files.h"

namespace mq::fetch {
namespace {

// curl_global_init is not thread-safe in old libcurl; do it once.
void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(s);
}

std::uint64_t to_u64(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::strtoull(text.c_str(), nullptr, 10);
}

// What the redirects before the final response said (the hub's headers on its redirect to the
// CDN).
struct chain_headers {
  std::string linked_etag;
  std::uint64_t linked_size = 0;
};

// State of one request.
struct request {
  int fd = -1;
  std::uint64_t offset = 0;        // bytes in the file when this request started
  std::uint64_t written = 0;       // bytes written by this request
  std::uint64_t total = 0;         // expected full size, 0 when unknown
  bool file_scheme = false;
  bool body_started = false;
  bool write_failed = false;
  int write_errno = 0;
  bool stalled = false;
  bool range_mismatch = false;
  bool version_changed = false;    // a 206 of another version than the bytes in the file
  long status = 0;
  // Headers of the current response.
  std::string etag;
  std::string last_modified;
  std::string linked_etag;
  std::string linked_size;
  std::string content_range;
  std::string content_length;
  std::string error_body;          // the start of a non-success body, for messages
  const chain_headers* chain = nullptr;
  validators* current = nullptr;   // the version of the file's bytes (updated on a restart)
  bool* have_current = nullptr;
  const resume_from* from = nullptr;
  std::string change;              // what differed, for the message
  std::chrono::steady_clock::time_point last_data;
  std::chrono::milliseconds stall_timeout{0};
  const byte_progress* progress = nullptr;
  CURL* curl = nullptr;

  // The version this response describes (full size filled in from whatever gives it).
  validators response_version() const {
    validators v;
    v.etag = etag;
    v.last_modified = last_modified;
    v.linked_etag = !linked_etag.empty() ? linked_etag : chain != nullptr ? chain->linked_etag : std::string();
    v.size = to_u64(linked_size);
    if (v.size == 0 && chain != nullptr) v.size = chain->linked_size;
    if (v.size == 0) v.size = total;
    return v;
  }
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& r = *static_cast<request*>(user);
  const std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a 100 or a redirect): reset
    r.etag.clear();
    r.last_modified.clear();
    r.linked_etag.clear();
    r.linked_size.clear();
    r.content_range.clear();
    r.content_length.clear();
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    const std::string name = lower(std::string(line.substr(0, colon)));
    const std::string value = trim(line.substr(colon + 1));
    if (name == "etag") r.etag = value;
    else if (name == "last-modified") r.last_modified = value;
    else if (name == "x-linked-etag") r.linked_etag = value;
    else if (name == "x-linked-size") r.linked_size = value;
    else if (name == "content-range") r.content_range = value;
    else if (name == "content-length") r.content_length = value;
  }
  return size * count;
}

// What differs between the version of the bytes in the file and the one being sent, or "".
std::string what_changed(const validators& had, const validators& now) {
  if (!had.identity().empty() && !now.identity().empty() && had.identity() != now.identity()) {
    return "ETag " + had.identity() + " -> " + now.identity();
  }
  if (!had.last_modified.empty() && !now.last_modified.empty() && had.last_modified != now.last_modified) {
    return "Last-Modified " + had.last_modified + " -> " + now.last_modified;
  }
  if (had.size != 0 && now.size != 0 && had.size != now.size) {
    return "size " + std::to_string(had.size) + " -> " + std::to_string(now.size) + " bytes";
  }
  return {};
}

// The file starts again from byte 0 with the version this response sends.
bool restart_file(request& r) {
  if (r.offset > 0 && (::ftruncate(r.fd, 0) != 0 || ::lseek(r.fd, 0, SEEK_SET) != 0)) {
    r.write_failed = true;
    r.write_errno = errno;
    return false;
  }
  r.offset = 0;
  *r.current = r.response_version();
  *r.have_current = true;
  if (r.from != nullptr && r.from->on_new_version) r.from->on_new_version(*r.current);
  return true;
}

// Called once, before the first body byte: decides whether the body goes into the file.
bool start_body(request& r) {
  r.body_started = true;
  curl_easy_getinfo(r.curl, CURLINFO_RESPONSE_CODE, &r.status);
  if (r.file_scheme) r.status = r.offset > 0 ? 206 : 200;
  if (r.status != 200 && r.status != 206) return true;  // body is an error page: keep a little
  const std::uint64_t length = to_u64(r.content_length);
  if (r.status == 206 && !r.file_scheme) {
    // "bytes START-END/TOTAL": START must be where the file ends.
    const auto space = r.content_range.find(' ');
    const auto dash = r.content_range.find('-');
    const auto slash = r.content_range.find('/');
    if (space == std::string::npos || dash == std::string::npos) {
      r.range_mismatch = true;
      return false;
    }
    const std::string start = r.content_range.substr(space + 1, dash - space - 1);
    if (start != std::to_string(r.offset)) {
      r.range_mismatch = true;
      return false;
    }
    if (slash != std::string::npos) r.total = to_u64(r.content_range.substr(slash + 1));
  }
  // A 200 sends the whole file; a 206 without a total (file://) the rest of it.
  if (r.total == 0 && !r.content_length.empty()) r.total = (r.status == 206 ? r.offset : 0) + length;
  if (r.status == 200) return restart_file(r);  // a fresh start (also: Range ignored, If-Range did not match)
  // 206: the bytes continue the file only if they are of the same version.
  if (*r.have_current) {
    r.change = what_changed(*r.current, r.response_version());
    if (!r.change.empty()) {
      r.version_changed = true;
      return false;
    }
  }
  return true;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& r = *static_cast<request*>(user);
  const size_t n = size * count;
  if (!r.body_started && !start_body(r)) return 0;
  r.last_data = std::chrono::steady_clock::now();
  if (r.status != 200 && r.status != 206) {
    if (r.error_body.size() < 512) r.error_body.append(data, std::min<size_t>(n, 512 - r.error_body.size()));
    return n;
  }
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(r.fd, data + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      r.write_failed = true;
      r.write_errno = errno;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  r.written += n;
  if (r.progress != nullptr && *r.progress) (*r.progress)(r.offset + r.written, r.total);
  return n;
}

int on_tick(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& r = *static_cast<request*>(user);
  if (std::chrono::steady_clock::now() - r.last_data > r.stall_timeout) {
    r.stalled = true;
    return 1;  // abort the transfer
  }
  return 0;
}

std::string status_advice(long status) {
  switch (status) {
    case 401: return "unauthorized: the repo may be private or gated; set HF_TOKEN to a token that can read it";
    case 403: return "forbidden: accept the model's terms on the hub or check that HF_TOKEN can read the repo";
    case 404: return "not found: check the catalog's repo, revision and filename";
    case 416: return "range not satisfiable";
    default: return status >= 500 ? "server error" : "unexpected status";
  }
}

bool transient_status(long status) { return status >= 500 || status == 408 || status == 429; }

bool transient_curl(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_ABORTED_BY_CALLBACK:  // only the stall detector aborts
      return true;
    default:
      return false;
  }
}

struct attempt_outcome {
  enum class kind { done, redirect, transient, permanent } what = kind::permanent;
  std::string message;
  errc code = errc::network;
  std::string location;
};

// The If-Range value for resuming bytes of version `v`: a strong ETag, else the Last-Modified
// date ("" when neither: the caller then only resumes what a hash will check).
std::string if_range_value(const validators& v) {
  if (!v.etag.empty() && v.etag.rfind("W/", 0) != 0) return v.etag;
  return v.last_modified;
}

attempt_outcome one_request(const std::string& url, bool send_token, int fd, bool head, const transfer_options& options,
                            const byte_progress& progress, const chain_headers& chain, const resume_from* from,
                            validators& current, bool& have_current, transfer_result& out) {
  request r;
  r.fd = fd;
  const off_t size = head ? 0 : ::lseek(fd, 0, SEEK_END);
  r.offset = size > 0 ? static_cast<std::uint64_t>(size) : 0;
  r.file_scheme = lower(url.substr(0, 7)) == "file://";
  r.stall_timeout = options.stall_timeout;
  r.last_data = std::chrono::steady_clock::now();
  r.progress = &progress;
  r.chain = &chain;
  r.current = &current;
  r.have_current = &have_current;
  r.from = from;
  out.resumed_from = r.offset;

  CURL* curl = curl_easy_init();
  if (curl == nullptr) return {attempt_outcome::kind::permanent, "cannot initialise libcurl", errc::internal, {}};
  r.curl = curl;
  char error_text[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  const std::string auth = "Authorization: Bearer " + options.token;
  if (send_token && !options.token.empty() && !r.file_scheme) headers = curl_slist_append(headers, auth.c_str());
  headers = curl_slist_append(headers, "Accept-Encoding: identity");
  // Resume only the version the bytes are of: a server whose file changed sends all of it.
  const std::string if_range = "If-Range: " + if_range_value(current);
  if (r.offset > 0 && have_current && if_range.size() > 10 && !r.file_scheme) {
    headers = curl_slist_append(headers, if_range.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);  // redirects are followed by hand (token policy)
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "mq-pull (libmodelquant)");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_tick);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &r);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  if (head) curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  // A plain Range header rather than CURLOPT_RESUME_FROM: curl fails on a 200 answer to the
  // latter, while a server that ignores Range should just restart the file from zero.
  const std::string range = std::to_string(r.offset) + "-";
  if (r.offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());

  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (r.file_scheme) status = code == CURLE_OK ? 200 : 0;
  char* location = nullptr;
  curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
  const std::string redirect = location != nullptr ? location : "";
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);

  const std::string where = "'" + url + "'";
  const auto truncated = [&](const std::string& message) -> attempt_outcome {
    if (::ftruncate(fd, 0) != 0) return {attempt_outcome::kind::permanent, "cannot truncate partial download", errc::io, {}};
    have_current = false;
    return {attempt_outcome::kind::transient, message, errc::network, {}};
  };
  if (r.write_failed) {
    return {attempt_outcome::kind::permanent, "cannot write: " + os_error(r.write_errno), errc::io, {}};
  }
  if (r.version_changed) {
    // A server that ignored If-Range (or could not be asked: file://) sent the rest of another
    // version: the bytes so far are of no use with it.
    return truncated(where + ": the file changed since the partial download began (" + r.change +
                     "); starting again from zero");
  }
  if (r.range_mismatch) {
    // The server answered a different range than asked: drop what we have and start over.
    return truncated(where + ": server sent range '" + r.content_range + "', expected bytes " +
                     std::to_string(r.offset) + "-");
  }
  if (r.stalled) {
    return {attempt_outcome::kind::transient,
            where + ": stalled: no data for " + std::to_string(options.stall_timeout.count()) + " ms", errc::network, {}};
  }
  if (code != CURLE_OK) {
    if (r.file_scheme && (code == CURLE_FILE_COULDNT_READ_FILE)) {
      return {attempt_outcome::kind::permanent, where + ": file not found (check the mirror's layout)", errc::not_found, {}};
    }
    if (r.file_scheme && code == CURLE_BAD_DOWNLOAD_RESUME) return truncated(where + ": cannot resume");
    const std::string text = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
    return {transient_curl(code) ? attempt_outcome::kind::transient : attempt_outcome::kind::permanent,
            where + ": " + lower(text), errc::network, {}};
  }
  if (status >= 300 && status < 400 && !redirect.empty()) {
    out.version.linked_etag = r.linked_etag;  // the hub's, on its redirect to the CDN
    out.version.size = to_u64(r.linked_size);
    return {attempt_outcome::kind::redirect, {}, errc::network, redirect};
  }
  if (status == 416 && r.offset > 0) {
    // Asked for bytes past the end. "bytes */SIZE" of exactly what the file holds, of the same
    // version: the partial download is complete. Anything else: start again.
    const auto slash = r.content_range.find("*/");
    const std::uint64_t whole = slash != std::string::npos ? to_u64(r.content_range.substr(slash + 2)) : 0;
    validators now = r.response_version();
    now.size = whole;
    const std::string change = have_current ? what_changed(current, now) : std::string("no recorded version");
    if (whole == r.offset && change.empty()) {
      out.bytes = r.offset;
      out.version = have_current ? current : now;
      out.final_url = url;
      return {attempt_outcome::kind::done, {}, errc::network, {}};
    }
    return truncated(where + ": http 416 range not satisfiable (" +
                     (r.content_range.empty() ? std::string("no Content-Range") : "Content-Range " + r.content_range) +
                     ", " + std::to_string(r.offset) + " bytes here); restarting");
  }
  if (status != 200 && status != 206) {
    std::string message = where + ": http " + std::to_string(status) + " " + status_advice(status);
    return {transient_status(status) ? attempt_outcome::kind::transient : attempt_outcome::kind::permanent, message,
            status == 404 ? errc::not_found : errc::network, {}};
  }
  if (head) {
    r.total = to_u64(r.content_length);
    out.version = r.response_version();
    out.bytes = out.version.size;
    out.final_url = url;
    return {attempt_outcome::kind::done, {}, errc::network, {}};
  }
  if (!r.body_started) {
    // An empty body: start_body never ran (a 200 of an empty file, or a 206 of nothing).
    if (status == 200 || !have_current) {
      if (!restart_file(r)) return {attempt_outcome::kind::permanent, "cannot write: " + os_error(r.write_errno), errc::io, {}};
    }
  }
  const std::uint64_t have = r.offset + r.written;
  if (r.total != 0 && have != r.total) {
    return {attempt_outcome::kind::transient,
            where + ": connection ended after " + std::to_string(have) + " of " + std::to_string(r.total) + " bytes",
            errc::network, {}};
  }
  out.bytes = have;
  out.version = current;
  if (out.version.size == 0) out.version.size = have;
  out.final_url = url;
  return {attempt_outcome::kind::done, {}, errc::network, {}};
}

// Resolves a Location header against the URL it came from.
std::string resolve_location(const std::string& base, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  const std::string origin_part = base.substr(0, base.find('/', base.find("://") + 3));
  if (!location.empty() && location.front() == '/') return origin_part + location;
  return base.substr(0, base.rfind('/') + 1) + location;
}

}  // namespace

std::string version_change(const validators& had, const validators& now) { return what_changed(had, now); }

std::string url_origin(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {};
  const std::string scheme = lower(url.substr(0, scheme_end));
  std::string authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  authority = lower(authority);
  const bool has_port = authority.rfind(':') != std::string::npos && authority.back() != ']';
  if (!has_port) authority += scheme == "https" ? ":443" : scheme == "http" ? ":80" : "";
  return scheme + "://" + authority;
}

namespace {

// Requests `url` until done, following redirects by hand (the token goes to the URL's own origin
// only) and retrying transient failures with backoff. With `head`, `fd` is unused (-1).
result<transfer_result> run_transfer(const std::string& url, int fd, bool head, const transfer_options& options,
                                     const byte_progress& progress, const std::filesystem::path& partial,
                                     const resume_from* from) {
  const std::string origin = url_origin(url);
  transfer_result out;
  std::string current_url = url;
  chain_headers chain;
  validators current;
  bool have_current = from != nullptr && from->resume;
  if (have_current) current = from->version;
  int redirects = 0;
  auto delay = options.backoff;
  for (int attempt = 1;;) {
    const bool same_origin = url_origin(current_url) == origin;
    const auto outcome =
        one_request(current_url, same_origin, fd, head, options, progress, chain, from, current, have_current, out);
    using kind = attempt_outcome::kind;
    if (outcome.what == kind::done) {
      out.attempts = attempt;
      return out;
    }
    if (outcome.what == kind::redirect) {
      if (++redirects > options.max_redirects) {
        return fail(errc::network, "'" + url + "': more than " + std::to_string(options.max_redirects) + " redirects");
      }
      if (chain.linked_etag.empty()) chain.linked_etag = out.version.linked_etag;
      if (chain.linked_size == 0) chain.linked_size = out.version.size;
      if (head && !chain.linked_etag.empty()) {
        // The hub names the file on its redirect (X-Linked-Etag, X-Linked-Size): that answers a
        // HEAD without a request to the CDN.
        out.version = {};
        out.version.linked_etag = chain.linked_etag;
        out.version.size = chain.linked_size;
        out.bytes = chain.linked_size;
        out.final_url = current_url;
        out.attempts = attempt;
        return out;
      }
      current_url = resolve_location(current_url, outcome.location);
      continue;
    }
    if (outcome.what == kind::permanent || attempt >= options.max_attempts) {
      std::string message = outcome.message;
      if (outcome.what == kind::transient) message += " (gave up after " + std::to_string(attempt) + " attempts)";
      if (outcome.code == errc::io) message = "downloading '" + url + "' into " + quote(partial) + ": " + message;
      return fail(outcome.code, message);
    }
    // Transient: wait, then try again from the original URL (redirect targets may be signed
    // URLs that expire), resuming from what the file holds.
    if (options.on_retry) options.on_retry({outcome.message, attempt, options.max_attempts, delay});
    std::this_thread::sleep_for(delay);
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::milliseconds(30000));
    current_url = url;
    chain = {};
    redirects = 0;
    ++attempt;
  }
}

}  // namespace

result<transfer_result> download(const std::string& url, const std::filesystem::path& partial,
                                 const transfer_options& options, const resume_from& from,
                                 const byte_progress& progress) {
  global_init();
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return fail(errc::io, "cannot write " + quote(partial) + ": " + os_error(errno));
  if (!from.resume && ::ftruncate(fd, 0) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(errc::io, "cannot write " + quote(partial) + ": " + os_error(err));
  }
  auto out = run_transfer(url, fd, false, options, progress, partial, &from);
  if (out && ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(errc::io, "cannot write " + quote(partial) + ": " + os_error(err));
  }
  ::close(fd);
  return out;
}

result<remote_file> probe(const std::string& url, const transfer_options& options) {
  global_init();
  auto got = run_transfer(url, -1, true, options, {}, {}, nullptr);
  if (!got) return unexpected_error{std::move(got).error()};
  remote_file out;
  out.version = std::move(got->version);
  out.final_url = std::move(got->final_url);
  return out;
}

}  // namespace mq::fetch
