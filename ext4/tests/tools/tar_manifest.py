#!/usr/bin/env python3
"""Describe what a tarball should look like once extracted, as JSON.

usage: tar_manifest.py IN.tar > manifest.json

This is the test oracle's view of the input. It shares no code with ext4w:
Python's tarfile parses the archive (plain or compressed), and tar
extraction semantics are applied here:
  * paths are normalised ("./" prefixes and trailing "/" dropped, "" = root);
  * a later entry with the same path wins (a directory keeps its children);
  * a PAX sparse file is named by GNU.sparse.name (as GNU tar does);
  * a hard link shares the inode (and so all metadata) of its target;
  * missing parent directories appear as 0755 root:root ("implicit": true).

Output: a JSON list with one object per path. Byte strings (paths, symlink
targets, xattr values) are hex so that non-UTF-8 bytes survive.
"""

import copy
import hashlib
import json
import sys
import tarfile


def raw(s):
    return s.encode("utf-8", "surrogateescape")


def norm(name):
    parts = [p for p in raw(name).split(b"/") if p not in (b"", b".")]
    if any(p == b".." for p in parts):
        raise SystemExit(f"unexpected '..' in {name!r}")
    return b"/".join(parts)


def mtime_of(ti):
    text = ti.pax_headers.get("mtime")
    if text is None:
        return [int(ti.mtime), 0]
    neg = text.startswith("-")
    if neg:
        text = text[1:]
    sec, _, frac = text.partition(".")
    nsec = int((frac + "000000000")[:9]) if frac else 0
    sec = int(sec)
    if neg:
        sec, nsec = (-sec - 1, 1_000_000_000 - nsec) if nsec else (-sec, 0)
    return [sec, nsec]


def main():
    entries = {}  # path bytes -> record
    order = []
    next_group = [0]

    def put(path, rec):
        if path not in entries:
            order.append(path)
        entries[path] = rec

    def ensure_parents(path):
        parts = path.split(b"/")
        for i in range(len(parts)):
            p = b"/".join(parts[:i])
            if p not in entries:
                next_group[0] += 1
                put(p, {"kind": "dir", "mode": 0o755, "uid": 0, "gid": 0,
                        "mtime": None, "xattrs": {}, "implicit": True,
                        "group": next_group[0]})

    with tarfile.open(sys.argv[1], "r:*") as tf:
        for ti in tf:
            # GNU tar names a PAX sparse file by GNU.sparse.name; Python
            # lets a later `path` record (the GNUSparseFile.NNN placeholder
            # GNU tar writes for long names) win instead.
            path = norm(ti.pax_headers.get("GNU.sparse.name", ti.name))
            if path:
                ensure_parents(path)
            xattrs = {k[len("SCHILY.xattr."):]: raw(v).hex()
                      for k, v in ti.pax_headers.items()
                      if k.startswith("SCHILY.xattr.")}
            rec = {"mode": ti.mode & 0o7777, "uid": ti.uid, "gid": ti.gid,
                   "mtime": mtime_of(ti), "xattrs": xattrs, "implicit": False}
            if ti.islnk():
                target = norm(ti.linkname)
                if target not in entries:
                    raise SystemExit(f"hard link {ti.name!r} to missing {ti.linkname!r}")
                put(path, copy.deepcopy(entries[target]))
                continue
            if ti.isdir():
                rec["kind"] = "dir"
            elif ti.isreg():
                rec["kind"] = "reg"
                h = hashlib.sha256()
                f = tf.extractfile(ti)
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                rec["size"] = ti.size
                rec["sha256"] = h.hexdigest()
            elif ti.issym():
                rec["kind"] = "sym"
                rec["target"] = raw(ti.linkname).hex()
                rec["size"] = len(raw(ti.linkname))
            elif ti.ischr() or ti.isblk():
                rec["kind"] = "chr" if ti.ischr() else "blk"
                rec["major"] = ti.devmajor
                rec["minor"] = ti.devminor
            elif ti.isfifo():
                rec["kind"] = "fifo"
            else:
                raise SystemExit(f"unsupported member type {ti.type!r}: {ti.name!r}")
            old = entries.get(path)
            if old is not None and old["kind"] == "dir" and rec["kind"] == "dir":
                rec["group"] = old["group"]
            else:
                next_group[0] += 1
                rec["group"] = next_group[0]
            put(path, rec)

    if b"" not in entries:
        ensure_parents(b"x")
    # A hard link copies its target's record, so the shared "group" already
    # identifies one inode.
    out = []
    for p in order:
        rec = dict(entries[p])
        rec["path"] = p.hex()
        out.append(rec)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
