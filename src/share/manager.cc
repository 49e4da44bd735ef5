#include "share/manager.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "base/log.h"
#include "base/text.h"
#include "sys/beneath.h"

namespace pk::share {
namespace {

using nlohmann::json;

std::vector<std::string> ShareProperties() {
  std::vector<std::string> props = {"guid", "mountpoint", "mounted"};
  for (Protocol p : kAllProtocols) props.emplace_back(PropertyFor(p));
  return props;
}

std::string PoolOf(const std::string& dataset) { return dataset.substr(0, dataset.find('/')); }

// Whether `candidate` may be served beside `others` (shares of other datasets).
Status CheckCollisions(const Share& candidate, const std::vector<Share>& others) {
  for (const Share& other : others) {
    if (other.protocol() != candidate.protocol() || other.dataset == candidate.dataset) continue;
    if (const auto* mine = std::get_if<IscsiDefinition>(&candidate.definition)) {
      const auto& theirs = std::get<IscsiDefinition>(other.definition);
      if (mine->iqn != theirs.iqn) continue;
      if (mine->lun == theirs.lun) {
        return AlreadyExists(fmt::format("LUN {} of target {} is already used by dataset '{}'", mine->lun,
                                         mine->iqn.str(), other.dataset));
      }
      if (mine->chap_user != theirs.chap_user || mine->chap_secret != theirs.chap_secret ||
          mine->initiators != theirs.initiators) {
        return FailedPrecondition(fmt::format(
            "target {} also serves dataset '{}' with other CHAP or initiator settings: a target has one set, give both the same",
            mine->iqn.str(), other.dataset));
      }
    } else if (const auto* smb = std::get_if<SmbDefinition>(&candidate.definition)) {
      const auto& theirs = std::get<SmbDefinition>(other.definition);
      if (Lower(smb->name) == Lower(theirs.name)) {
        return AlreadyExists(fmt::format("SMB share name '{}' is already used by dataset '{}'", smb->name, other.dataset));
      }
    } else {
      const auto& nfs = std::get<NfsDefinition>(candidate.definition);
      const auto& theirs = std::get<NfsDefinition>(other.definition);
      if (nfs.pseudo == theirs.pseudo) {
        return AlreadyExists(fmt::format("NFS pseudo path '{}' is already used by dataset '{}'", nfs.pseudo, other.dataset));
      }
    }
  }
  return OkStatus();
}

}  // namespace

std::string_view ShareStateName(ShareState state) {
  switch (state) {
    case ShareState::kServing: return "serving";
    case ShareState::kFailed: return "failed";
    case ShareState::kInvalid: return "invalid";
    case ShareState::kNotServed: return "not-served";
    case ShareState::kHeld: return "held";
  }
  return "?";
}

std::string ShareView::Id() const { return fmt::format("{}:{}", ProtocolName(protocol), dataset); }

json ShareView::ToJson() const {
  json j = {{"id", Id()},       {"protocol", ProtocolName(protocol)}, {"dataset", dataset},
            {"pool", pool},     {"path", path},                       {"state", ShareStateName(state)},
            {"reason", reason}, {"definition", nullptr}};
  if (definition) j["definition"] = RedactedJson(*definition);
  // issue 17 item 8: the default (every initiator, no CHAP) stays, and says so.
  j["warnings"] = json::array();
  if (const auto* iscsi = definition ? std::get_if<IscsiDefinition>(&*definition) : nullptr;
      iscsi != nullptr && iscsi->chap_user.empty() &&
      std::any_of(iscsi->initiators.begin(), iscsi->initiators.end(), [](const auto& i) { return i.text == "ALL"; })) {
    j["warnings"].push_back(fmt::format(
        "the LUN of '{}' is open to everyone: any initiator that reaches the portal may log in, read and write "
        "(no --initiator and no CHAP); restrict it with --initiator or --chap-user",
        dataset));
  }
  if (protocol == Protocol::kIscsi && guid != 0) {
    IscsiIdentity id = IdentityFor(guid);
    j["identity"] = {{"serial", id.serial}, {"naa", id.naa}, {"naa_lio", id.naa_lio}, {"scsi_id", id.scsi_id}};
  }
  return j;
}

ShareManager::ShareManager(zfs::Zfs& zfs, sys::FileSystem& fs, std::vector<std::unique_ptr<Backend>> backends,
                           ShareManagerOptions options)
    : zfs_(zfs), fs_(fs), options_(std::move(options)) {
  for (auto& b : backends) {
    Protocol p = b->protocol();
    backends_[p] = std::move(b);
  }
}

ShareManager::~ShareManager() { Shutdown(); }

void ShareManager::Shutdown() {
  std::lock_guard lock(mu_);
  for (auto& [protocol, backend] : backends_) {
    if (auto stopped = backend->Stop(); !stopped) {
      GetLogger("share")->error("protocol={} stop: {}", ProtocolName(protocol), stopped.error().message());
    }
  }
  served_.clear();
}

Result<ShareManager::PoolShares> ShareManager::ReadShares(const std::string& root, zfs::Recursive recursive) {
  zfs::ListOptions q;
  q.root = root;
  q.recursive = recursive;
  q.properties = ShareProperties();
  PK_ASSIGN_OR_RETURN(auto datasets, zfs_.ListDatasets(q));
  PoolShares out;
  for (const auto& d : datasets) {
    auto name = zfs::DatasetName::Parse(d.name);
    if (!name) continue;
    for (Protocol p : kAllProtocols) {
      auto it = d.properties.find(std::string(PropertyFor(p)));
      if (it == d.properties.end()) continue;
      // Only a share defined on this dataset: a child inherits the property's
      // value, but shares only what it defines itself.
      if (it->second.source != zfs::PropertySource::kLocal && it->second.source != zfs::PropertySource::kReceived) continue;
      ShareView view;
      view.protocol = p;
      view.dataset = d.name;
      view.pool = PoolOf(d.name);
      // A received definition came with a stream from elsewhere (issue 17
      // item 6): listed, never served; defining the share here replaces it.
      if (it->second.source == zfs::PropertySource::kReceived) {
        view.state = ShareState::kInvalid;
        view.reason = fmt::format("received with zfs receive: never served (define the share on '{}' here to serve it)", d.name);
        out.invalid.push_back(std::move(view));
        continue;
      }
      auto decoded = Decode(p, it->second.value, *name);
      if (!decoded) {
        view.state = ShareState::kInvalid;
        view.reason = decoded.error().message();
        out.invalid.push_back(std::move(view));
        continue;
      }
      auto share = Prepare(d, std::move(*decoded));
      if (!share) {
        view.state = ShareState::kFailed;
        view.reason = share.error().message();
        out.invalid.push_back(std::move(view));
        continue;
      }
      out.valid.push_back(std::move(*share));
    }
  }
  return out;
}

Result<Share> ShareManager::Prepare(const zfs::Dataset& d, Definition definition) {
  Share s;
  s.dataset = d.name;
  s.pool = PoolOf(d.name);
  s.volume = d.type == zfs::DatasetType::kVolume;
  s.definition = std::move(definition);
  const std::string guid = d.Get("guid");
  auto [end, ec] = std::from_chars(guid.data(), guid.data() + guid.size(), s.guid);
  if (ec != std::errc() || end != guid.data() + guid.size()) {
    return Internal(fmt::format("dataset '{}': unreadable guid '{}'", d.name, guid));
  }
  if (s.volume) {
    if (s.protocol() != Protocol::kIscsi) {
      return InvalidArgument(fmt::format("'{}' is a volume: only iSCSI can share a volume", d.name));
    }
    s.path = "/dev/zvol/" + d.name;
    return s;
  }
  const std::string mountpoint = d.Get("mountpoint");
  if (!mountpoint.starts_with('/')) {
    return FailedPrecondition(fmt::format("filesystem '{}' has mountpoint '{}': a share needs a mounted filesystem", d.name, mountpoint));
  }
  if (d.Get("mounted") != "yes") {
    return FailedPrecondition(fmt::format("filesystem '{}' is not mounted (at {})", d.name, mountpoint));
  }
  s.path = mountpoint;
  return s;
}

std::vector<Share> ShareManager::ServedExcept(const std::string& dataset, Protocol protocol) const {
  std::vector<Share> out;
  for (const auto& [pool, shares] : served_) {
    for (const auto& s : shares.valid) {
      if (s.dataset != dataset || s.protocol() != protocol) out.push_back(s);
    }
  }
  return out;
}

void ShareManager::SetOutcome(const std::string& id, ShareState state, std::string reason) {
  Outcome& o = outcomes_[id];
  if (o.state == state && o.reason == reason) return;
  o.state = state;
  o.reason = std::move(reason);
  GetLogger("share")->info("share={} state={} reason={}", id, ShareStateName(state), o.reason);
  if (options_.on_event) options_.on_event("share:" + id, std::string(ShareStateName(state)), o.reason);
}

void ShareManager::HoldUntilSettled() {
  std::lock_guard lock(mu_);
  held_ = true;
}

void ShareManager::Settle() {
  std::lock_guard lock(mu_);
  if (!held_) return;
  held_ = false;
  for (Protocol p : kAllProtocols) Reconcile(p);
}

void ShareManager::Reconcile(Protocol protocol) {
  // After a crash the adopted servers keep serving what they served: a
  // reconcile now would see only the pools served so far and withdraw the
  // others' targets and exports under their clients (issue 18).
  if (held_) return;
  std::vector<Share> desired;
  for (const auto& [pool, shares] : served_) {
    for (const auto& s : shares.valid) {
      if (s.protocol() == protocol) desired.push_back(s);
    }
  }
  auto backend = backends_.find(protocol);
  if (backend == backends_.end()) {
    for (const auto& s : desired) {
      SetOutcome(s.Id(), ShareState::kFailed, fmt::format("no {} server is configured on this head", ProtocolName(protocol)));
    }
  } else {
    auto results = backend->second->Reconcile(desired);
    for (size_t i = 0; i < desired.size(); ++i) {
      const Status& st = i < results.size() ? results[i].status : Status(Internal("the backend gave no result"));
      if (st) {
        SetOutcome(desired[i].Id(), ShareState::kServing, "served");
      } else {
        SetOutcome(desired[i].Id(), ShareState::kFailed, st.error().message());
      }
    }
  }
  for (const auto& [pool, shares] : served_) Report(pool);
}

void ShareManager::Report(const std::string& pool) {
  if (options_.on_pool_shares) options_.on_pool_shares(pool, Problems(pool));
}

std::vector<std::string> ShareManager::Problems(const std::string& pool) const {
  std::vector<std::string> problems;
  auto it = served_.find(pool);
  if (it != served_.end()) {
    for (const auto& v : it->second.invalid) problems.push_back(fmt::format("{}: {}", v.Id(), v.reason));
    for (const auto& s : it->second.valid) {
      auto o = outcomes_.find(s.Id());
      if (o != outcomes_.end() && o->second.state == ShareState::kFailed) {
        problems.push_back(fmt::format("{}: {}", s.Id(), o->second.reason));
      }
    }
  }
  return problems;
}

Result<std::vector<std::string>> ShareManager::ServePool(const zfs::PoolName& pool) {
  std::lock_guard lock(mu_);
  return ServeLocked(pool);
}

Status ShareManager::LoadSecret(const std::string& pool, Definition& definition) {
  auto* iscsi = std::get_if<IscsiDefinition>(&definition);
  if (iscsi == nullptr || iscsi->chap_secret_ref.empty() || !iscsi->chap_secret.empty()) return OkStatus();
  auto pool_name = zfs::PoolName::Parse(pool);
  if (!pool_name) return std::unexpected(pool_name.error());
  PK_ASSIGN_OR_RETURN(iscsi->chap_secret, secrets_.Get(*pool_name, iscsi->chap_secret_ref));
  return OkStatus();
}

void ShareManager::LoadSecrets(const zfs::PoolName& pool, PoolShares& shares) {
  std::optional<Result<std::map<std::string, std::string>>> stored;  // read on first need
  std::vector<Share> loaded;
  for (auto& share : shares.valid) {
    auto* iscsi = std::get_if<IscsiDefinition>(&share.definition);
    if (iscsi != nullptr && !iscsi->chap_secret_ref.empty() && iscsi->chap_secret.empty()) {
      if (!stored) stored = secrets_.GetAll(pool);
      auto secret = *stored ? ChapSecretStore::Find(**stored, pool, iscsi->chap_secret_ref)
                            : Result<std::string>(std::unexpected(stored->error()));
      if (!secret) {
        ShareView v = ViewOf(share);
        v.state = ShareState::kFailed;
        v.reason = secret.error().WithContext(fmt::format("iscsi share of '{}'", share.dataset)).message();
        shares.invalid.push_back(std::move(v));
        continue;
      }
      iscsi->chap_secret = std::move(*secret);
    }
    loaded.push_back(std::move(share));
  }
  shares.valid = std::move(loaded);
}

Result<std::function<void()>> ShareManager::StoreSecret(Share& share) {
  auto* iscsi = std::get_if<IscsiDefinition>(&share.definition);
  std::function<void()> nothing = [] {};
  if (iscsi == nullptr || iscsi->chap_secret.empty() || !iscsi->chap_secret_ref.empty()) return nothing;
  auto pool = zfs::PoolName::Parse(share.pool);
  if (!pool) return std::unexpected(pool.error());
  const std::string key = ChapSecretStore::KeyFor(share.guid);
  auto previous = secrets_.Get(*pool, key);
  PK_TRY_CONTEXT(secrets_.Put(*pool, key, iscsi->chap_secret), fmt::format("store the CHAP secret of share {}", share.Id()));
  iscsi->chap_secret_ref = key;
  return std::function<void()>([this, pool = *pool, key, previous] {
    auto st = previous ? secrets_.Put(pool, key, *previous) : secrets_.Remove(pool, key);
    if (!st) GetLogger("share")->error("pool={} restore CHAP secret '{}': {}", pool.str(), key, st.error().message());
  });
}

void ShareManager::MoveSecretsOutOfProperties(std::vector<Share>& shares) {
  for (auto& share : shares) {
    auto* iscsi = std::get_if<IscsiDefinition>(&share.definition);
    if (iscsi == nullptr || iscsi->chap_secret.empty() || !iscsi->chap_secret_ref.empty()) continue;
    auto undo = StoreSecret(share);
    auto prop = zfs::PropertyName::Parse(PropertyFor(Protocol::kIscsi));
    Status st = undo ? zfs_.SetProperties(share.dataset, {zfs::PropertyAssignment{*prop, Encode(share.definition)}})
                     : Status(std::unexpected(undo.error()));
    if (!st) {
      // Served all the same (the secret is still where it was); tried again at the next serve.
      if (undo) (*undo)();
      iscsi->chap_secret_ref.clear();
      GetLogger("share")->error("share={} move the CHAP secret out of its property: {}", share.Id(), st.error().message());
      continue;
    }
    auto pool = zfs::PoolName::Parse(share.pool);  // parsed by StoreSecret: it succeeded
    GetLogger("share")->warn("share={} the CHAP secret was moved out of property {} into the pool's root-only store {} "
                             "(the pool's history keeps the old value: change the secret)",
                             share.Id(), PropertyFor(Protocol::kIscsi),
                             pool ? ChapSecretStore::DatasetOf(*pool) : "of pool '" + share.pool + "'");
  }
}

Result<std::vector<std::string>> ShareManager::ServeLocked(const zfs::PoolName& pool) {
  PK_ASSIGN_OR_RETURN(PoolShares shares, ReadShares(pool.str(), zfs::Recursive::kYes));
  if (auto held = Held(pool.str())) {
    for (const auto& s : shares.valid) {
      ShareView v = ViewOf(s);
      v.state = ShareState::kHeld;
      v.reason = *held;
      shares.invalid.push_back(std::move(v));
    }
    shares.valid.clear();
  }
  MoveSecretsOutOfProperties(shares.valid);
  LoadSecrets(pool, shares);
  // A share colliding with one already served (by another pool, or earlier
  // in this one) is not served: first come, first served.
  served_.erase(pool.str());
  std::vector<Share> others = ServedExcept("", Protocol::kIscsi);  // "" excepts nothing: every served share
  std::set<Protocol> touched;
  PoolShares accepted;
  accepted.invalid = std::move(shares.invalid);
  for (auto& s : shares.valid) {
    touched.insert(s.protocol());
    if (auto ok = CheckCollisions(s, others); !ok) {
      ShareView v = ViewOf(s);
      v.state = ShareState::kFailed;
      v.reason = ok.error().message();
      accepted.invalid.push_back(std::move(v));
      continue;
    }
    others.push_back(s);
    accepted.valid.push_back(std::move(s));
  }
  for (const auto& v : accepted.invalid) SetOutcome(v.Id(), v.state, v.reason);
  // Protocols the pool served before this call also need a reconcile.
  for (const auto& [id, outcome] : outcomes_) {
    size_t colon = id.find(':');
    if (PoolOf(id.substr(colon + 1)) == pool.str()) touched.insert(*ParseProtocol(id.substr(0, colon)));
  }
  served_[pool.str()] = std::move(accepted);
  // Each reconcile reports every served pool; a pool without shares is reported here.
  for (Protocol p : touched) Reconcile(p);
  if (touched.empty()) Report(pool.str());
  return Problems(pool.str());
}

Status ShareManager::UnservePool(const zfs::PoolName& pool) {
  std::lock_guard lock(mu_);
  auto it = served_.find(pool.str());
  if (it == served_.end()) return OkStatus();
  std::set<Protocol> touched;
  for (const auto& s : it->second.valid) touched.insert(s.protocol());
  std::vector<std::string> ids;
  for (const auto& s : it->second.valid) ids.push_back(s.Id());
  for (const auto& v : it->second.invalid) ids.push_back(v.Id());
  served_.erase(it);
  std::string failures;
  for (Protocol p : touched) {
    Reconcile(p);
    // What the server still serves of this pool means the removal failed.
    if (auto b = backends_.find(p); b != backends_.end()) {
      auto served = b->second->Served();
      if (!served) {
        failures += fmt::format("{}: {}; ", ProtocolName(p), served.error().message());
        continue;
      }
      for (const auto& id : *served) {
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) failures += fmt::format("{} is still served; ", id);
      }
    }
  }
  for (const auto& id : ids) {
    SetOutcome(id, ShareState::kNotServed, fmt::format("pool '{}' is no longer served here", pool.str()));
    outcomes_.erase(id);
  }
  if (!failures.empty()) return Internal(fmt::format("stop serving the shares of pool '{}': {}", pool.str(), failures));
  return OkStatus();
}

std::optional<std::string> ShareManager::Held(const std::string& pool) const {
  if (!options_.held) return std::nullopt;
  return options_.held(pool);
}

Status ShareManager::CheckNotHeld(const zfs::DatasetName& dataset, Protocol protocol) const {
  if (auto held = Held(dataset.pool().str())) {
    return FailedPrecondition(fmt::format("{} share of '{}': pool '{}' is {}", ProtocolName(protocol), dataset.str(),
                                          dataset.pool().str(), *held));
  }
  return OkStatus();
}

ShareView ShareManager::ViewOf(const Share& share) const {
  ShareView v;
  v.protocol = share.protocol();
  v.dataset = share.dataset;
  v.pool = share.pool;
  v.definition = share.definition;
  v.guid = share.guid;
  v.path = share.path;
  v.volume = share.volume;
  auto o = outcomes_.find(share.Id());
  if (o != outcomes_.end()) {
    v.state = o->second.state;
    v.reason = o->second.reason;
  } else {
    v.reason = fmt::format("pool '{}' is not served on this head", share.pool);
  }
  return v;
}

Result<zfs::Dataset> ShareManager::ReadDataset(const zfs::DatasetName& dataset) {
  PK_ASSIGN_OR_RETURN(auto pools, zfs_.ListPools());
  const std::string pool = dataset.pool().str();
  if (std::none_of(pools.begin(), pools.end(), [&](const auto& p) { return p.name == pool; })) {
    return FailedPrecondition(fmt::format("dataset '{}': pool '{}' is not imported on this head", dataset.str(), pool));
  }
  auto d = zfs_.GetDataset(dataset.str(), ShareProperties());
  if (!d) {
    if (d.error().code() == ErrorCode::kNotFound || d.error().message().find("does not exist") != std::string::npos) {
      return NotFound(fmt::format("dataset '{}' does not exist", dataset.str()));
    }
    return std::unexpected(d.error());
  }
  return d;
}

Result<ShareView> ShareManager::Commit(const Share& share, const std::string& created_file) {
  std::string value = Encode(share.definition);
  auto undo = [&] {
    if (!created_file.empty()) (void)fs_.Remove(created_file);
  };
  auto dataset = zfs::DatasetName::Parse(share.dataset);  // checked before anything is set
  if (!dataset) {
    undo();
    return std::unexpected(dataset.error().WithContext(fmt::format("{} share", ProtocolName(share.protocol()))));
  }
  if (value.size() > kMaxPropertyBytes) {
    undo();
    return InvalidArgument(fmt::format("{} share of '{}': the definition takes {} bytes, more than the {} a property may hold",
                                       ProtocolName(share.protocol()), share.dataset, value.size(), kMaxPropertyBytes));
  }
  auto prop = zfs::PropertyName::Parse(PropertyFor(share.protocol()));
  zfs::PropertyList props = {zfs::PropertyAssignment{*prop, value}};
  if (auto set = zfs_.SetProperties(share.dataset, props); !set) {
    undo();
    return std::unexpected(set.error());
  }
  // Serve: the pool now has this share (whether or not it was served before).
  auto pool = dataset->pool();
  auto served = ServeLocked(pool);
  if (!served) GetLogger("share")->error("pool={} serve: {}", pool.str(), served.error().message());
  for (const auto& [p, shares] : served_) {
    for (const auto& s : shares.valid) {
      if (s.Id() == share.Id()) return ViewOf(s);
    }
    for (const auto& v : shares.invalid) {
      if (v.Id() == share.Id()) return v;
    }
  }
  return ViewOf(share);
}

Result<ShareView> ShareManager::Create(const zfs::DatasetName& dataset, Protocol protocol, const json& fields) {
  std::lock_guard lock(mu_);
  PK_ASSIGN_OR_RETURN(zfs::Dataset d, ReadDataset(dataset));
  PK_TRY(CheckNotHeld(dataset, protocol));
  auto existing = d.properties.find(std::string(PropertyFor(protocol)));
  if (existing != d.properties.end() && existing->second.source == zfs::PropertySource::kLocal) {
    return AlreadyExists(fmt::format("'{}' already has an {} share (change it with 'share set', or delete it first)",
                                     dataset.str(), ProtocolName(protocol)));
  }
  if (fields.is_object() && fields.contains("chap_secret_ref")) {
    return InvalidArgument(fmt::format("iscsi share of '{}': chap_secret_ref is Poolkeeper's (give chap_secret)", dataset.str()));
  }
  PK_ASSIGN_OR_RETURN(Definition definition, FromJson(protocol, fields, dataset));
  PK_ASSIGN_OR_RETURN(Share share, Prepare(d, std::move(definition)));
  // Collisions with every served share, and with the other shares of this
  // pool (served or not: they will be served together).
  std::vector<Share> others = ServedExcept(dataset.str(), protocol);
  PK_ASSIGN_OR_RETURN(PoolShares mine, ReadShares(dataset.pool().str(), zfs::Recursive::kYes));
  others.insert(others.end(), mine.valid.begin(), mine.valid.end());
  PK_TRY(CheckCollisions(share, others));
  std::string created;
  if (auto* iscsi = std::get_if<IscsiDefinition>(&share.definition); iscsi && !share.volume) {
    const std::string file = share.path + "/" + iscsi->file;
    // Adopting an existing file: never through a symbolic link (issue 17 item 4).
    auto existing = sys::StatRegularBeneath(share.path, iscsi->file);
    if (!existing && existing.error().code() != ErrorCode::kNotFound) {
      return std::unexpected(existing.error().WithContext(fmt::format("iscsi share of '{}'", dataset.str())));
    }
    if (!existing) {
      if (iscsi->size_bytes == 0) {
        return InvalidArgument(fmt::format("iscsi share of '{}': give a size for the new LUN file {}", dataset.str(), file));
      }
      PK_TRY(fs_.CreateSparseFile(file, iscsi->size_bytes, 0600));
      created = file;
    } else {
      const auto& info = *existing;
      if (iscsi->size_bytes == 0) iscsi->size_bytes = info.size_bytes;
      if (info.size_bytes != iscsi->size_bytes) {
        return InvalidArgument(fmt::format("iscsi share of '{}': {} exists with {} bytes, not the {} asked for", dataset.str(),
                                           file, info.size_bytes, iscsi->size_bytes));
      }
    }
  } else if (iscsi && iscsi->size_bytes != 0) {
    return InvalidArgument(fmt::format("iscsi share of volume '{}': the LUN has the volume's size (change volsize instead of size)",
                                       dataset.str()));
  }
  return CommitWithSecret(share, created);
}

Result<ShareView> ShareManager::Update(const zfs::DatasetName& dataset, Protocol protocol, const json& changes) {
  std::lock_guard lock(mu_);
  if (!changes.is_object()) return InvalidArgument("share set: the changes must be a JSON object");
  PK_ASSIGN_OR_RETURN(zfs::Dataset d, ReadDataset(dataset));
  PK_TRY(CheckNotHeld(dataset, protocol));
  auto existing = d.properties.find(std::string(PropertyFor(protocol)));
  if (existing == d.properties.end() || existing->second.source != zfs::PropertySource::kLocal) {
    return NotFound(fmt::format("'{}' has no {} share", dataset.str(), ProtocolName(protocol)));
  }
  json merged = json::object();
  if (auto current = Decode(protocol, existing->second.value, dataset)) {
    merged = ToJson(*current);
  } else if (json raw = json::parse(existing->second.value, nullptr, false); raw.is_object()) {
    raw.erase("v");
    merged = raw;  // repairing an invalid definition: keep what it had
  }
  // A null change stays null: FromJson then applies the default, and still
  // refuses a field it does not know.
  if (changes.contains("chap_secret_ref")) {
    return InvalidArgument(fmt::format("iscsi share of '{}': chap_secret_ref is Poolkeeper's (give chap_secret)", dataset.str()));
  }
  // A new secret replaces the stored one; no CHAP user drops it.
  bool no_user = changes.contains("chap_user") && (changes["chap_user"].is_null() || changes["chap_user"] == "");
  if (changes.contains("chap_secret") || no_user) merged.erase("chap_secret_ref");
  if (no_user && !changes.contains("chap_secret")) merged.erase("chap_secret");
  for (const auto& [key, value] : changes.items()) merged[key] = value;
  PK_ASSIGN_OR_RETURN(Definition definition, FromJson(protocol, merged, dataset));
  PK_TRY(LoadSecret(dataset.pool().str(), definition));
  PK_ASSIGN_OR_RETURN(Share share, Prepare(d, std::move(definition)));
  std::vector<Share> others = ServedExcept(dataset.str(), protocol);
  PK_ASSIGN_OR_RETURN(PoolShares mine, ReadShares(dataset.pool().str(), zfs::Recursive::kYes));
  others.insert(others.end(), mine.valid.begin(), mine.valid.end());
  PK_TRY(CheckCollisions(share, others));
  if (auto* iscsi = std::get_if<IscsiDefinition>(&share.definition); iscsi && !share.volume) {
    const std::string file = share.path + "/" + iscsi->file;
    auto stat = sys::StatRegularBeneath(share.path, iscsi->file);
    if (!stat) return std::unexpected(stat.error().WithContext(fmt::format("iscsi share of '{}'", dataset.str())));
    const auto& info = *stat;
    if (changes.contains("size") && info.size_bytes != iscsi->size_bytes) {
      return InvalidArgument(fmt::format("iscsi share of '{}': resizing the LUN file {} is not supported ({} bytes now)",
                                         dataset.str(), file, info.size_bytes));
    }
    iscsi->size_bytes = info.size_bytes;
  }
  return CommitWithSecret(share, "");
}

Result<ShareView> ShareManager::CommitWithSecret(Share& share, const std::string& created_file) {
  auto undo = StoreSecret(share);
  if (!undo) {
    if (!created_file.empty()) (void)fs_.Remove(created_file);
    return std::unexpected(undo.error());
  }
  auto view = Commit(share, created_file);
  if (!view) (*undo)();
  return view;
}

Status ShareManager::Delete(const zfs::DatasetName& dataset, Protocol protocol) {
  std::lock_guard lock(mu_);
  PK_ASSIGN_OR_RETURN(zfs::Dataset d, ReadDataset(dataset));
  auto existing = d.properties.find(std::string(PropertyFor(protocol)));
  if (existing == d.properties.end() || existing->second.source != zfs::PropertySource::kLocal) {
    return NotFound(fmt::format("'{}' has no {} share", dataset.str(), ProtocolName(protocol)));
  }
  auto prop = zfs::PropertyName::Parse(PropertyFor(protocol));
  PK_TRY(zfs_.InheritProperty(dataset, *prop, zfs::Recursive::kNo));
  if (protocol == Protocol::kIscsi) {
    if (auto decoded = Decode(protocol, existing->second.value, dataset)) {
      const auto& ref = std::get<IscsiDefinition>(*decoded).chap_secret_ref;
      if (!ref.empty()) {
        if (auto st = secrets_.Remove(dataset.pool(), ref); !st) {
          GetLogger("share")->warn("share=iscsi:{} remove its CHAP secret: {}", dataset.str(), st.error().message());
        }
      }
    }
  }
  PK_TRY(ServeLocked(dataset.pool()));
  outcomes_.erase(fmt::format("{}:{}", ProtocolName(protocol), dataset.str()));
  return OkStatus();
}

Result<std::vector<ShareView>> ShareManager::List(const std::optional<zfs::PoolName>& pool, std::optional<Protocol> protocol) {
  std::lock_guard lock(mu_);
  return ListLocked(pool, protocol);
}

Result<std::vector<ShareView>> ShareManager::ListLocked(const std::optional<zfs::PoolName>& pool,
                                                        std::optional<Protocol> protocol) {
  std::vector<std::string> pools;
  if (pool) {
    pools.push_back(pool->str());
  } else {
    PK_ASSIGN_OR_RETURN(auto all, zfs_.ListPools());
    for (const auto& p : all) pools.push_back(p.name);
  }
  std::vector<ShareView> out;
  for (const auto& name : pools) {
    PK_ASSIGN_OR_RETURN(PoolShares shares, ReadShares(name, zfs::Recursive::kYes));
    const size_t first = out.size();
    for (const auto& s : shares.valid) out.push_back(ViewOf(s));
    for (auto v : shares.invalid) {
      if (auto o = outcomes_.find(v.Id()); o != outcomes_.end() && o->second.state == ShareState::kFailed) v.reason = o->second.reason;
      out.push_back(std::move(v));
    }
    if (first == out.size()) continue;
    if (auto held = Held(name)) {
      for (size_t i = first; i < out.size(); ++i) {
        if (out[i].state == ShareState::kInvalid) continue;  // never served in any case
        out[i].state = ShareState::kHeld;
        out[i].reason = *held;
      }
    }
  }
  std::erase_if(out, [&](const ShareView& v) { return protocol && v.protocol != *protocol; });
  std::sort(out.begin(), out.end(), [](const ShareView& a, const ShareView& b) {
    return std::tie(a.dataset, a.protocol) < std::tie(b.dataset, b.protocol);
  });
  return out;
}

Result<ShareView> ShareManager::Get(const zfs::DatasetName& dataset, Protocol protocol) {
  std::lock_guard lock(mu_);
  PK_TRY(ReadDataset(dataset));
  PK_ASSIGN_OR_RETURN(auto all, ListLocked(dataset.pool(), protocol));
  for (auto& v : all) {
    if (v.dataset == dataset.str()) return v;
  }
  return NotFound(fmt::format("'{}' has no {} share", dataset.str(), ProtocolName(protocol)));
}

Status ShareManager::SetSmbPassword(const sys::AccountName& user, std::string_view password) {
  if (!options_.smb_set_password) return Unavailable("no SMB server is configured on this head");
  return options_.smb_set_password(user, password);
}

Status ShareManager::RemoveSmbUser(const sys::AccountName& user) {
  if (!options_.smb_remove_user) return Unavailable("no SMB server is configured on this head");
  return options_.smb_remove_user(user);
}

}  // namespace pk::share
