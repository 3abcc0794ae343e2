#!/bin/sh
# bench/virtio-qemu-bundle.sh DIR: puts this host's QEMU into DIR/qemu, for
# l1/ooh-rig --include DIR (bench/virtio-l1.sh finds it at
# /ooh/include/qemu in L1): qemu-system-x86_64, every shared library it
# loads (ldd) and the dynamic loader in lib/, the firmware -M pc and
# -M microvm load with -kernel in share/ (SeaBIOS, the microvm BIOS, the
# linuxboot and kvmvapic option ROMs), and DIR/qemu/qemu, which runs it
# through that loader and those libraries with -L share. The NICs are given
# romfile= (no PXE ROM), the display is off: nothing else is loaded.
set -eu
[ $# = 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
qemu=$(command -v qemu-system-x86_64) || { echo "$0: no qemu-system-x86_64 here" >&2; exit 1; }
out=$1/qemu
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/share"
cp -L "$qemu" "$out/bin/"
for lib in $(ldd "$qemu" | grep -o '/[^ ]*'); do
	cp -L "$lib" "$out/lib/"
done
loader=$(ldd "$qemu" | grep -o '/[^ ]*ld-linux[^ ]*')
for fw in /usr/share/seabios/bios-256k.bin /usr/share/seabios/bios-microvm.bin \
	/usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/linuxboot.bin \
	/usr/share/qemu/kvmvapic.bin /usr/share/qemu/pvh.bin; do
	cp -L "$fw" "$out/share/"
done
cat >"$out/qemu" <<EOS
#!/bin/sh
d=\$(dirname "\$0")
exec "\$d/lib/$(basename "$loader")" --library-path "\$d/lib" "\$d/bin/qemu-system-x86_64" -L "\$d/share" "\$@"
EOS
chmod 755 "$out/qemu"
"$out/qemu" --version | head -n 1
echo "$0: $(du -sh "$out" | cut -f1) in $out"
