#include "share/internal/iscsi_targets.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace pk::share::internal {
namespace {

std::vector<std::string> SortedInitiators(const IscsiDefinition& def) {
  std::vector<std::string> out;
  for (const auto& i : def.initiators) out.push_back(i.text);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::vector<ShareResult> OkResults(const std::vector<Share>& desired) {
  std::vector<ShareResult> results;
  results.reserve(desired.size());
  for (const auto& s : desired) results.push_back({s.Id(), OkStatus()});
  return results;
}

void FailRemaining(std::vector<ShareResult>& results, const Error& error) {
  for (auto& r : results) {
    if (r.status) r.status = std::unexpected(error);
  }
}

std::vector<std::optional<sys::RegularFile>> CheckIscsiBackingFiles(const std::vector<Share>& desired,
                                                                    std::vector<ShareResult>& results,
                                                                    const sys::RegularFileCheck& check) {
  std::vector<std::optional<sys::RegularFile>> checked(desired.size());
  for (size_t i = 0; i < desired.size(); ++i) {
    const auto* def = std::get_if<IscsiDefinition>(&desired[i].definition);
    if (def == nullptr || desired[i].volume || !results[i].status) continue;
    if (auto file = check ? check(desired[i].path, def->file) : sys::StatRegularBeneath(desired[i].path, def->file); !file) {
      results[i].status = std::unexpected(file.error().WithContext(fmt::format("share {}: LUN file", desired[i].Id())));
    } else {
      checked[i] = *file;
    }
  }
  return checked;
}

std::vector<IscsiTargetPlan> PlanIscsiTargets(const std::vector<Share>& desired, std::vector<ShareResult>& results) {
  std::vector<IscsiTargetPlan> plans;
  std::map<std::string, size_t> plan_of;
  for (size_t i = 0; i < desired.size(); ++i) {
    if (!results[i].status) continue;  // failed before planning (its LUN file, say)
    const auto* def = std::get_if<IscsiDefinition>(&desired[i].definition);
    if (def == nullptr) {
      results[i].status = InvalidArgument(fmt::format("share {}: not an iSCSI share", desired[i].Id()));
      continue;
    }
    auto [it, fresh] = plan_of.try_emplace(def->iqn.str(), plans.size());
    if (fresh) {
      plans.push_back({.iqn = def->iqn.str(), .initiators = SortedInitiators(*def), .chap_user = def->chap_user,
                       .chap_secret = def->chap_secret});
    }
    IscsiTargetPlan& p = plans[it->second];
    if (!fresh && !p.shares.empty()) {
      const Share& first = desired[p.shares.front()];
      if (SortedInitiators(*def) != p.initiators) {
        results[i].status = FailedPrecondition(fmt::format(
            "share {}: target {} is served with the initiator ACL of {}; the shares of one target need the same "
            "initiators",
            desired[i].Id(), p.iqn, first.Id()));
        continue;
      }
      if (def->chap_user != p.chap_user || def->chap_secret != p.chap_secret) {
        results[i].status = FailedPrecondition(
            fmt::format("share {}: target {} is served with the CHAP account of {}; the shares of one target need "
                        "the same CHAP user and secret",
                        desired[i].Id(), p.iqn, first.Id()));
        continue;
      }
    }
    if (auto l = p.luns.find(def->lun); l != p.luns.end()) {
      results[i].status = FailedPrecondition(fmt::format("share {}: LUN {} of target {} is already share {}",
                                                         desired[i].Id(), def->lun, p.iqn, desired[l->second].Id()));
      continue;
    }
    p.shares.push_back(i);
    p.luns[def->lun] = i;
  }
  return plans;
}

void FailPlan(IscsiTargetPlan& plan, const std::vector<Share>& desired, std::vector<ShareResult>& results,
              const Error& error) {
  for (size_t i : plan.shares) {
    if (results[i].status) results[i].status = std::unexpected(error.WithContext("share " + desired[i].Id()));
  }
  plan.shares.clear();
  plan.luns.clear();
}

bool IsIscsiPortal(const std::string& portal) {
  size_t colon = portal.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = portal.substr(0, colon);
  int port = 0;
  auto [p, ec] = std::from_chars(portal.data() + colon + 1, portal.data() + portal.size(), port);
  if (ec != std::errc() || p != portal.data() + portal.size()) return false;
  bool host_ok = !host.empty() && (host.front() == '[' ? host.back() == ']'
                                                        : host.find_first_not_of("0123456789.") == std::string::npos);
  return host_ok && port >= 1 && port <= 65535;
}

std::string IscsiBackingPath(const Share& share) {
  const auto& def = std::get<IscsiDefinition>(share.definition);
  return share.volume ? share.path : share.path + "/" + def.file;
}

}  // namespace pk::share::internal
