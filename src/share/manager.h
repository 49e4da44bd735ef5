// share::ShareManager: reads the share definitions a pool carries and has the
// protocol backends serve them (issue 4).
//
// A pool's shares are served from when its pool service reaches the sharing
// phase (ServePool, after import and mount) until it stops (UnservePool,
// before export), or from when a share is defined on an imported pool.
// Desired state per protocol = the valid shares of every served pool; each
// change (pool served or unserved, share created, changed or deleted) calls
// the protocol's Backend::Reconcile with it, so exporting a pool removes every
// target, LUN, export and share it had.
//
// Writes validate everything before touching anything: the dataset exists in
// an imported pool and has the right type, the definition decodes, it does
// not collide with a share of any served pool (IQN + LUN, target settings,
// SMB name, NFS pseudo path), the property fits. Only then is the backing
// file created (iSCSI on a filesystem) and the property written, in one
// `zfs set`; a failure after the file was created removes it again.
//
// A share that is valid but cannot be served (backend missing or failing, a
// collision with a pool imported later) is reported, with the reason, through
// `on_pool_shares` (the supervisor then shows its pool degraded) and as an
// event; the other shares and the pool stay up.
//
// Thread-safety: every public method may be called from any thread; one
// mutex serialises them (backend calls included), so reconciles never interleave.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "share/backend.h"
#include "share/chap_secrets.h"
#include "share/definition.h"
#include "sys/files.h"
#include "sys/users.h"
#include "zfs/zfs.h"

namespace pk::share {

enum class ShareState {
  kServing,    // the backend serves it
  kFailed,     // valid, but serving it failed (reason says why)
  kInvalid,    // the property does not decode: never served
  kNotServed,  // its pool is imported but not served (no service reached sharing)
  kHeld,       // its pool is not adopted here (issue 17 item 6): never served until it is
};
std::string_view ShareStateName(ShareState state);  // "serving", "failed", "invalid", "not-served", "held"

struct ShareView {
  Protocol protocol = Protocol::kNfs;
  std::string dataset;
  std::string pool;
  std::optional<Definition> definition;  // nullopt when invalid
  uint64_t guid = 0;
  std::string path;
  bool volume = false;
  ShareState state = ShareState::kNotServed;
  std::string reason;

  std::string Id() const;  // "nfs:tank/home"
  // {"id","protocol","dataset","pool","path","state","reason","definition"(redacted),
  //  "identity" (iSCSI: serial, naa, scsi_id)}.
  nlohmann::json ToJson() const;
};

struct ShareManagerOptions {
  // A share's state changed: resource "share:nfs:tank/home", new state, reason.
  std::function<void(const std::string& resource, const std::string& state, const std::string& reason)> on_event;
  // After each reconcile touching `pool`: the reasons of its shares that are
  // not served (empty when all are).
  std::function<void(const std::string& pool, const std::vector<std::string>& problems)> on_pool_shares;
  // SMB accounts of this head's smbd (its own passdb; not carried by pools):
  // set (add or change the password) and remove. Unset: no SMB server here.
  std::function<Status(const sys::AccountName& user, std::string_view password)> smb_set_password;
  std::function<Status(const sys::AccountName& user)> smb_remove_user;
  // Why `pool` may not be served (issue 17 item 6: it was made elsewhere and
  // is not adopted here), or nullopt when it may. A held pool's shares are
  // listed as held with this reason and never reach a backend; creating or
  // changing one is refused. Unset: every pool may be served.
  std::function<std::optional<std::string>(const std::string& pool)> held;
};

class ShareManager {
 public:
  // `backends`: at most one per protocol; a protocol without one reports its
  // shares failed ("no nfs server configured on this head").
  ShareManager(zfs::Zfs& zfs, sys::FileSystem& fs, std::vector<std::unique_ptr<Backend>> backends,
               ShareManagerOptions options);
  ~ShareManager();

  // Reads `pool`'s share definitions and serves them. Returns the problems
  // (one reason per share not served; every share of a held pool, with the
  // hold's reason); an error only when the definitions cannot be read at all.
  // Only definitions set locally are served: a `received` one (zfs receive)
  // is listed invalid, never served.
  Result<std::vector<std::string>> ServePool(const zfs::PoolName& pool);
  // Stops serving every share of `pool` (before it is exported).
  Status UnservePool(const zfs::PoolName& pool);

  Result<ShareView> Create(const zfs::DatasetName& dataset, Protocol protocol, const nlohmann::json& fields);
  // `changes` override the current fields; a null value resets a field to its default.
  Result<ShareView> Update(const zfs::DatasetName& dataset, Protocol protocol, const nlohmann::json& changes);
  Status Delete(const zfs::DatasetName& dataset, Protocol protocol);

  // Shares of every imported pool (or of `pool`), optionally of one protocol,
  // read from the pools' properties (so a share of a pool not served shows too).
  Result<std::vector<ShareView>> List(const std::optional<zfs::PoolName>& pool, std::optional<Protocol> protocol);
  Result<ShareView> Get(const zfs::DatasetName& dataset, Protocol protocol);

  // SMB accounts (ShareManagerOptions::smb_*); Unavailable without an SMB server.
  Status SetSmbPassword(const sys::AccountName& user, std::string_view password);
  Status RemoveSmbUser(const sys::AccountName& user);

  // Stops every backend (daemon shutdown).
  void Shutdown();

  // Daemon restart after a crash (issue 18): until Settle(), no backend is
  // reconciled, so the servers adopted from the killed daemon keep serving
  // every share they served while the pools are served again one by one
  // (shares read meanwhile are reported not served yet). Settle() reconciles
  // every protocol with the full desired state, once.
  void HoldUntilSettled();
  void Settle();

 private:
  struct PoolShares {
    std::vector<Share> valid;
    std::vector<ShareView> invalid;  // undecodable or unusable, with the reason
  };
  struct Outcome {
    ShareState state = ShareState::kNotServed;
    std::string reason;
  };

  Result<std::vector<std::string>> ServeLocked(const zfs::PoolName& pool);
  Result<std::vector<ShareView>> ListLocked(const std::optional<zfs::PoolName>& pool, std::optional<Protocol> protocol);
  // Share definitions of `pool` (or of one dataset's subtree), from ZFS. Lock held.
  Result<PoolShares> ReadShares(const std::string& root, zfs::Recursive recursive);
  // Served shares of other datasets, for collision checks. Lock held.
  std::vector<Share> ServedExcept(const std::string& dataset, Protocol protocol) const;
  // Serves the current desired state of `protocol`; reports every pool touched. Lock held.
  void Reconcile(Protocol protocol);
  // Tells on_pool_shares the pool's Problems(). Lock held.
  void Report(const std::string& pool);
  // One reason per share of a served pool that is not served. Lock held.
  std::vector<std::string> Problems(const std::string& pool) const;
  void SetOutcome(const std::string& id, ShareState state, std::string reason);
  ShareView ViewOf(const Share& share) const;
  // options_.held, or nullopt without one.
  std::optional<std::string> Held(const std::string& pool) const;
  // FailedPrecondition naming the share and the hold when its pool is held.
  Status CheckNotHeld(const zfs::DatasetName& dataset, Protocol protocol) const;
  // Validates `definition` for `dataset` (type, path, collisions); fills the share. Lock held.
  Result<Share> Prepare(const zfs::Dataset& dataset, Definition definition);
  // Reads one dataset with the properties shares need; NotFound/FailedPrecondition with the reason.
  Result<zfs::Dataset> ReadDataset(const zfs::DatasetName& dataset);
  // Writes (or with nullopt removes) the property, then reconciles the dataset's pool.
  Result<ShareView> Commit(const Share& share, const std::string& created_file);
  // StoreSecret, then Commit; the secret restored when Commit fails. Lock held.
  Result<ShareView> CommitWithSecret(Share& share, const std::string& created_file);
  // issue 17 item 5. Fills an iSCSI definition's secret from the pool's
  // ChapSecretStore when the property refers to one. Lock held.
  Status LoadSecret(const std::string& pool, Definition& definition);
  // The same for every share about to be served, with one read of the pool's
  // store (listings never read it: their answers redact the secret anyway); a
  // share whose secret cannot be read moves to `invalid`, failed with the
  // reason. Lock held.
  void LoadSecrets(const zfs::PoolName& pool, PoolShares& shares);
  // Stores a secret the definition carries but the store does not yet
  // (a new or changed secret, or one from a property written before issue
  // 17) under the dataset's key and sets the reference. Returns how to undo
  // it (restore the previous secret) when the write that follows fails. Lock held.
  Result<std::function<void()>> StoreSecret(Share& share);
  // Moves secrets still in share properties (written before issue 17) into
  // the store and rewrites those properties without them. Lock held.
  void MoveSecretsOutOfProperties(std::vector<Share>& shares);

  zfs::Zfs& zfs_;
  sys::FileSystem& fs_;
  std::map<Protocol, std::unique_ptr<Backend>> backends_;
  ShareManagerOptions options_;
  ChapSecretStore secrets_{zfs_, fs_};  // called under mu_

  std::mutex mu_;
  bool held_ = false;  // guarded by mu_; see HoldUntilSettled
  std::map<std::string, PoolShares> served_;    // by pool; guarded by mu_
  std::map<std::string, Outcome> outcomes_;     // by share id; guarded by mu_
};

}  // namespace pk::share
