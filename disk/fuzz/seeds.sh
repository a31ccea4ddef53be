#!/bin/sh
# Seed the disk fuzz corpora with real small images: made by sgdisk, sfdisk,
# mkfs.vfat, mkfs.ext4 and mtools here, and by kubebake's own writers
# (src/make_seeds.rs). Run from disk/fuzz; writes corpus/<target>/.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
cd "$(dirname "$0")"
c=corpus
mkdir -p $c/gpt $c/mbr $c/fat $c/ext4 $c/image
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# GPT by sgdisk: 512-byte sectors, three partitions, names and attributes.
truncate -s 96K "$t/gpt.img"
sgdisk -n1:34:80 -t1:ef00 -c1:EFI -n2:81:120 -t2:8304 -c2:root -A2:set:60 \
    -n3:121:0 -t3:8300 "$t/gpt.img" >/dev/null
cp "$t/gpt.img" $c/gpt/sgdisk-3parts
# A hybrid: sgdisk's MBR with the GPT partitions mirrored.
cp "$t/gpt.img" "$t/hybrid.img"
sgdisk -h1:EE "$t/hybrid.img" >/dev/null
cp "$t/hybrid.img" $c/gpt/sgdisk-hybrid
head -c 4096 "$t/hybrid.img" > $c/mbr/sgdisk-hybrid

# MBR by sfdisk: primaries and an extended partition with a logical one.
truncate -s 64K "$t/mbr.img"
printf 'label: dos\nlabel-id: 0x1234abcd\nstart=1, size=40, type=c, bootable\nstart=41, size=40, type=5\nstart=42, size=20, type=83\n' \
    | sfdisk -q "$t/mbr.img" >/dev/null
head -c 4096 "$t/mbr.img" > $c/mbr/sfdisk-extended

# FAT12 and FAT16 by mkfs.vfat, with a loader entry, cmdline.txt and a NoCloud seed
# (user-data, nodes/) by mtools.
for spec in "12 128" "16 2100"; do
    set -- $spec
    f="$t/fat$1.img"
    mkfs.vfat -C -F "$1" -s 1 -n "FAT$1" -i 1234abcd "$f" "$2" >/dev/null
    export MTOOLS_SKIP_CHECK=1
    printf 'options root=PARTLABEL=root-a ro\n' > "$t/entry.conf"
    printf 'console=serial0\n' > "$t/cmdline.txt"
    mmd -i "$f" ::/loader ::/loader/entries
    mcopy -i "$f" "$t/entry.conf" ::/loader/entries/kubebake.conf
    mcopy -i "$f" "$t/cmdline.txt" ::/cmdline.txt
    printf '#cloud-config\nhostname: n1\n' > "$t/user-data"
    mmd -i "$f" ::/nodes
    mcopy -i "$f" "$t/user-data" ::/user-data
    mcopy -i "$f" "$t/user-data" ::/nodes/52-54-00-12-34-56.yaml
    cp "$f" $c/fat/mkfs-vfat-fat$1
done

# ext4 by mkfs.ext4 -d with a manifest, 1 KiB blocks, small.
mkdir -p "$t/tree/usr/lib/kubebake" "$t/tree/etc"
printf '{"profile":"p","components":[]}\n' > "$t/tree/usr/lib/kubebake/manifest.json"
printf 'node\n' > "$t/tree/etc/hostname"
ln -s usr/lib "$t/tree/lib"
mkfs.ext4 -q -b 1024 -N 32 -d "$t/tree" "$t/ext4.img" 256K
cp "$t/ext4.img" $c/ext4/mkfs-ext4-256k
mkfs.ext4 -q -b 4096 -O ^has_journal -d "$t/tree" "$t/ext4b.img" 1M
cp "$t/ext4b.img" $c/ext4/mkfs-ext4-nojournal-1m

cargo run -q --release --bin make_seeds -- "$c"
ls -l $c/*
