// The tgt iSCSI backend: tgtd supervised through sys::DaemonLauncher, driven
// with tgtadm through sys::ProcessRunner. See iscsi_tgt.h for the mapping.
#include "share/iscsi_tgt.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "base/text.h"
#include "base/unique_fd.h"
#include "share/internal/iscsi_targets.h"

namespace pk::share {
namespace {


constexpr int kMaxTid = 1 << 24;

std::optional<int> ParseInt(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Last lines of a tool's stderr (or stdout), on one line, for messages.
std::string Said(const sys::ProcessResult& r) {
  std::string text(Trim(r.err.empty() ? r.out : r.err));
  std::replace(text.begin(), text.end(), '\n', ' ');
  if (text.size() > 400) text = "..." + text.substr(text.size() - 400);
  return text.empty() ? "(no output)" : text;
}

std::string LogTail(sys::FileSystem& fs, const std::string& path) {
  auto text = fs.ReadFile(path);
  if (!text) return fmt::format("(cannot read {}: {})", path, text.error().message());
  std::string t(Trim(*text));
  size_t cut = t.size();
  for (int lines = 0; lines < 4 && cut != std::string::npos && cut > 0; ++lines) cut = t.rfind('\n', cut - 1);
  std::string tail = cut == std::string::npos ? t : t.substr(cut + 1);
  std::replace(tail.begin(), tail.end(), '\n', ' ');
  return tail;
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

bool IsInitiatorName(const std::string& acl) { return acl.starts_with("iqn.") || acl.starts_with("eui."); }

// The shares of one IQN, as one tgt target.
using WantTarget = internal::IscsiTargetPlan;

class TgtBackend final : public Backend {
 public:
  TgtBackend(TgtOptions options, sys::ProcessRunner& runner, sys::DaemonLauncher& launcher, sys::FileSystem& fs)
      : options_(std::move(options)), runner_(runner), launcher_(launcher), fs_(fs), log_(GetLogger("share")) {}

  ~TgtBackend() override {
    if (daemon_ && daemon_->Running()) {
      if (auto st = Stop(); !st) log_->warn("tgt: stop at shutdown: {}", st.error().message());
    }
  }

  Protocol protocol() const override { return Protocol::kIscsi; }

  // Takes over the tgtd an earlier poolkeeperd (killed) left serving (issue
  // 18), with a handle (so Stop() can end it): each Reconcile compares with
  // what it serves (`--op show`) and changes only the difference, so its
  // targets and sessions stay.
  void AdoptLeftOver() {
    auto adopted = launcher_.Adopt("tgtd", TgtdCommand());
    if (!adopted) log_->warn("tgt: adopt tgtd: {}", adopted.error().message());
    if (!adopted || !*adopted) return;
    daemon_ = std::move(*adopted);
    log_->info("tgt: adopted tgtd pid={} control_port={} (left running by an earlier poolkeeperd)", daemon_->pid(),
               options_.control_port);
  }

  sys::Command TgtdCommand() const {
    return sys::Command{
        .program = options_.tgtd_path,
        .args = {"-f", "-C", std::to_string(options_.control_port), "--iscsi", "portal=" + options_.portal},
        .env = sys::DefaultToolEnvironment(),
    };
  }

  Status Start() override {
    if (daemon_) {
      if (daemon_->Running()) return OkStatus();
      auto exit = daemon_->Exit();
      log_->warn("tgt: tgtd (pid {}, control port {}) exited ({}); starting it again", daemon_->pid(),
                 options_.control_port, exit ? exit->ToString() : "unknown");
      daemon_.reset();
    }
    if (ControlAnswers()) {
      // A tgtd on our private control port that we did not start: left by an
      // earlier Poolkeeper that was killed. It is ours; serve through it.
      if (!adopted_) log_->warn("tgt: adopting the tgtd already answering on control port {}", options_.control_port);
      adopted_ = true;
      return CheckPortal();
    }
    adopted_ = false;
    PK_TRY_CONTEXT(fs_.MakeDirs(options_.runtime_dir, 0750), "start tgtd");
    auto daemon = launcher_.LaunchRecorded("tgtd", TgtdCommand(), LogPath());
    if (!daemon) {
      return MakeError(daemon.error().code() == ErrorCode::kNotFound ? ErrorCode::kUnavailable : daemon.error().code(),
                       fmt::format("start tgtd: {}", daemon.error().message()));
    }
    daemon_ = std::move(*daemon);
    auto deadline = options_.clock->SteadyNow() + options_.start_timeout;
    while (true) {
      if (!daemon_->Running()) {
        auto exit = daemon_->Exit();
        daemon_.reset();
        return Unavailable(fmt::format("start tgtd (control port {}, portal {}): it {}: {}", options_.control_port,
                                       options_.portal, exit ? exit->ToString() : "exited", LogTail(fs_, LogPath())));
      }
      if (ControlAnswers()) break;
      if (options_.clock->SteadyNow() >= deadline) {
        daemon_->Stop(SIGKILL, std::chrono::milliseconds(0));
        daemon_.reset();
        return Unavailable(fmt::format("start tgtd (control port {}): its control socket did not answer within {} ms: {}",
                                       options_.control_port, options_.start_timeout.count(), LogTail(fs_, LogPath())));
      }
      options_.clock->SleepFor(std::chrono::milliseconds(20));
    }
    if (auto st = CheckPortal(); !st) {
      daemon_->Stop(SIGKILL, std::chrono::milliseconds(0));
      daemon_.reset();
      return st;
    }
    log_->info("tgt: tgtd started pid={} control_port={} portal={}", daemon_->pid(), options_.control_port,
               options_.portal);
    return OkStatus();
  }

  Status Stop() override {
    bool running = daemon_ && daemon_->Running();
    if (!running && !ControlAnswers()) {
      daemon_.reset();
      adopted_ = false;
      return OkStatus();
    }
    // tgtd ignores SIGTERM, and `sys delete` is refused while targets exist:
    // force-delete every target (sessions may be logged in), then ask it to exit.
    if (auto targets = ShowTargets()) {
      for (const auto& t : *targets) {
        if (auto st = DeleteTarget(t); !st) log_->warn("tgt: {}", st.error().message());
      }
    } else {
      log_->warn("tgt: stop: {}", targets.error().message());
    }
    auto deleted = Tgtadm("stop tgtd", {"--mode", "sys", "--op", "delete"});
    if (!deleted) log_->warn("tgt: {}", deleted.error().message());
    auto deadline = options_.clock->SteadyNow() + options_.stop_grace;
    if (daemon_) {
      while (daemon_->Running() && options_.clock->SteadyNow() < deadline) options_.clock->SleepFor(std::chrono::milliseconds(10));
      if (daemon_->Running()) {
        log_->warn("tgt: tgtd (pid {}) still runs {} ms after sys delete; killing it", daemon_->pid(),
                   options_.stop_grace.count());
      }
      auto exit = daemon_->Stop(SIGKILL, std::chrono::milliseconds(0));
      log_->info("tgt: tgtd pid={} stopped: {}", daemon_->pid(), exit.ToString());
      daemon_.reset();
      served_ids_.clear();
      return OkStatus();
    }
    // Adopted: no handle to kill it with; it must go by itself.
    while (ControlAnswers() && options_.clock->SteadyNow() < deadline) options_.clock->SleepFor(std::chrono::milliseconds(10));
    if (ControlAnswers()) {
      return Unavailable(fmt::format("stop tgtd on control port {} (not started by this Poolkeeper): it still answers "
                                     "after sys delete{}",
                                     options_.control_port, deleted ? "" : ": " + deleted.error().message()));
    }
    adopted_ = false;
    served_ids_.clear();
    return OkStatus();
  }

  Status Health() override {
    if (daemon_ && !daemon_->Running()) {
      auto exit = daemon_->Exit();
      return Unavailable(fmt::format("tgtd (pid {}) {}", daemon_->pid(), exit ? exit->ToString() : "exited"));
    }
    if (!daemon_ && !adopted_) return Unavailable("tgtd is not running");
    return Tgtadm("check tgtd", {"--mode", "sys", "--op", "show"})
        ? OkStatus()
        : Status(Unavailable(fmt::format("tgtd on control port {} does not answer", options_.control_port)));
  }

  std::vector<ShareResult> Reconcile(const std::vector<Share>& desired) override;

  Result<std::vector<std::string>> Served() override {
    if (!daemon_ && !adopted_) return std::vector<std::string>{};
    PK_ASSIGN_OR_RETURN(auto targets, ShowTargets());
    std::vector<std::string> ids;
    for (const auto& t : targets) {
      for (const auto& l : t.luns) {
        auto it = served_ids_.find({t.iqn, l.lun});
        if (it != served_ids_.end()) ids.push_back(it->second);
      }
    }
    return ids;
  }

 private:
  std::string LogPath() const { return options_.runtime_dir + "/tgtd.log"; }

  Result<sys::ProcessResult> RunTgtadm(const std::vector<std::string>& args) {
    sys::Command cmd{
        .program = options_.tgtadm_path,
        .args = {"-C", std::to_string(options_.control_port), "--lld", "iscsi"},
        .env = sys::DefaultToolEnvironment(),
        .timeout = options_.command_timeout,
    };
    cmd.args.insert(cmd.args.end(), args.begin(), args.end());
    // A CHAP secret never reaches a log or an error message.
    for (size_t i = 0; i + 1 < cmd.args.size(); ++i) {
      if (cmd.args[i] == "--password") cmd.secret_args.push_back(i + 1);
    }
    log_->debug("tgt: run {}", cmd.ToString());
    return runner_.Run(cmd);
  }

  // Runs tgtadm; a failure names `what` and what tgtadm said.
  Result<sys::ProcessResult> Tgtadm(const std::string& what, const std::vector<std::string>& args) {
    auto r = RunTgtadm(args);
    if (!r) return std::unexpected(r.error().WithContext(what));
    if (r->timed_out) {
      return DeadlineExceeded(fmt::format("{}: tgtadm did not answer within {} ms", what,
                                          options_.command_timeout.count()));
    }
    if (!r->status.Success()) {
      std::string said = Said(*r);
      ErrorCode code = ErrorCode::kFailedPrecondition;
      if (said.find("can't find") != std::string::npos) code = ErrorCode::kNotFound;
      if (said.find("already exists") != std::string::npos) code = ErrorCode::kAlreadyExists;
      if (said.find("failed to send request") != std::string::npos ||
          said.find("can't connect") != std::string::npos) {
        code = ErrorCode::kUnavailable;
      }
      return MakeError(code, fmt::format("{}: tgtadm {}: {}", what, r->status.ToString(), said));
    }
    return r;
  }

  bool ControlAnswers() {
    auto r = RunTgtadm({"--mode", "sys", "--op", "show"});
    return r && !r->timed_out && r->status.Success();
  }

  // tgtd falls back to every address when it cannot bind the given portal:
  // refuse to serve then.
  Status CheckPortal() {
    PK_ASSIGN_OR_RETURN(auto r, Tgtadm("list tgtd portals", {"--mode", "portal", "--op", "show"}));
    std::vector<std::string> portals;
    size_t pos = 0;
    while (pos < r.out.size()) {
      size_t eol = r.out.find('\n', pos);
      std::string line(Trim(std::string_view(r.out).substr(pos, eol == std::string::npos ? std::string::npos : eol - pos)));
      pos = eol == std::string::npos ? r.out.size() : eol + 1;
      if (!line.starts_with("Portal: ")) continue;
      std::string p = line.substr(8);
      if (size_t comma = p.rfind(','); comma != std::string::npos) p = p.substr(0, comma);
      portals.push_back(p);
    }
    if (portals.size() == 1 && portals[0] == options_.portal) return OkStatus();
    return Unavailable(fmt::format("tgtd (control port {}) could not listen on portal {} (address in use?); it "
                                   "listens on [{}] instead: {}",
                                   options_.control_port, options_.portal, fmt::join(portals, ", "),
                                   LogTail(fs_, LogPath())));
  }

  Result<std::vector<TgtTarget>> ShowTargets() {
    PK_ASSIGN_OR_RETURN(auto r, Tgtadm("list tgt targets", {"--mode", "target", "--op", "show"}));
    return ParseTgtTargets(r.out);
  }

  Result<std::set<std::string>> ShowAccounts() {
    PK_ASSIGN_OR_RETURN(auto r, Tgtadm("list tgt accounts", {"--mode", "account", "--op", "show"}));
    std::set<std::string> users;
    size_t pos = 0;
    while (pos < r.out.size()) {
      size_t eol = r.out.find('\n', pos);
      std::string_view raw = std::string_view(r.out).substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      pos = eol == std::string::npos ? r.out.size() : eol + 1;
      std::string line(Trim(raw));
      if (line.empty() || line == "Account list:") continue;
      if (size_t sp = line.find(' '); sp != std::string::npos) line = line.substr(0, sp);  // "user (outgoing)"
      users.insert(line);
    }
    return users;
  }

  // Closes every connection of `t` (initiators log in again unless the ACL
  // no longer lets them).
  void CloseConnections(const TgtTarget& t) {
    for (const auto& n : t.nexuses) {
      for (int cid : n.connections) {
        auto st = Tgtadm(fmt::format("close connection {} of session {} ({}) on target {}", cid, n.sid, n.initiator, t.iqn),
                         {"--mode", "conn", "--op", "delete", "--tid", std::to_string(t.tid), "--sid",
                          std::to_string(n.sid), "--cid", std::to_string(cid)});
        if (!st) log_->warn("tgt: {}", st.error().message());
      }
    }
  }

  // Runs a delete that tgt refuses with "still active" while commands are in
  // flight on a LU (even with --force): closes the target's connections (after
  // `before_close`) and tries again until the command timeout.
  Status DeleteWhileActive(const std::string& what, const std::vector<std::string>& args, const TgtTarget& t,
                           const std::function<void()>& before_close) {
    auto st = Tgtadm(what, args);
    if (st) return OkStatus();
    if (st.error().message().find("still active") == std::string::npos) return std::unexpected(st.error());
    log_->info("tgt: {}: commands in flight; closing {} session(s) of target {}", what, t.sessions, t.iqn);
    before_close();
    CloseConnections(t);
    auto deadline = options_.clock->SteadyNow() + options_.command_timeout;
    while (true) {
      st = Tgtadm(what, args);
      if (st) return OkStatus();
      if (st.error().message().find("still active") == std::string::npos || options_.clock->SteadyNow() >= deadline) {
        return std::unexpected(st.error());
      }
      options_.clock->SleepFor(std::chrono::milliseconds(50));
    }
  }

  // Force-deletes a target; with commands in flight, its ACL goes first so
  // that the closed sessions cannot log in again.
  Status DeleteTarget(const TgtTarget& t) {
    const std::string tid = std::to_string(t.tid);
    return DeleteWhileActive(fmt::format("delete target {} (tid {})", t.iqn, t.tid),
                             {"--mode", "target", "--op", "delete", "--force", "--tid", tid}, t, [&] {
                               for (const auto& acl : t.acls) {
                                 auto st = Tgtadm(fmt::format("disallow initiator '{}' on target {}", acl, t.iqn),
                                                  {"--mode", "target", "--op", "unbind", "--tid", tid,
                                                   IsInitiatorName(acl) ? "--initiator-name" : "--initiator-address", acl});
                                 if (!st) log_->warn("tgt: {}", st.error().message());
                               }
                             });
  }

  int TidFor(const std::string& iqn, const std::set<int>& used) {
    if (auto it = tids_.find(iqn); it != tids_.end() && !used.contains(it->second)) return it->second;
    std::set<int> taken = used;
    for (const auto& [other, tid] : tids_) {
      if (other != iqn) taken.insert(tid);
    }
    int tid = static_cast<int>(Fnv1a(iqn) % kMaxTid) + 1;
    while (taken.contains(tid)) tid = tid % kMaxTid + 1;
    tids_[iqn] = tid;
    return tid;
  }

  Status ApplyTarget(const WantTarget& want, const TgtTarget* served, const std::set<int>& used_tids,
                     const std::set<std::string>& recreated_users, const std::set<std::string>& deleted_users,
                     const std::vector<Share>& desired, const std::vector<std::optional<sys::RegularFile>>& checked,
                     std::vector<ShareResult>& results);
  // The files tgtd holds open (TgtOptions::tgtd_open_files).
  Result<std::vector<sys::OpenFile>> TgtdOpenFiles();
  // After `--op new` of a file LUN: tgtd opened `backing` by path; the files
  // it opened since `before` must all be `checked` (and there must be one).
  Status CheckOpenedBacking(const std::string& what, const std::string& backing, const sys::RegularFile& checked,
                            const std::vector<sys::OpenFile>& before);

  TgtOptions options_;
  sys::ProcessRunner& runner_;
  sys::DaemonLauncher& launcher_;
  sys::FileSystem& fs_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<sys::ServerProcess> daemon_;
  bool adopted_ = false;                          // serving through a tgtd we did not start
  std::map<std::string, int> tids_;               // IQN -> tid, for the backend's life
  std::map<std::string, std::string> secrets_;    // CHAP user -> the secret we set
  std::map<std::pair<std::string, int>, std::string> served_ids_;  // (IQN, LUN) -> Share::Id()
};

std::vector<ShareResult> TgtBackend::Reconcile(const std::vector<Share>& desired) {
  std::vector<ShareResult> results = internal::OkResults(desired);
  auto fail_all = [&](const Error& e) {
    internal::FailRemaining(results, e);
    return results;
  };
  const auto checked = internal::CheckIscsiBackingFiles(desired, results, options_.lun_file_check);

  // Group the shares by IQN; target-wide settings come from the first share.
  std::vector<WantTarget> wants = internal::PlanIscsiTargets(desired, results);
  std::set<std::string> want_of;
  for (const auto& w : wants) want_of.insert(w.iqn);

  bool nothing_wanted = wants.empty();
  if (nothing_wanted && !daemon_ && !adopted_ && !ControlAnswers()) {
    served_ids_.clear();
    return results;  // nothing to serve and nothing served: do not start tgtd for that
  }
  if (auto st = Start(); !st) return fail_all(st.error().WithContext("serve iSCSI"));
  auto shown = ShowTargets();
  if (!shown) return fail_all(shown.error().WithContext("serve iSCSI"));

  // Targets no share wants go first (force: initiators may be logged in).
  std::set<int> used_tids;
  for (const auto& t : *shown) {
    if (want_of.contains(t.iqn)) {
      used_tids.insert(t.tid);
      continue;
    }
    if (auto st = DeleteTarget(t); !st) {
      log_->warn("tgt: {}", st.error().message());
      used_tids.insert(t.tid);
    } else {
      log_->info("tgt: target {} removed (tid {}, {} session(s))", t.iqn, t.tid, t.sessions);
    }
  }

  // CHAP accounts are global in tgt: one secret per user.
  std::map<std::string, std::string> want_secret;  // user -> secret
  for (auto& w : wants) {
    if (w.chap_user.empty()) continue;
    auto [it, fresh] = want_secret.try_emplace(w.chap_user, w.chap_secret);
    if (!fresh && it->second != w.chap_secret) {
      for (size_t i : w.shares) {
        results[i].status = FailedPrecondition(fmt::format(
            "share {}: CHAP user '{}' is used by another target with another secret; tgt keeps one secret per user",
            desired[i].Id(), w.chap_user));
      }
      w.shares.clear();
      w.luns.clear();
    }
  }
  std::set<std::string> recreated_users;
  std::set<std::string> deleted_users;  // deleting an account also unbinds it everywhere
  auto accounts = ShowAccounts();
  if (!accounts) return fail_all(accounts.error().WithContext("serve iSCSI"));
  for (const auto& user : *accounts) {
    if (want_secret.contains(user)) continue;
    if (auto st = Tgtadm(fmt::format("delete CHAP account '{}'", user), {"--mode", "account", "--op", "delete", "--user", user});
        !st) {
      log_->warn("tgt: {}", st.error().message());
    } else {
      deleted_users.insert(user);
    }
    secrets_.erase(user);
  }
  for (const auto& [user, secret] : want_secret) {
    auto known = secrets_.find(user);
    if (accounts->contains(user) && known != secrets_.end() && known->second == secret) continue;
    Status st = OkStatus();
    if (accounts->contains(user)) {
      // Deleting an account also unbinds it from every target.
      auto deleted = Tgtadm(fmt::format("replace CHAP account '{}'", user),
                            {"--mode", "account", "--op", "delete", "--user", user});
      if (!deleted) st = std::unexpected(deleted.error());
    }
    if (st) {
      // Never through tgtadm: its argv would show the secret (issue 17 item 5).
      st = options_.new_account
               ? options_.new_account(options_.control_port, user, secret)
               : TgtNewAccount(options_.control_port, user, secret, options_.command_timeout);
      if (!st) st = std::unexpected(st.error().WithContext(fmt::format("create CHAP account '{}'", user)));
    }
    if (!st) {
      secrets_.erase(user);
      for (auto& w : wants) {
        if (w.chap_user != user) continue;
        for (size_t i : w.shares) results[i].status = std::unexpected(st.error().WithContext("share " + desired[i].Id()));
        w.shares.clear();
        w.luns.clear();
      }
      continue;
    }
    secrets_[user] = secret;
    recreated_users.insert(user);
  }

  served_ids_.clear();
  for (const auto& w : wants) {
    const TgtTarget* served = nullptr;
    for (const auto& t : *shown) {
      if (t.iqn == w.iqn) served = &t;
    }
    if (w.shares.empty()) {
      // Every share of this target failed above: it must not go on serving
      // what an earlier definition said.
      if (served != nullptr) {
        if (auto st = DeleteTarget(*served); !st) log_->warn("tgt: {}", st.error().message());
      }
      continue;
    }
    if (auto st = ApplyTarget(w, served, used_tids, recreated_users, deleted_users, desired, checked, results); !st) {
      for (size_t i : w.shares) {
        if (results[i].status) results[i].status = std::unexpected(st.error().WithContext("share " + desired[i].Id()));
      }
    }
    for (size_t i : w.shares) {
      if (results[i].status) {
        served_ids_[{w.iqn, std::get<IscsiDefinition>(desired[i].definition).lun}] = desired[i].Id();
      }
    }
  }
  return results;
}

Status TgtBackend::ApplyTarget(const WantTarget& want, const TgtTarget* served, const std::set<int>& used_tids,
                               const std::set<std::string>& recreated_users,
                               const std::set<std::string>& deleted_users, const std::vector<Share>& desired,
                               const std::vector<std::optional<sys::RegularFile>>& checked,
                               std::vector<ShareResult>& results) {
  int tid = 0;
  if (served != nullptr) {
    tid = served->tid;
    tids_[want.iqn] = tid;
  } else {
    tid = TidFor(want.iqn, used_tids);
    PK_TRY(Tgtadm(fmt::format("create target {} (tid {})", want.iqn, tid),
                  {"--mode", "target", "--op", "new", "--tid", std::to_string(tid), "--targetname", want.iqn}));
    log_->info("tgt: target {} created (tid {})", want.iqn, tid);
  }
  const std::string t = std::to_string(tid);

  // ACL first, so that a new LUN is never reachable by initiators the old ACL
  // allowed but the new one does not; bind before unbind, so that a change
  // never leaves the target without an ACL (which would refuse everyone).
  std::set<std::string> have_acl;
  if (served != nullptr) have_acl.insert(served->acls.begin(), served->acls.end());
  for (const auto& acl : want.initiators) {
    if (have_acl.contains(acl)) continue;
    PK_TRY(Tgtadm(fmt::format("allow initiator '{}' on target {}", acl, want.iqn),
                  {"--mode", "target", "--op", "bind", "--tid", t,
                   IsInitiatorName(acl) ? "--initiator-name" : "--initiator-address", acl}));
  }
  for (const auto& acl : have_acl) {
    if (std::binary_search(want.initiators.begin(), want.initiators.end(), acl)) continue;
    PK_TRY(Tgtadm(fmt::format("disallow initiator '{}' on target {}", acl, want.iqn),
                  {"--mode", "target", "--op", "unbind", "--tid", t,
                   IsInitiatorName(acl) ? "--initiator-name" : "--initiator-address", acl}));
  }

  // CHAP: bind the wanted account (again if it was recreated), unbind others.
  std::set<std::string> have_users;
  if (served != nullptr) have_users.insert(served->accounts.begin(), served->accounts.end());
  if (!want.chap_user.empty() && (!have_users.contains(want.chap_user) || recreated_users.contains(want.chap_user))) {
    PK_TRY(Tgtadm(fmt::format("bind CHAP account '{}' to target {}", want.chap_user, want.iqn),
                  {"--mode", "account", "--op", "bind", "--tid", t, "--user", want.chap_user}));
  }
  for (const auto& user : have_users) {
    if (user == want.chap_user || deleted_users.contains(user)) continue;
    auto st = Tgtadm(fmt::format("unbind CHAP account '{}' from target {}", user, want.iqn),
                     {"--mode", "account", "--op", "unbind", "--tid", t, "--user", user});
    // An account deleted above is already unbound.
    if (!st && st.error().code() != ErrorCode::kNotFound) return std::unexpected(st.error());
  }
  for (const auto& user : (served != nullptr ? served->outgoing_accounts : std::vector<std::string>{})) {
    auto st = Tgtadm(fmt::format("unbind outgoing account '{}' from target {}", user, want.iqn),
                     {"--mode", "account", "--op", "unbind", "--tid", t, "--user", user, "--outgoing"});
    if (!st && st.error().code() != ErrorCode::kNotFound) return std::unexpected(st.error());
  }

  // LUNs: remove the unwanted, then add or update each wanted one.
  if (served != nullptr) {
    for (const auto& l : served->luns) {
      if (l.lun == 0 || want.luns.contains(l.lun)) continue;
      PK_TRY(DeleteWhileActive(fmt::format("remove LUN {} of target {}", l.lun, want.iqn),
                               {"--mode", "logicalunit", "--op", "delete", "--tid", t, "--lun", std::to_string(l.lun)},
                               *served, [] {}));
      log_->info("tgt: LUN {} of target {} removed", l.lun, want.iqn);
    }
  }
  for (const auto& [lun, index] : want.luns) {
    const Share& share = desired[index];
    const auto& def = std::get<IscsiDefinition>(share.definition);
    const IscsiIdentity id = IdentityFor(share.guid);
    const std::string backing = internal::IscsiBackingPath(share);
    const std::string l = std::to_string(lun);
    const TgtLun* have = nullptr;
    if (served != nullptr) {
      for (const auto& x : served->luns) {
        if (x.lun == lun) have = &x;
      }
    }
    auto apply = [&]() -> Status {
      if (have != nullptr && (have->backing_path != backing || have->backing_type != "rdwr")) {
        PK_TRY(DeleteWhileActive(fmt::format("replace LUN {} of target {} (backing {} -> {})", lun, want.iqn,
                                             have->backing_path, backing),
                                 {"--mode", "logicalunit", "--op", "delete", "--tid", t, "--lun", l}, *served, [] {}));
        have = nullptr;
      }
      if (have == nullptr) {
        // tgtadm only says "invalid request" for a missing backing store.
        auto exists = fs_.Exists(backing);
        if (exists && !*exists) {
          return NotFound(fmt::format("add LUN {} of target {}: backing store '{}' does not exist", lun, want.iqn, backing));
        }
        const std::string what = fmt::format("add LUN {} of target {} (backing {})", lun, want.iqn, backing);
        std::vector<sys::OpenFile> before;
        if (checked[index]) {
          PK_ASSIGN_OR_RETURN(before, TgtdOpenFiles());
        }
        if (options_.before_lun_open) options_.before_lun_open(backing);
        PK_TRY(Tgtadm(what, {"--mode", "logicalunit", "--op", "new", "--tid", t, "--lun", l, "--backing-store", backing,
                             "--bstype", "rdwr"}));
        // tgtd opened the file by path, as root: what it holds must be the
        // file checked above, not what a client of the dataset swapped in
        // since (issue 17 item 4). Otherwise the LU goes before anyone logs in.
        if (checked[index]) {
          if (auto st = CheckOpenedBacking(what, backing, *checked[index], before); !st) {
            // tgtadm has no --force for a LU; a target with sessions needs them closed.
            const std::string again = fmt::format("remove LUN {} of target {} again", lun, want.iqn);
            const std::vector<std::string> del = {"--mode", "logicalunit", "--op", "delete", "--tid", t, "--lun", l};
            Status gone = OkStatus();
            if (served != nullptr) {
              gone = DeleteWhileActive(again, del, *served, [] {});
            } else if (auto r = Tgtadm(again, del); !r) {
              gone = std::unexpected(r.error());
            }
            if (!gone) {
              log_->error("tgt: {}; {}", st.error().message(), gone.error().message());
              return std::unexpected(st.error().WithContext(gone.error().message() + "; still served"));
            }
            return st;
          }
        }
      }
      if (have == nullptr || have->scsi_id != id.scsi_id || have->scsi_sn != id.serial ||
          have->readonly != def.read_only) {
        PK_TRY(Tgtadm(fmt::format("set identity of LUN {} of target {}", lun, want.iqn),
                      {"--mode", "logicalunit", "--op", "update", "--tid", t, "--lun", l, "--params",
                       fmt::format("scsi_id={},scsi_sn={},readonly={}", id.scsi_id, id.serial,
                                   def.read_only ? 1 : 0)}));
      }
      return OkStatus();
    };
    if (auto st = apply(); !st) results[index].status = std::unexpected(st.error().WithContext("share " + share.Id()));
  }
  return OkStatus();
}

Result<std::vector<sys::OpenFile>> TgtBackend::TgtdOpenFiles() {
  if (options_.tgtd_open_files) return options_.tgtd_open_files();
  pid_t pid = 0;
  if (daemon_) {
    pid = daemon_->pid();
  } else {
    // An adopted tgtd: the process at the other end of its management socket.
    const std::string path = fmt::format("/var/run/tgtd/socket.{}", options_.control_port);
    UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ucred peer{};
    socklen_t len = sizeof(peer);
    if (!socket.valid() || ::connect(socket.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockopt(socket.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
      return Unavailable(fmt::format("find the pid of the tgtd on control port {} ({}): {}", options_.control_port, path,
                                     std::strerror(errno)));
    }
    pid = peer.pid;
  }
  auto files = sys::OpenFilesOf(pid);
  if (!files) return std::unexpected(files.error().WithContext(fmt::format("files tgtd (pid {}) holds", pid)));
  return files;
}

Status TgtBackend::CheckOpenedBacking(const std::string& what, const std::string& backing, const sys::RegularFile& checked,
                                      const std::vector<sys::OpenFile>& before) {
  PK_ASSIGN_OR_RETURN(auto after, TgtdOpenFiles());
  std::vector<sys::OpenFile> opened;
  for (const auto& f : after) {
    if (std::find(before.begin(), before.end(), f) == before.end()) opened.push_back(f);
  }
  auto is_checked = [&](const sys::OpenFile& f) { return f.device == checked.device && f.inode == checked.inode; };
  if (!opened.empty() && std::all_of(opened.begin(), opened.end(), is_checked)) return OkStatus();
  std::string held = opened.empty() ? std::string("no new file")
                                    : fmt::format("device {} inode {}", opened.front().device, opened.front().inode);
  return FailedPrecondition(fmt::format(
      "{}: '{}' was replaced between its check and tgtd's open (tgtd holds {}, the checked file is device {} inode {}); "
      "the LUN is not served",
      what, backing, held, checked.device, checked.inode));
}

Status CheckOptions(const TgtOptions& o) {
  for (const auto* p : {&o.tgtd_path, &o.tgtadm_path, &o.runtime_dir}) {
    if (!p->starts_with('/')) return InvalidArgument(fmt::format("tgt options: path '{}' is not absolute", *p));
  }
  if (o.control_port < 1 || o.control_port > 1023) {
    return InvalidArgument(fmt::format("tgt options: control port {} is not in 1..1023", o.control_port));
  }
  if (!internal::IsIscsiPortal(o.portal)) {
    return InvalidArgument(fmt::format("tgt options: portal '{}' is not IPV4:PORT or [IPV6]:PORT", o.portal));
  }
  if (o.command_timeout.count() <= 0 || o.start_timeout.count() <= 0) {
    return InvalidArgument("tgt options: timeouts must be positive");
  }
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<Backend>> MakeTgtBackend(TgtOptions options, sys::ProcessRunner& runner,
                                                sys::DaemonLauncher& launcher, sys::FileSystem& fs) {
  PK_TRY(CheckOptions(options));
  auto backend = std::make_unique<TgtBackend>(std::move(options), runner, launcher, fs);
  backend->AdoptLeftOver();
  return backend;
}

Status TgtNewAccount(int control_port, const std::string& user, const std::string& secret,
                     std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("create CHAP account '{}' in tgtd (control port {})", user, control_port);
  if (user.find_first_of(",=") != std::string::npos || secret.find(',') != std::string::npos ||
      user.find('\0') != std::string::npos || secret.find('\0') != std::string::npos) {
    return InvalidArgument(fmt::format("{}: tgt cannot hold ',' in a CHAP user or secret", what));
  }
  // tgt 1.0.x usr/tgtadm.h struct tgtadm_req (natural alignment, x86_64).
  struct Request {
    uint32_t mode;  // MODE_ACCOUNT = 7
    uint32_t op;    // OP_NEW = 0
    char lld[64];
    uint32_t len;   // header + body
    int32_t tid;
    uint64_t sid;
    uint64_t lun;
    uint32_t cid;
    uint32_t host_no;
    uint32_t device_type;
    uint32_t ac_dir;  // ACCOUNT_TYPE_INCOMING = 0
    uint32_t pack;
    uint32_t force;
  };
  static_assert(sizeof(Request) == 120, "tgtadm_req is 120 bytes");
  struct Response {
    uint32_t err;
    uint32_t len;
  };
  std::string body = "user=" + user + ",password=" + secret;
  body.push_back('\0');
  Request req{};
  req.mode = 7;
  req.op = 0;
  std::memcpy(req.lld, "iscsi", 5);
  req.len = static_cast<uint32_t>(sizeof(Request) + body.size());
  req.tid = -1;
  req.lun = ~0ULL;
  std::string packet(reinterpret_cast<const char*>(&req), sizeof(req));
  packet += body;

  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket.valid()) return Internal(fmt::format("{}: socket: {}", what, std::strerror(errno)));
  const int fd = socket.get();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = fmt::format("/var/run/tgtd/socket.{}", control_port);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Unavailable(fmt::format("{}: connect {}: {}", what, path, std::strerror(errno)));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait = [&](short events) -> Status {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{.fd = fd, .events = events, .revents = 0};
    int n = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
    if (n == 0) return DeadlineExceeded(fmt::format("{}: tgtd did not answer within {} ms", what, timeout.count()));
    if (n < 0 && errno != EINTR) return Unavailable(fmt::format("{}: poll: {}", what, std::strerror(errno)));
    return OkStatus();
  };
  for (size_t sent = 0; sent < packet.size();) {
    PK_TRY(wait(POLLOUT));
    ssize_t n = ::send(fd, packet.data() + sent, packet.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Unavailable(fmt::format("{}: send: {}", what, std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  // The answer: {err, len}, then len - 8 bytes of text (none for a new account).
  std::string answer;
  size_t want = sizeof(Response);
  while (answer.size() < want) {
    PK_TRY(wait(POLLIN));
    char buf[512];
    ssize_t n = ::recv(fd, buf, std::min(sizeof(buf), want - answer.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Unavailable(fmt::format("{}: recv: {}", what, std::strerror(errno)));
    if (n == 0) return Unavailable(fmt::format("{}: tgtd closed the connection", what));
    answer.append(buf, static_cast<size_t>(n));
    if (answer.size() == sizeof(Response)) {
      Response rsp{};
      std::memcpy(&rsp, answer.data(), sizeof(rsp));
      if (rsp.len > sizeof(Response) && rsp.len < (1u << 20)) want = rsp.len;
    }
  }
  Response rsp{};
  std::memcpy(&rsp, answer.data(), sizeof(rsp));
  if (rsp.err != 0) {
    // tgtadm_error.h: 11 is TGTADM_USER_EXIST.
    if (rsp.err == 11) return AlreadyExists(fmt::format("{}: user already exists", what));
    return FailedPrecondition(fmt::format("{}: tgtd refused it (tgtadm error {})", what, rsp.err));
  }
  return OkStatus();
}

std::string TgtNaaFor(const std::string& scsi_id) {
  // tgt usr/spc.c update_vpd_83: each character shifted in as one nibble.
  uint64_t hi = 0, lo = 0;
  for (char c : scsi_id) {
    int v = 0;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    hi = (hi << 4) | (lo >> 60);
    lo = (lo << 4) | static_cast<uint64_t>(v);
  }
  hi = (hi & 0x0FFF'FFFF'FFFF'FFFFull) | 0x6000'0000'0000'0000ull;
  return fmt::format("0x{:016x}{:016x}", hi, lo);
}

Result<std::vector<TgtTarget>> ParseTgtTargets(const std::string& text) {
  enum class Section { kNone, kSystem, kNexus, kLuns, kAccounts, kAcls };
  std::vector<TgtTarget> targets;
  Section section = Section::kNone;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line = std::string_view(text).substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    ++line_no;
    std::string content(Trim(line));
    if (content.empty()) continue;
    auto bad = [&](std::string_view why) {
      return InvalidArgument(fmt::format("parse tgtadm target list: line {} '{}': {}", line_no, content, why));
    };
    size_t indent = line.find_first_not_of(' ');
    if (indent == 0) {
      if (!content.starts_with("Target ")) return bad("expected 'Target N: IQN'");
      size_t colon = content.find(": ");
      auto tid = colon == std::string::npos ? std::nullopt : ParseInt(std::string_view(content).substr(7, colon - 7));
      if (!tid) return bad("expected 'Target N: IQN'");
      targets.push_back({.tid = *tid, .iqn = content.substr(colon + 2)});
      section = Section::kNone;
      continue;
    }
    if (targets.empty()) return bad("outside a target");
    TgtTarget& t = targets.back();
    if (indent == 4) {
      if (content == "System information:") section = Section::kSystem;
      else if (content == "I_T nexus information:") section = Section::kNexus;
      else if (content == "LUN information:") section = Section::kLuns;
      else if (content == "Account information:") section = Section::kAccounts;
      else if (content == "ACL information:") section = Section::kAcls;
      else return bad("unknown section");
      continue;
    }
    auto field = [&](std::string_view key) -> std::optional<std::string> {
      if (!content.starts_with(key) || content.size() < key.size() + 1 || content[key.size()] != ':') return std::nullopt;
      return std::string(Trim(std::string_view(content).substr(key.size() + 1)));
    };
    if (indent == 8) {
      switch (section) {
        case Section::kLuns: {
          auto v = field("LUN");
          auto lun = v ? ParseInt(*v) : std::nullopt;
          if (!lun) return bad("expected 'LUN: N'");
          t.luns.push_back({.lun = *lun});
          break;
        }
        case Section::kNexus:
          if (auto v = field("I_T nexus")) {
            auto sid = ParseInt(*v);
            if (!sid) return bad("expected 'I_T nexus: N'");
            ++t.sessions;
            t.nexuses.push_back({.sid = *sid});
          }
          break;
        case Section::kAccounts:
          if (content.ends_with(" (outgoing)")) {
            t.outgoing_accounts.push_back(content.substr(0, content.size() - 11));
          } else {
            t.accounts.push_back(content);
          }
          break;
        case Section::kAcls:
          t.acls.push_back(content);
          break;
        case Section::kSystem:
          break;
        case Section::kNone:
          return bad("outside a section");
      }
      continue;
    }
    if (section == Section::kNexus) {
      if (indent != 12 || t.nexuses.empty()) continue;
      if (auto v = field("Initiator")) t.nexuses.back().initiator = *v;
      if (auto v = field("Connection")) {
        auto cid = ParseInt(*v);
        if (!cid) return bad("expected 'Connection: N'");
        t.nexuses.back().connections.push_back(*cid);
      }
      continue;
    }
    if (section == Section::kLuns) {
      if (indent != 12) continue;
      if (t.luns.empty()) return bad("LUN field before 'LUN: N'");
      TgtLun& l = t.luns.back();
      if (auto v = field("Type")) l.type = *v;
      else if (auto v = field("SCSI ID")) l.scsi_id = *v;
      else if (auto v = field("SCSI SN")) l.scsi_sn = *v;
      else if (auto v = field("Readonly")) l.readonly = *v == "Yes";
      else if (auto v = field("Backing store type")) l.backing_type = *v;
      else if (auto v = field("Backing store path")) l.backing_path = *v;
    }
  }
  return targets;
}

}  // namespace pk::share
