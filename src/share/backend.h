// share::Backend: one protocol server (tgtd for iSCSI, nfs-ganesha for NFS,
// smbd for SMB) driven to serve exactly the shares it is given.
//
// The ShareManager computes the desired shares of a protocol across every
// imported pool (already validated: no LUN or share-name collisions) and calls
// Reconcile() whenever they change (a pool imported or exported, a share
// created, changed or deleted). Reconcile() compares with what the server
// really serves (asking the server where it can, e.g. `tgtadm --op show`),
// adds what is missing, updates what changed and removes the rest, so it is
// idempotent and repairs a server that was restarted behind our back.
// Servers are started on demand (the first share) and stopped by Stop().
//
// Each backend owns its server's configuration files and runtime directory
// (under the daemon's state directory) and nothing else: a reconcile never
// touches configuration Poolkeeper did not write.
//
// Thread-safety: the ShareManager serialises every call to one backend.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "share/definition.h"

namespace pk::share {

// The outcome of serving one share (Share::Id()).
struct ShareResult {
  std::string id;
  Status status;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Protocol protocol() const = 0;

  // Starts the server when it is not running (idempotent). Unavailable, with
  // the reason, when the server cannot be started (missing program, port in use).
  virtual Status Start() = 0;

  // Stops the server: every target, export and share goes away with it.
  // Idempotent; stopping a server that is not running is OK.
  virtual Status Stop() = 0;

  // Whether the server runs and answers on its control interface.
  virtual Status Health() = 0;

  // Serves exactly `desired` (every share of this protocol of every imported
  // pool), starting the server first when needed. One result per desired
  // share, in order; a share that fails does not keep the others from being
  // served. With `desired` empty, everything is removed (the server may stay up).
  virtual std::vector<ShareResult> Reconcile(const std::vector<Share>& desired) = 0;

  // Ids of the shares the server serves now (for status and tests).
  virtual Result<std::vector<std::string>> Served() = 0;
};

// Start() of a server that serves its shares from a configuration rewritten
// by each Reconcile (ganesha, smbd): reconciles `last` (what the last
// Reconcile was given) again, which starts the server. OK once `running()`
// says the server runs; otherwise the first share's error, or Unavailable
// with `not_running`.
Status ServeAgain(Backend& backend, const std::vector<Share>& last, const std::function<bool()>& running,
                  std::string not_running);

}  // namespace pk::share
