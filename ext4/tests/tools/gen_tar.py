#!/usr/bin/env python3
"""Generate test tarballs for the ext4w integration tests.

usage: gen_tar.py CASE OUT.tar

Cases:
  scale   20,000 small files in 200 directories plus one directory with
          10,000 entries.
  sparse  a 300 MiB file that is mostly holes (GNU sparse format, written by
          GNU tar from a staged sparse file) plus a 0-byte file.
  sparse-pax-0.0, sparse-pax-0.1, sparse-pax-1.0
          a 20 MiB sparse file and an all-hole one, written by GNU tar in
          that PAX sparse format (--format=posix --sparse-version=V).
  gnu     GNU format: long names and link targets as `L`/`K` members.
  meta    every kind of metadata the writer must keep: long and UTF-8 names,
          fast and slow symlinks, hard links across directories, devices
          with big major/minor, FIFOs, special mode bits, xattrs (capability,
          selinux, trusted, a large one, POSIX ACLs), 32-bit uid/gid, deep
          paths, nanosecond and post-2038 mtimes, duplicates, implicit parent
          directories, "./" prefixes.

Everything is deterministic: file contents come from sha256 counters.
"""

import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

BASE_MTIME = 1_700_000_000


def blob(seed, size):
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{n}".encode()).digest()
        n += 1
    return bytes(out[:size])


class Builder:
    def __init__(self, path, fmt=tarfile.PAX_FORMAT):
        self.tar = tarfile.open(path, "w", format=fmt)

    def _info(self, name, typ, mode, uid=0, gid=0, mtime=BASE_MTIME, pax=None):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.mode = mode
        ti.uid = uid
        ti.gid = gid
        ti.uname = ""
        ti.gname = ""
        ti.mtime = mtime
        if pax:
            ti.pax_headers = dict(pax)
        return ti

    def dir(self, name, mode=0o755, **kw):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))

    def file(self, name, data, mode=0o644, **kw):
        ti = self._info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))

    def symlink(self, name, target, mode=0o777, **kw):
        ti = self._info(name, tarfile.SYMTYPE, mode, **kw)
        ti.linkname = target
        self.tar.addfile(ti)

    def hardlink(self, name, target, **kw):
        ti = self._info(name, tarfile.LNKTYPE, 0o644, **kw)
        ti.linkname = target
        self.tar.addfile(ti)

    def dev(self, name, typ, major, minor, mode=0o660, **kw):
        ti = self._info(name, typ, mode, **kw)
        ti.devmajor = major
        ti.devminor = minor
        self.tar.addfile(ti)

    def close(self):
        self.tar.close()


def xattrs(**named):
    """PAX records for xattrs; binary values go through surrogateescape."""
    out = {}
    for name, value in named.items():
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def posix_acl(entries):
    """Linux xattr ACL v2 format: header version 2, then (tag, perm, id)."""
    out = struct.pack("<I", 2)
    for tag, perm, ident in entries:
        out += struct.pack("<HHI", tag, perm, ident)
    return out


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20)
UNDEF = 0xFFFFFFFF


def gen_scale(out):
    b = Builder(out)
    b.dir("./")
    b.dir("./many")
    for d in range(200):
        b.dir(f"./many/d{d:03}", mode=0o755)
        for f in range(100):
            n = d * 100 + f
            b.file(f"./many/d{d:03}/file{f:03}.txt", blob(n, n % 700),
                   mode=0o644, uid=n % 3, mtime=BASE_MTIME + n)
    b.dir("./bigdir", mode=0o750)
    for f in range(10_000):
        name = f"./bigdir/entry-{f:05}-{hashlib.md5(str(f).encode()).hexdigest()[:12]}"
        if f % 10 == 0:
            b.symlink(name, f"target-{f}")
        else:
            b.file(name, blob(-f, f % 97), mtime=BASE_MTIME - f)
    b.close()


def gen_sparse(out):
    stage = tempfile.mkdtemp(prefix="ext4b-sparse-", dir=os.environ.get("TMPDIR"))
    try:
        root = os.path.join(stage, "root")
        os.makedirs(os.path.join(root, "sparse"))
        big = os.path.join(root, "sparse", "big.img")
        size = 300 * 1024 * 1024
        with open(big, "wb") as f:
            f.truncate(size)
            # 40 data runs of varying length at unaligned offsets.
            for i in range(40):
                off = i * (7 * 1024 * 1024 + 12345) + 1000
                f.seek(off)
                f.write(blob(f"sparse{i}", 4096 * (i % 5) + 777))
        open(os.path.join(root, "sparse", "empty"), "wb").close()
        with open(os.path.join(root, "sparse", "small"), "wb") as f:
            f.write(b"x")
        for p in ("sparse/big.img", "sparse/empty", "sparse/small", "sparse", "."):
            os.utime(os.path.join(root, p), (BASE_MTIME, BASE_MTIME))
        subprocess.run(
            ["tar", "--format=gnu", "--sparse", "--numeric-owner",
             "--owner=0", "--group=0", "--sort=name", "-C", root,
             "-cf", out, "."],
            check=True)
    finally:
        shutil.rmtree(stage)


def gen_meta(out):
    b = Builder(out)
    b.dir("./", mode=0o755, mtime=BASE_MTIME - 5)

    # Names.
    b.dir("./names")
    b.file("./names/" + "a" * 255, b"long name\n")
    b.file("./names/" + "\u3042" * 85, b"255 bytes of hiragana\n")  # 3 bytes each
    b.file("./names/h\u00e9llo w\u00f6rld", b"latin\n")
    b.file("./names/\u65e5\u672c\u8a9e", b"cjk\n")
    b.file("./names/\U0001F980 crab", b"emoji\n")
    b.file("./names/.hidden", b"dot\n")
    b.dir("./names/" + "d" * 255)
    b.file("./names/" + "d" * 255 + "/" + "e" * 255, b"two long names\n")

    # Sizes.
    b.dir("./sizes")
    for size in (0, 1, 4095, 4096, 4097, 65536, 1024 * 1024 + 3):
        b.file(f"./sizes/f{size}", blob(f"size{size}", size))
    # A file with all-zero blocks in the middle (holes or not, same content).
    b.file("./sizes/zeros-mid", blob("z1", 5000) + bytes(3 * 4096) + blob("z2", 100))
    b.file("./sizes/all-zero", bytes(5 * 4096))

    # Symlinks.
    b.dir("./links")
    b.symlink("./links/fast", "target")
    b.symlink("./links/fast59", "t" * 59)
    b.symlink("./links/slow60", "s" * 60)
    b.symlink("./links/slow1000", "/".join(["seg"] * 250))
    # (components stay <= 255 bytes: ext4-view rejects longer ones)
    b.symlink("./links/slow3999", "/".join(["y" * 99] * 40))
    b.symlink("./links/utf8", "\u65e5\u672c/\U0001F980")
    b.symlink("./links/dangling", "/does/not/exist")
    b.symlink("./links/dir", "../names")

    # Hard links across directories.
    b.dir("./hard")
    b.dir("./hard/a")
    b.file("./hard/a/file", blob("hard", 10000), mode=0o640, uid=1234, gid=4321,
           pax=xattrs(**{"user.shared": b"shared-xattr"}))
    b.dir("./hard/b")
    b.hardlink("./hard/b/link1", "./hard/a/file")
    b.hardlink("./hard/c/d/link2", "hard/a/file")  # implicit parents, no "./"
    b.file("./hard/a/other", b"other\n")
    b.hardlink("./hard/b/other-link", "./hard/a/other")
    b.file("./hard/a/empty", b"")
    b.hardlink("./hard/empty-link", "./hard/a/empty")

    # Devices, FIFOs.
    b.dir("./dev")
    b.dev("./dev/null", tarfile.CHRTYPE, 1, 3, mode=0o666)
    b.dev("./dev/sda1", tarfile.BLKTYPE, 8, 1)
    b.dev("./dev/chr-big", tarfile.CHRTYPE, 300, 70000)
    b.dev("./dev/blk-big", tarfile.BLKTYPE, 259, 1048575)
    b.dev("./dev/chr-max", tarfile.CHRTYPE, 4095, 256)
    b.dev("./dev/blk-minor", tarfile.BLKTYPE, 7, 300)
    b.dev("./dev/fifo", tarfile.FIFOTYPE, 0, 0, mode=0o600)

    # Special mode bits.
    b.dir("./modes")
    b.file("./modes/setuid", b"#!/bin/sh\n", mode=0o4755)
    b.file("./modes/setgid", b"#!/bin/sh\n", mode=0o2755)
    b.file("./modes/all", b"", mode=0o7777)
    b.file("./modes/none", b"", mode=0o000)
    b.dir("./modes/sticky", mode=0o1777)
    b.dir("./modes/sgid-dir", mode=0o2775)
    b.dir("./modes/none-dir", mode=0o000)

    # Xattrs.
    cap = struct.pack("<IIIII", 0x02000002, 0x00003000, 0, 0, 0)
    b.dir("./xattr", pax=xattrs(**{"security.selinux": b"system_u:object_r:etc_t:s0\x00"}))
    b.file("./xattr/cap", b"\x7fELF", mode=0o755,
           pax=xattrs(**{"security.capability": cap}))
    b.file("./xattr/big", b"big xattr\n",
           pax=xattrs(**{"user.big": blob("bigx", 2000)}))
    b.file("./xattr/many", b"many\n", pax=xattrs(**{
        f"user.attr{i}": blob(f"many{i}", 150) for i in range(6)}))
    b.file("./xattr/namespaces", b"ns\n", pax=xattrs(**{
        "user.mime_type": b"text/plain",
        "trusted.overlay.opaque": b"y",
        "security.selinux": b"system_u:object_r:bin_t:s0\x00",
        "user.empty": b"",
    }))
    b.symlink("./xattr/link", "cap",
              pax=xattrs(**{"security.selinux": b"system_u:object_r:lnk_t:s0\x00"}))
    acl = posix_acl([(ACL_USER_OBJ, 7, UNDEF), (ACL_USER, 5, 1000),
                     (ACL_GROUP_OBJ, 5, UNDEF), (ACL_GROUP, 4, 2000),
                     (ACL_MASK, 5, UNDEF), (ACL_OTHER, 0, UNDEF)])
    b.file("./xattr/acl", b"acl\n", mode=0o750,
           pax=xattrs(**{"system.posix_acl_access": acl}))
    dacl = posix_acl([(ACL_USER_OBJ, 7, UNDEF), (ACL_GROUP_OBJ, 5, UNDEF),
                      (ACL_OTHER, 5, UNDEF)])
    b.dir("./xattr/acl-dir", mode=0o755,
          pax=xattrs(**{"system.posix_acl_access": acl,
                        "system.posix_acl_default": dacl}))

    # Owners beyond 16 bits.
    b.dir("./owners")
    b.file("./owners/u65535", b"", uid=65535, gid=65535)
    b.file("./owners/u65536", b"", uid=65536, gid=65537)
    b.file("./owners/u100000", b"", uid=100000, gid=200000)
    b.file("./owners/u4e9", b"", uid=4_000_000_000, gid=3_000_000_000)
    b.dir("./owners/dir", uid=70000, gid=80000)

    # Deep paths: 60 levels.
    path = "./deep"
    b.dir(path)
    for i in range(60):
        path += f"/level{i:02}"
        b.dir(path, mode=0o700 if i % 7 == 0 else 0o755)
    b.file(path + "/bottom", b"deep file\n")
    b.symlink(path + "/up", "../" * 60 + "names")

    # Times.
    b.dir("./times")
    b.file("./times/ns", b"", pax={"mtime": "1700000000.123456789"})
    b.file("./times/ns-small", b"", pax={"mtime": "1700000001.000000001"})
    b.file("./times/zero", b"", mtime=0)
    b.file("./times/y2100", b"", pax={"mtime": "4102444800.5"})
    b.dir("./times/dir-ns", pax={"mtime": "1600000000.999999999"})
    b.symlink("./times/link-ns", "ns", pax={"mtime": "1500000000.25"})

    # Duplicates: the later entry wins.
    b.dir("./dups")
    b.file("./dups/file", b"old content\n", mode=0o600)
    b.file("./dups/file", b"new content, longer\n", mode=0o644, uid=7)
    b.dir("./dups/d", mode=0o755)
    b.file("./dups/d/child", b"child\n")
    b.dir("./dups/d", mode=0o700, uid=5)
    b.symlink("./dups/link", "one")
    b.symlink("./dups/link", "two")

    # Implicit parents.
    b.file("./implicit/x/y/file", b"implicit\n")
    b.file("no-dot-prefix", b"plain name\n")
    b.close()


def gen_sparse_pax(out, version):
    """A 20 MiB sparse file with 12 data runs (one at the very end) and an
    all-hole file, written by GNU tar as PAX sparse format `version`
    (0.0, 0.1 or 1.0), with a long path so the real name matters."""
    stage = tempfile.mkdtemp(prefix="ext4b-sparse-pax-", dir=os.environ.get("TMPDIR"))
    try:
        root = os.path.join(stage, "root")
        d = os.path.join(root, "var", "lib", "a-rather-long-directory-name-" + "y" * 60)
        os.makedirs(d)
        size = 20 * 1024 * 1024
        with open(os.path.join(d, "data.img"), "wb") as f:
            f.truncate(size)
            for i in range(11):
                f.seek(i * (1024 * 1024 + 4321) + 17)
                f.write(blob(f"pax{i}", 4096 * (i % 3) + 999))
            f.seek(size - 5)
            f.write(b"tail!")
        with open(os.path.join(d, "holes.img"), "wb") as f:
            f.truncate(3 * 1024 * 1024)
        for p in ("var/lib", "var"):
            os.utime(os.path.join(root, p), (BASE_MTIME, BASE_MTIME))
        subprocess.run(
            ["tar", "--format=posix", "--sparse", f"--sparse-version={version}",
             "--numeric-owner", "--owner=0", "--group=0", "--sort=name",
             "--mtime=@%d" % BASE_MTIME, "--pax-option=delete=atime,delete=ctime",
             "-C", root, "-cf", out, "var"],
            check=True)
    finally:
        shutil.rmtree(stage)


def gen_gnu(out):
    """GNU format: names and link targets over 100 bytes go in `L` and `K`
    members (././@LongLink) before the member they belong to."""
    b = Builder(out, fmt=tarfile.GNU_FORMAT)
    b.dir("./")
    deep = "./" + "/".join(f"directory-{i:02}" for i in range(12))
    b.dir(deep)
    b.file(deep + "/a-file-with-a-long-name-" + "x" * 120, blob("gnu", 5000))
    b.symlink("./short-link", "/" + "t" * 150 + "/target")
    b.hardlink("./hard", deep[2:] + "/a-file-with-a-long-name-" + "x" * 120)
    b.file("./plain", b"plain\n")
    b.close()


def main():
    case, out = sys.argv[1], sys.argv[2]
    cases = {"scale": gen_scale, "sparse": gen_sparse, "meta": gen_meta,
             "gnu": gen_gnu}
    for v in ("0.0", "0.1", "1.0"):
        cases[f"sparse-pax-{v}"] = lambda out, v=v: gen_sparse_pax(out, v)
    cases[case](out)


if __name__ == "__main__":
    main()
