// nfs:// sources: NFSv3 through libnfs's synchronous API (no kernel mount).
// A libnfs context is not thread-safe, so the source keeps a pool of
// mounted contexts and lends one per call (a SourceFile holds its own).
#pragma once

#include <memory>

#include "migrate/source.h"

namespace pk::migrate::internal {

Result<std::unique_ptr<Source>> OpenNfsSource(const SourceUri& uri, int connections);

}  // namespace pk::migrate::internal
