# lib.sh — host-side helpers shared by the lab scripts: paths, the artefact cache, input hashing.
# Sourced (bash). Every built artefact lives under $LAB_CACHE/<kind>/<hash of its inputs>/.
# shellcheck shell=bash disable=SC2034 # variables set here are used by the scripts that source it

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LAB_DIR/../.." && pwd)
LAB_CACHE=${TRUCE_CACHE:-$HOME/.cache/truce}
LAB_KVER=${LAB_KVER:-}

# Print a progress line on stderr (stdout carries PASS/FAIL lines only).
lab_log() { printf 'lab: %s\n' "$*" >&2; }

# The L1 machine: QEMU TCG with nested AMD-V booting the cloud kernel $KIMG (lab_cloud_kernel)
# with INITRD and MEM MiB ($LAB_L1_MEM overrides; $LAB_L1_CPUS CPUs, default 1). Fills the array
# L1_QEMU; callers add the console (-nographic -serial stdio, or LAB_L1_TTY) and -append.
# The QEMU is the lab's patched L0 (build-l0.sh) when it is built, else Debian's (LAB_L0=stock
# forces Debian's); LAB_L0_KIND says which.
lab_l1_qemu() { # INITRD MEM
    local l0
    L1_QEMU=(qemu-system-x86_64) LAB_L0_KIND=stock
    if [ "${LAB_L0:-}" != stock ] && l0=$(lab_l0_path) && [ -x "$l0" ]; then
        L1_QEMU=("$l0" -L /usr/share/seabios -L /usr/share/qemu) LAB_L0_KIND=patched
    fi
    L1_QEMU+=(-accel tcg -cpu EPYC,+svm,+npt -M pc -m "${LAB_L1_MEM:-$2}"
        -smp "${LAB_L1_CPUS:-1}" -kernel "$KIMG" -initrd "$1" -no-reboot -nodefaults)
}
# The lab's patched L0 QEMU (build-l0.sh): configure flags, source version, cached binary path.
LAB_L0_CONFIGURE=(--target-list=x86_64-softmmu --prefix=/usr --without-default-features
    --disable-docs --disable-werror --disable-debug-info --disable-tools)
# The Debian source version of the installed qemu-system-x86 (else the newest one apt knows).
lab_l0_version() {
    dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null && return 0
    apt-cache showsrc qemu 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1
}
# Print where build-l0.sh caches the L0 binary for the current inputs (it may not exist yet).
lab_l0_path() {
    local ver
    ver=$(lab_l0_version) && [ -n "$ver" ] || return 1
    echo "$LAB_CACHE/l0-qemu/$(lab_hash "$LAB_DIR/l0-cr8-bql.patch" -- "$ver" "${LAB_L0_CONFIGURE[@]}")/qemu-system-x86_64"
}

# L1's console on this terminal, for interactive use (make demo, make lab-shell).
LAB_L1_TTY=(-display none -chardev stdio,id=con,signal=off -serial chardev:con)

# Run the benchmark scenario NAME (at most TIMEOUT s) in one L1 of MEM MiB booted from INITRD,
# logs under OUT; the lines of L1's serial log that start with TAG go to OUT/samples.txt. Sets
# LAB_BENCH_LOG to that serial log. $LAB_BENCH_APPEND: more arguments for L1's kernel command line
# (the scenario reads them from /proc/cmdline).
lab_bench_run() { # NAME TIMEOUT MEM INITRD TAG OUT
    local name=$1 timeout=$2 mem=$3 initrd=$4 tag=$5 out=$6
    lab_l1_qemu "$initrd" "$mem"
    python3 "$LAB_DIR/lab.py" --log-dir "$out" --scenario "$name:$timeout" \
        --append "console=ttyS0 quiet panic=-1 ${LAB_BENCH_APPEND:-}" -- \
        "${L1_QEMU[@]}" -nographic -serial stdio | tee "$out/result.txt"
    LAB_BENCH_LOG=$(ls -1t "$out"/l1-*.log | head -n 1)
    tr -d '\r' <"$LAB_BENCH_LOG" | grep "^$tag " >"$out/samples.txt" || true
    [ -s "$out/samples.txt" ] || lab_die "no samples; see $LAB_BENCH_LOG"
}

# lab_bench_run once per rep, REPS times, each in a fresh L1 with `lab.rep0=R-1` (and
# $LAB_BENCH_ARGS) on its command line (the scenario runs one rep, numbered R: lab_arg rep0 in
# l1/lib.sh). The lab's L1 (TCG emulating nested SVM) now and then stops dead, no output and no
# heartbeat (the lab runner reruns the scenario once in a fresh L1), or resets itself, mostly
# while an SMP guest boots (the scenario fails); a run per rep loses at most that rep, and a rep
# whose L1 reset runs once more in another. Every rep's L1 logs (a wedged or reset one's, then its
# rerun's) are joined in OUT/all.log, their TAG lines, the first of each (VMM, rep, test), in
# OUT/samples.txt. Sets LAB_BENCH_LOG to OUT/all.log and LAB_BENCH_WEDGED to the reps whose L1
# stopped or reset ("R:stop", "R:reset", comma-separated). Returns 1 when no rep gave a sample.
lab_bench_reps() { # NAME TIMEOUT-PER-REP MEM INITRD TAG OUT REPS
    local name=$1 timeout=$2 mem=$3 initrd=$4 tag=$5 out=$6 reps=$7 r try
    rm -rf "$out"
    mkdir -p "$out"
    : >"$out/all.log"
    LAB_BENCH_WEDGED=
    for r in $(seq "$reps"); do
        for try in 1 2; do
            lab_log "$name: rep $r of $reps in an L1 of its own (up to $timeout s)"
            mkdir -p "$out/rep$r.$try"
            (LAB_BENCH_APPEND="lab.rep0=$((r - 1)) ${LAB_BENCH_ARGS:-}" lab_bench_run "$name" \
                "$timeout" "$mem" "$initrd" "$tag" "$out/rep$r.$try") || lab_log "$name: rep $r gave no samples"
            cat "$out/rep$r.$try"/l1-*.log | tr -d '\r' >>"$out/all.log"
            [ "$(ls "$out/rep$r.$try"/l1-*.log | wc -l)" -lt 2 ] ||
                LAB_BENCH_WEDGED="$LAB_BENCH_WEDGED${LAB_BENCH_WEDGED:+,}$r:stop"
            grep -q 'L1 exited' "$out/rep$r.$try/result.txt" 2>/dev/null || break
            LAB_BENCH_WEDGED="$LAB_BENCH_WEDGED${LAB_BENCH_WEDGED:+,}$r:reset"
        done
    done
    grep -a "^$tag " "$out/all.log" | awk '!seen[$2 " " $3 " " $4]++' >"$out/samples.txt" || true
    LAB_BENCH_LOG=$out/all.log
    [ -s "$out/samples.txt" ] || { lab_log "$name: no samples; see $out/rep*/l1-*.log" && return 1; }
}

# bench/plots.py KIND SOURCE OUT.png with Debian's python3 (its matplotlib). Prints OUT when the
# plot was written; logs why not otherwise.
lab_plot() { # KIND SOURCE OUT
    local py=python3
    [ -x /usr/bin/python3 ] && py=/usr/bin/python3
    if "$py" "$(dirname "${BASH_SOURCE[0]}")/../../bench/plots.py" "$1" "$2" "$3" 2>"$3.err"; then
        rm -f "$3.err"
        echo "$3"
    else
        local hint=
        grep -q matplotlib "$3.err" && hint=" (apt-get install python3-matplotlib)"
        lab_log "no plot: $(tail -n 1 "$3.err")$hint"
        rm -f "$3.err"
    fi
}

# Print one line and exit 1.
lab_die() {
    lab_log "error: $*"
    exit 1
}

# The Debian cloud kernel version the lab uses (LAB_KVER overrides): the one apt's
# linux-image-cloud-amd64 depends on now, else (apt offline) the newest one in the cache.
lab_kver() {
    if [ -n "$LAB_KVER" ]; then
        echo "$LAB_KVER"
        return
    fi
    local v
    v=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        sed -n 's/^ *Depends: linux-image-\([0-9].*-cloud-amd64\)$/\1/p' | head -n 1)
    [ -n "$v" ] || v=$(ls -1 "$LAB_CACHE/cloud-kernel" 2>/dev/null | sort -V | tail -n 1)
    [ -n "$v" ] || return 1
    echo "$v"
}

# Set KVER, KIMG (vmlinuz) and KMOD (modules dir) for the Debian cloud kernel lab_kver names:
# its package fetched with apt-get download and unpacked with dpkg-deb into
# $LAB_CACHE/cloud-kernel/VERSION (once per version), so the host's /boot and /lib/modules are
# never involved. LAB_KERNEL_FROM_HOST=1 uses the host's installed kernel of that version.
lab_cloud_kernel() {
    local v d tmp
    v=$(lab_kver) || return 1
    if [ -n "${LAB_KERNEL_FROM_HOST:-}" ] && [ -f "/boot/vmlinuz-$v" ] && [ -d "/lib/modules/$v" ]; then
        KVER=$v KIMG=/boot/vmlinuz-$v KMOD=/lib/modules/$v
        return 0
    fi
    d=$LAB_CACHE/cloud-kernel/$v
    if [ ! -f "$d/boot/vmlinuz-$v" ] || [ ! -f "$d/lib/modules/$v/modules.dep" ]; then
        lab_log "unpacking linux-image-$v into $d"
        mkdir -p "$LAB_CACHE/cloud-kernel" || return 1
        # unpacked aside and renamed into place: runs from other worktrees share the cache
        tmp=$(mktemp -d "$LAB_CACHE/cloud-kernel/.unpack.XXXXXX") && chmod 755 "$tmp" || return 1
        if ! (cd "$tmp" && apt-get download "linux-image-$v" >/dev/null &&
            dpkg-deb -x "$(ls -1 linux-image-"$v"_*.deb | head -n 1)" root &&
            depmod -b root "$v"); then # the package ships no modules.dep
            rm -rf "$tmp"
            return 1
        fi
        rm -rf "$d"
        mv -T "$tmp/root" "$d" 2>/dev/null || [ -f "$d/lib/modules/$v/modules.dep" ] || {
            rm -rf "$tmp"
            return 1
        }
        rm -rf "$tmp"
    fi
    KVER=$v KIMG=$d/boot/vmlinuz-$v KMOD=$d/lib/modules/$v
}

# Print the path of Debian's memtest86+x64.bin (memtest86+x64.efi beside it): the package the
# archive offers now, fetched with apt-get download and unpacked into
# $LAB_CACHE/memtest/VERSION (never installed: its postinst would run update-grub); apt offline,
# the newest cached one.
lab_memtest() {
    local v d tmp
    v=$(apt-cache policy memtest86+ 2>/dev/null | sed -n 's/^ *Candidate: //p')
    [ -n "$v" ] && [ "$v" != "(none)" ] || v=$(ls -1 "$LAB_CACHE/memtest" 2>/dev/null | sort -V | tail -n 1)
    [ -n "$v" ] || return 1
    d=$LAB_CACHE/memtest/$v
    if [ ! -f "$d/boot/memtest86+x64.bin" ]; then
        mkdir -p "$LAB_CACHE/memtest" || return 1
        tmp=$(mktemp -d "$LAB_CACHE/memtest/.unpack.XXXXXX") && chmod 755 "$tmp" || return 1
        if ! (cd "$tmp" && apt-get download "memtest86+=$v" >/dev/null 2>&1 &&
            dpkg-deb -x "$(ls -1 memtest86+_*.deb | head -n 1)" root); then
            rm -rf "$tmp"
            return 1
        fi
        rm -rf "$d"
        mv -T "$tmp/root" "$d" 2>/dev/null || [ -f "$d/boot/memtest86+x64.bin" ] || {
            rm -rf "$tmp"
            return 1
        }
        rm -rf "$tmp"
    fi
    echo "$d/boot/memtest86+x64.bin"
}

# Hash of the named files' (or directories') contents plus any strings given after "--".
lab_hash() {
    {
        while [ $# -gt 0 ] && [ "$1" != -- ]; do
            if [ -d "$1" ]; then
                (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
            else
                sha256sum <"$1"
            fi
            shift
        done
        [ "${1:-}" = -- ] && shift
        printf '%s\n' "$@"
    } | sha256sum | cut -c1-16
}

# Copy an executable and every shared library ldd lists (with their paths, plus the dynamic
# loader) into the root directory ROOT. Usage: lab_copy_elf ROOT FILE [DEST-PATH]
lab_copy_elf() {
    local root=$1 file=$2 dest=${3:-$2} lib
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$file" "$root$dest"
    for lib in $(ldd "$file" 2>/dev/null | grep -o '/[^ ]*'); do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

# Pack directory DIR as an uncompressed newc cpio archive into OUT (owner root).
lab_cpio() {
    (cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$2.tmp.$$" &&
        mv "$2.tmp.$$" "$2"
}

# Print, deps first and each once, the module files (relative to KMOD) needed to load the named
# modules of the kernel in KMOD (modinfo -F depends, recursively). Uses the global LAB_SEEN.
lab_mod_order() {
    local kmod=$1 base name path dep
    base=$(cd "$kmod/../../.." && pwd)
    shift
    for name in "$@"; do
        case " $LAB_SEEN " in *" $name "*) continue ;; esac
        LAB_SEEN="$LAB_SEEN $name"
        path=$(modinfo -b "$base" -k "$(basename "$kmod")" -n "$name") || return 1
        for dep in $(modinfo -b "$base" -k "$(basename "$kmod")" -F depends "$name" | tr ',' ' '); do
            lab_mod_order "$kmod" "$dep" || return 1
        done
        echo "${path#*/lib/modules/"$(basename "$kmod")"/}"
    done
}

# Copy the named modules and their dependencies from KMOD into DEST/lib/modules/<version>/ and
# write load-order there (one relative path a line, dependencies first). .ko.xz/.ko.zst are
# decompressed so busybox insmod can load them.
lab_copy_modules() {
    local kmod=$1 dest=$2 ver m out
    shift 2
    ver=$(basename "$kmod")
    LAB_SEEN=
    local order
    order=$(lab_mod_order "$kmod" "$@") || return 1
    mkdir -p "$dest/lib/modules/$ver"
    : >"$dest/lib/modules/$ver/load-order"
    for m in $order; do
        out=${m%.xz}
        out=${out%.zst}
        mkdir -p "$dest/lib/modules/$ver/$(dirname "$m")"
        case "$m" in
        *.xz) xz -dc "$kmod/$m" >"$dest/lib/modules/$ver/$out" ;;
        *.zst) zstd -qdc "$kmod/$m" >"$dest/lib/modules/$ver/$out" ;;
        *) cp "$kmod/$m" "$dest/lib/modules/$ver/$out" ;;
        esac || return 1
        echo "$out" >>"$dest/lib/modules/$ver/load-order"
    done
}

# Install busybox (static) into ROOT/bin with a link for every applet.
lab_busybox() {
    local root=$1 bb a
    bb=$(command -v busybox || echo /bin/busybox)
    case "$(ldd "$bb" 2>&1)" in
    *"not a dynamic executable"*) ;;
    *) lab_die "$bb is not static: apt-get install busybox-static" ;;
    esac
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
    cp "$bb" "$root/bin/busybox"
    for a in $("$bb" --list); do
        [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
    done
}

# Create the device nodes an initramfs needs before devtmpfs is mounted (needs root).
lab_devnodes() {
    mkdir -p "$1/dev"
    mknod -m 600 "$1/dev/console" c 5 1
    mknod -m 666 "$1/dev/null" c 1 3
}

# Keep only the newest KEEP entries of the cache directory DIR.
lab_prune() {
    local dir=$1 keep=${2:-3}
    [ -d "$dir" ] || return 0
    ls -1t "$dir" | tail -n +$((keep + 1)) | while read -r old; do rm -rf "${dir:?}/$old"; done
}
