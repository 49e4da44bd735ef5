#!/usr/bin/python3
"""Source trees for the shadow-migration tests (issue 6), and the checker.

  migrate_tree.py gen DIR [--seed N] [--small]   writes a tree of >= 20,000 entries (--small: ~2,500) into DIR
  migrate_tree.py check SRC DST [--no-xattrs]    compares DST with SRC; exit 0 when equal, 1 with the differences
                                                 (--no-xattrs: for NFSv3 sources, which carry none)
  migrate_tree.py stats DIR            JSON: entries, regular inodes with data, their bytes

The tree: 100 nested directories (a file in each), a directory of 10,000
files, 60 directories of mixed entries; hard links across directories,
symlinks (dangling ones too), FIFOs, character devices, empty and sparse
files, user xattrs on files and directories, names with spaces, newlines,
unicode and leading dashes, mixed owners and modes, old mtimes.

The checker compares, for every path (symlinks not followed): type, mode,
owner, group, mtime (ns), size, SHA-256 of contents, symlink target, device
number, user xattrs, and the hard-link structure (which paths share an inode).
"""
import ctypes
import hashlib
import json
import os
import random
import stat
import sys

OWNERS = [(0, 0), (1000, 1000), (1001, 100), (65534, 65534), (4242, 4243)]
FILE_MODES = [0o644, 0o600, 0o755, 0o400, 0o640, 0o4755, 0o2750, 0o666]
DIR_MODES = [0o755, 0o700, 0o750, 0o1777, 0o2775, 0o711]
ODD_NAMES = ["with space", "new\nline", "ünïcødé-ファイル", "-leading-dash", "--", " lead space", "tab\there",
             "emoji-🙂", "a" * 200]


def gen(root, seed, small=False):
    rnd = random.Random(seed)
    levels, big_files, mixed_dirs = (20, 1000, 10) if small else (100, 10000, 60)
    os.makedirs(root)
    dirs = []  # set modes/times deepest first at the end

    def mtime():
        return rnd.randrange(946684800, 1700000000) * 10**9 + rnd.randrange(10**9)

    def finish(path, is_dir=False):
        uid, gid = rnd.choice(OWNERS)
        os.lchown(path, uid, gid)
        if is_dir:
            dirs.append(path)
            return
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, rnd.choice(FILE_MODES) if stat.S_ISREG(st.st_mode) else 0o640)
        t = mtime()
        os.utime(path, ns=(t, t), follow_symlinks=False)

    def write(path, size, xattrs=False):
        with open(path, "wb") as f:
            f.write(rnd.randbytes(size))
        if xattrs:
            os.setxattr(path, "user.color", rnd.choice([b"red", b"green", b"\x00\x01binary"]))
            os.setxattr(path, "user.long", rnd.randbytes(rnd.randrange(1, 300)))
        finish(path)

    # 100 nested levels, a file at each.
    d = root
    for i in range(levels):
        d = os.path.join(d, "lvl%02d" % i)
        os.mkdir(d)
        write(os.path.join(d, "file at level %d" % i), rnd.randrange(0, 3000))
        finish(d, True)
    # One directory of 10,000 files.
    big = os.path.join(root, "big dir")
    os.mkdir(big)
    for i in range(big_files):
        write(os.path.join(big, "f%05d" % i), rnd.randrange(0, 1500), xattrs=(i % 97 == 0))
    finish(big, True)
    # Mixed directories.
    mixed = []
    for m in range(mixed_dirs):
        name = ODD_NAMES[m % len(ODD_NAMES)] + "-%d" % m
        md = os.path.join(root, name)
        os.mkdir(md)
        os.setxattr(md, "user.dirnote", ("dir %d" % m).encode())
        mixed.append(md)
        for j in range(165):
            kind = j % 11
            p = os.path.join(md, "%s %d" % (ODD_NAMES[j % len(ODD_NAMES)][:20], j))
            if kind in (0, 1, 2, 3):
                write(p, rnd.randrange(0, 20000), xattrs=(j % 5 == 0))
            elif kind == 4:
                write(p, 0)  # empty
            elif kind == 5 and j % 2 == 1:
                with open(p, "wb") as f:  # sparse: 2 MiB with two islands of data
                    f.truncate(1 << 20)
                    f.seek(rnd.randrange(0, 1 << 19))
                    f.write(rnd.randbytes(4096))
                    f.seek((1 << 20) - 100)
                    f.write(b"tail" * 10)
                finish(p)
            elif kind == 6:
                os.symlink("../" + os.path.basename(mixed[rnd.randrange(len(mixed))]), p)
                finish(p)
            elif kind == 7:
                os.symlink("/nonexistent/dangling target %d" % j, p)
                finish(p)
            elif kind == 8:
                os.mkfifo(p)
                finish(p)
            elif kind == 9:
                sub = p + ".d"
                os.mkdir(sub)
                write(os.path.join(sub, "inner"), rnd.randrange(1, 5000))
                finish(sub, True)
            elif kind == 10 and j % 2 == 0:
                os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
                finish(p)
            else:
                write(p, rnd.randrange(1, 100))
        finish(md, True)
    # Hard links across directories (some to files in the big directory, some to sparse files).
    targets = []
    for dp, dn, fn in os.walk(root):
        for f in fn:
            p = os.path.join(dp, f)
            if stat.S_ISREG(os.lstat(p).st_mode):
                targets.append(p)
    targets.sort()
    rnd.shuffle(targets)
    for k, t in enumerate(targets[:300]):
        for n in range(1 + k % 2):
            dest = os.path.join(mixed[rnd.randrange(len(mixed))], "hardlink %d-%d" % (k, n))
            os.link(t, dest)
    # Directory modes and times last, deepest first (creating entries changes them).
    for d in sorted(dirs, key=lambda p: -p.count("/")):
        os.chmod(d, rnd.choice(DIR_MODES))
        t = mtime()
        os.utime(d, ns=(t, t))
    t = mtime()
    os.utime(root, ns=(t, t))


def walk(root):
    """path -> lstat, for every entry below root (root itself as '.')."""
    out = {".": os.lstat(root)}
    stack = [""]
    while stack:
        rel = stack.pop()
        base = os.path.join(root, rel) if rel else root
        for name in os.listdir(base):
            r = os.path.join(rel, name) if rel else name
            st = os.lstat(os.path.join(root, r))
            out[r] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(r)
    return out


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


_libc = ctypes.CDLL(None, use_errno=True)


def _sized(call, *args):
    """Size first, then the bytes: zfs-fuse answers a too-small buffer (os.getxattr
    starts with 128 bytes) with a truncated value instead of ERANGE."""
    n = call(*args, None, 0)
    if n < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    buf = ctypes.create_string_buffer(n + 1)
    n = call(*args, buf, n + 1)
    if n < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return buf.raw[:n]


def xattrs(path, st):
    if stat.S_ISLNK(st.st_mode) or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return {}
    p = os.fsencode(path)
    names = [n for n in _sized(_libc.llistxattr, p).split(b"\0") if n.startswith(b"user.")]
    return {n.decode(): _sized(_libc.lgetxattr, p, n) for n in names}


def describe(root, rel, st, with_xattrs=True):
    p = os.path.join(root, rel)
    d = {"type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
         "xattrs": xattrs(p, st) if with_xattrs else {}}
    if not stat.S_ISDIR(st.st_mode):
        d["mtime_ns"] = st.st_mtime_ns  # directory times: see below
    if stat.S_ISREG(st.st_mode):
        d["size"] = st.st_size
        d["sha256"] = digest(p)
    elif stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(p)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = st.st_rdev
    else:
        pass
    if stat.S_ISDIR(st.st_mode):
        d["mtime_ns"] = st.st_mtime_ns
    return d


def links(tree):
    groups = {}
    for rel, st in tree.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return {rel: tuple(sorted(g)) for g in groups.values() for rel in g if len(g) > 1}


def check(src, dst, with_xattrs=True):
    a, b = walk(src), walk(dst)
    problems = []
    # mtimes are compared at the target's resolution: zfs-fuse keeps whole
    # seconds (OpenZFS keeps nanoseconds); a target with any sub-second time
    # is compared in nanoseconds.
    whole_seconds = all(st.st_mtime_ns % 10**9 == 0 for st in b.values())
    for rel in sorted(set(a) | set(b)):
        if rel not in b:
            problems.append("missing in target: %r" % rel)
            continue
        if rel not in a:
            problems.append("extra in target: %r" % rel)
            continue
        da, db = describe(src, rel, a[rel], with_xattrs), describe(dst, rel, b[rel], with_xattrs)
        if whole_seconds:
            da["mtime_ns"] -= da["mtime_ns"] % 10**9
        for k in sorted(set(da) | set(db)):
            if da.get(k) != db.get(k):
                problems.append("%r: %s differs: source %r, target %r" % (rel, k, da.get(k), db.get(k)))
    la, lb = links(a), links(b)
    for rel in sorted(set(la) | set(lb)):
        if la.get(rel) != lb.get(rel):
            problems.append("%r: hard links differ: source %r, target %r" % (rel, la.get(rel), lb.get(rel)))
    if problems:
        print("%d differences; first ones:" % len(problems))
        for p in problems[:30]:
            print("  " + p)
        return 1
    print("equal: %d entries, %d hard-linked paths%s" % (len(a), len(la),
          ", mtimes in whole seconds (the target keeps no sub-second times)" if whole_seconds else ""))
    return 0


def stats(root):
    tree = walk(root)
    seen, files, data_files, data_bytes = set(), 0, 0, 0
    for rel, st in tree.items():
        if not stat.S_ISREG(st.st_mode):
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        files += 1
        if st.st_size > 0:
            data_files += 1
            data_bytes += st.st_size
    print(json.dumps({"entries": len(tree) - 1, "files": files, "data_files": data_files, "data_bytes": data_bytes}))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "gen":
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 6
        gen(argv[2], seed, "--small" in argv)
        return stats(argv[2])
    if len(argv) in (4, 5) and argv[1] == "check":
        return check(argv[2], argv[3], "--no-xattrs" not in argv)
    if len(argv) == 3 and argv[1] == "stats":
        return stats(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
