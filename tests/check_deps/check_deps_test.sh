#!/bin/bash
# Proves that scripts/check-deps fails, naming the file, the include and the
# rule, on each kind of bad edge (issue 19 acceptance: "a script that reads the
# includes and fails on an edge against the documented direction"), and passes
# on the real tree. Each case runs the script on a copy of src/, testing/ and
# ARCHITECTURE.md with one change (--root), never on the tree itself.
#   check_deps_test.sh SOURCE_DIR
set -euo pipefail

src_root="$(cd "${1:?usage: check_deps_test.sh SOURCE_DIR}" && pwd)"
check="$src_root/scripts/check-deps"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

fresh() {  # a clean copy of the tree in $work/tree
  rm -rf "$work/tree"
  mkdir -p "$work/tree"
  cp -r "$src_root/src" "$src_root/testing" "$src_root/ARCHITECTURE.md" "$work/tree/"
}

# expect_fail NAME TEXT...: check-deps on $work/tree exits 1 and its output
# holds every TEXT.
expect_fail() {
  local name="$1" rc=0 out
  shift
  out="$("$check" --root "$work/tree" 2>&1)" || rc=$?
  if ((rc != 1)); then
    echo "FAIL $name: exit $rc, expected 1; output:"; echo "$out"; failures=$((failures + 1)); return
  fi
  local want
  for want in "$@"; do
    if ! grep -qF -- "$want" <<<"$out"; then
      echo "FAIL $name: output lacks '$want'; output:"; echo "$out"; failures=$((failures + 1)); return
    fi
  done
  echo "ok   $name"
}

# Replaces the deps block's line for MODULE with LINE.
set_rule() {
  local module="$1" line="$2"
  awk -v m="$module" -v l="$line" '
    /^```deps/ { inblock = 1 }
    /^```$/ { inblock = 0 }
    inblock && index($0, m ":") == 1 { print l; next }
    { print }' "$src_root/ARCHITECTURE.md" >"$work/tree/ARCHITECTURE.md"
}

# 1. The real tree passes.
if out="$("$check" --root "$src_root" 2>&1)"; then
  echo "ok   real tree"
else
  echo "FAIL real tree:"; echo "$out"; failures=$((failures + 1))
fi

# 2. An upward edge: zfs including api.
fresh
printf '#include "zfs/zfs.h"\n#include "api/router.h"\n' >"$work/tree/src/zfs/bad_edge.cc"
expect_fail "upward edge" 'src/zfs/bad_edge.cc:2' '#include "api/router.h"' 'zfs may not use api' "rule 'zfs: base sys'"

# 3. testing/ from a non-test file (allowed only in *_test.cc).
fresh
printf '#include "testing/fake_zfs.h"\n' >"$work/tree/src/inventory/uses_fake.cc"
expect_fail "fake outside a test" 'src/inventory/uses_fake.cc:1' 'inventory may not use testing'

# 4. The test-only edge is for its one test file: the agent itself may not.
fresh
printf '#include "supervisor/policy.h"\n' >"$work/tree/src/cluster/agent_extra.cc"
expect_fail "test-only edge outside its test" 'src/cluster/agent_extra.cc:1' 'cluster may not use supervisor'

# 5. Another module's internal/ headers.
fresh
printf '#include "zfs/internal/parse.h"\n' >"$work/tree/src/inventory/reach.cc"
expect_fail "internal reach" 'src/inventory/reach.cc:1' 'internal/ of zfs is private to zfs'

# 6. A cycle in the documented graph (sys may use zfs, zfs uses sys).
fresh
set_rule sys "sys: base zfs"
expect_fail "documented cycle" 'deps block has a cycle' 'sys -> zfs -> sys'

# 7. A module folder the block does not know.
fresh
mkdir -p "$work/tree/src/disks"
printf '#include "base/error.h"\n' >"$work/tree/src/disks/disks.cc"
expect_fail "undocumented module" "src/disks/: module 'disks' has no line"

# 8. A malformed block is exit 2, not a pass.
fresh
set_rule api "api base zfs"
rc=0; "$check" --root "$work/tree" >/dev/null 2>&1 || rc=$?
if ((rc == 2)); then echo "ok   malformed block"; else echo "FAIL malformed block: exit $rc"; failures=$((failures + 1)); fi

((failures == 0)) || { echo "$failures case(s) failed"; exit 1; }
