// share::ChapSecretStore: where a pool keeps its iSCSI CHAP secrets (issue 17
// item 5), so that they travel with the pool (a head that imports it serves
// the same CHAP) without ever being in a property value, `zpool history`, a
// command line, a log or an API answer.
//
// The store is a file in a hidden dataset of the pool, POOL/.poolkeeper,
// created on first need with the pool's mountpoint inherited (so it is
// mounted with the pool, on every head) and never shared: no share property
// is set on it, and NFS exports of a parent do not cross into it. The file is
// .poolkeeper/chap/secrets.json in a 0700 directory, mode 0600, owned by
// root: readable by root only, on this head and on any head that imports the
// pool. It maps a key ("guid:" + the shared dataset's guid at the time the
// secret was stored; the share property carries the key as
// `chap_secret_ref`) to the secret. Why a file and not a property: ZFS user
// properties are readable by every local user (`zfs get`), kept in the pool
// history forever, inherited by children and sent by `zfs send -p`; a file's
// mode is enforced by the filesystem and its writes leave no history. Why not
// sealed with a cluster key: standalone heads share no key, and a pool must
// move between any two heads with its shares (BRIEF: the pool carries its
// configuration).
//
// Thread-safety: none; the ShareManager calls it under its lock.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "sys/files.h"
#include "zfs/names.h"
#include "zfs/zfs.h"

namespace pk::share {

class ChapSecretStore {
 public:
  ChapSecretStore(zfs::Zfs& zfs, sys::FileSystem& fs) : zfs_(zfs), fs_(fs) {}

  // The hidden dataset of `pool` ("POOL/.poolkeeper").
  static std::string DatasetOf(const zfs::PoolName& pool);
  // The key a dataset's secret is stored under: "guid:" + guid.
  static std::string KeyFor(uint64_t dataset_guid);

  // The secret stored under `key` in `pool`; NotFound naming the pool and
  // key when the store or the entry is missing.
  Result<std::string> Get(const zfs::PoolName& pool, const std::string& key);
  // Every secret of `pool` (key -> secret), in one read of the store (one
  // `zfs get` and one file read); NotFound when the pool has no store.
  Result<std::map<std::string, std::string>> GetAll(const zfs::PoolName& pool);
  // The entry `key` of what GetAll returned; NotFound as Get.
  static Result<std::string> Find(const std::map<std::string, std::string>& secrets, const zfs::PoolName& pool,
                                  const std::string& key);
  // Stores (or replaces) the secret under `key`, creating the dataset and
  // file on first need. The secret is written only into the 0600 file.
  Status Put(const zfs::PoolName& pool, const std::string& key, const std::string& secret);
  // Removes the entry; OK when it is absent.
  Status Remove(const zfs::PoolName& pool, const std::string& key);

 private:
  enum class Create { kNo, kYes };
  // The directory holding secrets.json, the dataset created (and mounted)
  // with Create::kYes; NotFound when absent and Create::kNo.
  Result<std::string> Dir(const zfs::PoolName& pool, Create create);
  Result<nlohmann::json> Load(const std::string& dir);

  zfs::Zfs& zfs_;
  sys::FileSystem& fs_;
};

}  // namespace pk::share
