#!/usr/bin/env bash
# Runs a command as root inside Debian's generic kernel (the one with wireguard.ko) booted under
# QEMU with software emulation (TCG), seeing this host's root file system read-only over 9p.
# This is how the kernel WireGuard backend gets a real kernel in CI on hosts without the module.
#
#   scripts/kernel-vm.sh [options] -- COMMAND [ARGS...]
#
# Exits with the command's status; 124 when the command ran past --timeout (as timeout(1));
# 125 when the harness itself failed (download, initramfs, boot, the VM dying mid-command).
# docs/kernel-vm.md has the details, measured timings and how to debug a boot.
set -euo pipefail

readonly EXIT_TIMEOUT=124 EXIT_HARNESS=125

usage() {
    cat <<'EOF'
Usage: scripts/kernel-vm.sh [options] -- COMMAND [ARGS...]
       scripts/kernel-vm.sh --prepare

Boots Debian's generic kernel under qemu-system-x86_64 -accel tcg, with the host's / shared
read-only, and runs COMMAND there as root. Exits with COMMAND's status (124: timed out,
125: the harness or the boot failed).

Options:
  -C, --workdir DIR     directory COMMAND runs in (default: the repository root)
  -e, --env NAME[=VAL]  set NAME for COMMAND (without =VAL: this shell's value); repeatable.
                        Values travel in a file, never on the kernel command line.
  -t, --timeout SEC     time COMMAND may take inside the VM (default 1200; KERNEL_VM_TIMEOUT)
  --boot-timeout SEC    time the boot may take (default 300; KERNEL_VM_BOOT_TIMEOUT)
  -m, --memory MIB      guest memory (default 2048; KERNEL_VM_MEMORY)
  -s, --smp N           guest CPUs (default 2; KERNEL_VM_SMP)
  --append ARGS         more kernel command-line arguments (KERNEL_VM_APPEND; e.g. loglevel=7)
  --overlay             make DIR writable inside the VM (overlayfs on tmpfs; writes are lost)
  -q, --quiet           do not stream the console; print COMMAND's output when it ends
  -i, --interactive     the terminal is the guest's console, COMMAND's standard input too
                        (for debugging: `-i -- bash`); a failed boot drops to a busybox shell
  -o, --output FILE     also save COMMAND's output (stdout and stderr) to FILE
  --cache DIR           kernel and initramfs cache (default: <repo>/.build-vm; KERNEL_VM_CACHE)
  --prepare             download the kernel and build the initramfs, then exit
  -h, --help            this text
EOF
}

die() { echo "kernel-vm: $*" >&2; exit "$EXIT_HARNESS"; }
say() { echo "kernel-vm: $*" >&2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
helpers=$repo/scripts/kernel-vm

memory=${KERNEL_VM_MEMORY:-2048}
smp=${KERNEL_VM_SMP:-2}
timeout=${KERNEL_VM_TIMEOUT:-1200}
boot_timeout=${KERNEL_VM_BOOT_TIMEOUT:-300}
cache=${KERNEL_VM_CACHE:-$repo/.build-vm}
workdir=$repo
overlay=0
quiet=0
interactive=0
output_file=
prepare_only=0
envs=()
append=${KERNEL_VM_APPEND:-}

# Loaded by /init before anything else runs, with their dependencies (udp_tunnel,
# ip6_udp_tunnel, the curve25519/chacha20/poly1305 libraries, stp, llc, netfs, ...) resolved by
# modprobe from modules.dep. Built-in ones (af_packet in Debian's kernel) are skipped.
modules=(virtio_pci virtio_rng 9pnet_virtio 9p overlay wireguard veth bridge tun af_packet)

need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (--help)"; }
while (($#)); do
    case $1 in
        -C|--workdir) need_value "$@"; workdir=$2; shift 2 ;;
        -e|--env) need_value "$@"; envs+=("$2"); shift 2 ;;
        -t|--timeout) need_value "$@"; timeout=$2; shift 2 ;;
        --boot-timeout) need_value "$@"; boot_timeout=$2; shift 2 ;;
        -m|--memory) need_value "$@"; memory=$2; shift 2 ;;
        -s|--smp) need_value "$@"; smp=$2; shift 2 ;;
        --append) need_value "$@"; append=$2; shift 2 ;;
        --overlay) overlay=1; shift ;;
        -q|--quiet) quiet=1; shift ;;
        -i|--interactive) interactive=1; shift ;;
        -o|--output) need_value "$@"; output_file=$2; shift 2 ;;
        --cache) need_value "$@"; cache=$2; shift 2 ;;
        --prepare) prepare_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        *) usage >&2; die "unknown option '$1' (the command goes after --)" ;;
    esac
done
((prepare_only || $# > 0)) || { usage >&2; die "no command given"; }
for number in "$memory" "$smp" "$timeout" "$boot_timeout"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || die "'$number' is not a positive whole number"
done
workdir=$(cd "$workdir" && pwd -P) || die "no directory '$workdir'"

# qemu-system-x86, busybox-static, cpio, kmod and xz-utils come from install-deps, like everything else the
# project's scripts need: this script installs nothing itself (install-deps installs only what is
# missing, and as non-root only reports it). Run, not sourced as test.sh does: its failure must
# exit 125 here, not 1, which could pass for the command's own status.
"$repo/scripts/install-deps.sh" >&2 || die "scripts/install-deps.sh failed"
for tool in qemu-system-x86_64 cpio depmod modprobe apt-get apt-cache dpkg-deb gzip flock; do
    command -v "$tool" >/dev/null || die "$tool is missing; run scripts/install-deps.sh as root"
done
# The initramfs needs a static busybox: it runs before any shared library is reachable.
busybox=/bin/busybox
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" \
    || die "busybox-static is not installed; run scripts/install-deps.sh as root"

mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
# Runs sharing a cache (parallel CI jobs, worktrees pointed at one KERNEL_VM_CACHE) take turns
# at downloading, unpacking, pruning and building; booting needs no lock.
exec {cache_lock}>"$cache/.lock"
flock "$cache_lock"

# --- The kernel: Debian's generic amd64 flavour, the version apt offers -----------------------

# linux-image-amd64 is the metapackage of the generic flavour (the -cloud one has no 9p); its
# candidate depends on exactly one linux-image-<abi>-amd64, the kernel itself. Reading that from
# apt's lists needs no network, so a cached kernel is reused without downloading anything.
kernel_package=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null \
    | sed -n 's/^Depends: //p' | grep -oE 'linux-image-[0-9][^ ,]*-amd64' | head -n 1 || true)
if [[ -z $kernel_package ]]; then
    # No apt lists (or no network yet): fall back to the newest cached kernel, if any.
    cached=$(find "$cache" -maxdepth 2 -name .complete -path '*/kernel-*' -printf '%h\n' 2>/dev/null \
        | sort -V | tail -n 1)
    [[ -n $cached ]] || die "apt knows no linux-image-amd64 and nothing is cached; run apt-get update"
    kernel_package=linux-image-${cached##*/kernel-}
    say "apt knows no linux-image-amd64; using the cached $kernel_package"
fi
[[ $kernel_package =~ ^linux-image-[0-9.]+-[0-9]+-amd64$ ]] \
    || die "unexpected kernel package '$kernel_package' (want the generic linux-image-<abi>-amd64)"
kver=${kernel_package#linux-image-}
kdir=$cache/kernel-$kver

if [[ ! -e $kdir/.complete ]]; then
    say "downloading $kernel_package into $cache"
    staging=$(mktemp -d "$cache/download.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    apt_options=()
    # As root, apt drops to the _apt user to download and warns that it can't write here.
    [[ $(id -u) -eq 0 ]] && apt_options=(-o APT::Sandbox::User=root)
    (cd "$staging" && apt-get -q "${apt_options[@]}" download "$kernel_package") >&2 \
        || die "apt-get download $kernel_package failed (apt-get update?)"
    deb=$(find "$staging" -maxdepth 1 -name "${kernel_package}_*.deb" | head -n 1)
    dpkg-deb -x "$deb" "$staging/root"
    # bookworm ships /lib/modules; later releases ship /usr/lib/modules (merged /usr).
    moddir=$staging/root/lib/modules/$kver
    [[ -d $moddir ]] || moddir=$staging/root/usr/lib/modules/$kver
    [[ -f $staging/root/boot/vmlinuz-$kver && -d $moddir ]] || die "$deb has no vmlinuz or module tree"
    mkdir -p "$staging/kernel/lib/modules"
    mv "$staging/root/boot" "$staging/kernel/boot"
    mv "$moddir" "$staging/kernel/lib/modules/$kver"
    # The package's postinst normally runs depmod; without modules.dep nothing resolves.
    depmod -b "$staging/kernel" "$kver"
    # The compressed bzImage spends ~3 s of emulated time decompressing itself at every boot.
    # Debian's kernel has CONFIG_PVH, so QEMU can start the uncompressed ELF inside it directly:
    # find the payload's magic (xz in bookworm, zstd later) and unpack it once, here.
    vmlinuz=$staging/kernel/boot/vmlinuz-$kver
    # (What follows the payload in the file makes the decompressors complain; the ELF check is
    # what counts.)
    for format in $'\xfd7zXZ':'xz --single-stream' $'\x28\xb5\x2f\xfd':zstd; do
        offset=$(LC_ALL=C grep -aboF -m 1 "${format%%:*}" "$vmlinuz" | head -n 1 | cut -d: -f1) || true
        [[ -n $offset ]] || continue
        # shellcheck disable=SC2086 # the decompressor's name and options, split on purpose
        tail -c +"$((offset + 1))" "$vmlinuz" | ${format#*:} -dcq 2>/dev/null > "$staging/kernel/boot/vmlinux" || true
        [[ $(head -c 4 "$staging/kernel/boot/vmlinux") == $'\x7fELF' ]] && break
        rm -f "$staging/kernel/boot/vmlinux"
    done
    dpkg-deb -f "$deb" Package Version > "$staging/kernel/package"
    touch "$staging/kernel/.complete"
    # Older kernels and their initramfs images are dead weight in a CI cache.
    find "$cache" -mindepth 1 -maxdepth 1 \( -name 'kernel-*' -o -name 'initramfs-*' \) \
        -exec rm -rf {} +
    mv "$staging/kernel" "$kdir"
    rm -rf "$staging"
    trap - EXIT
fi
kernel_image=$kdir/boot/vmlinux   # the PVH entry point, if the unpacking above worked
[[ -e $kernel_image ]] || kernel_image=$kdir/boot/vmlinuz-$kver
kmodules=$kdir/lib/modules/$kver

# --- The initramfs: busybox, /init, the modules above and what they depend on -----------------

# Rebuilt whenever one of its inputs (this script included) changes; the name carries their hash.
key=$( { echo "$kver ${modules[*]}"; cat "${BASH_SOURCE[0]}" "$helpers/init" "$busybox"; } \
    | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$key.cpio.gz
if [[ ! -e $initrd ]]; then
    say "building $(basename "$initrd")"
    staging=$(mktemp -d "$cache/initramfs.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    root=$staging/root
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,job,newroot,etc/kernel-vm,lib/modules/"$kver"}
    cp "$busybox" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"   # /init's interpreter; /init links the other applets itself
    install -m 0755 "$helpers/init" "$root/init"
    wanted=()
    for module in "${modules[@]}"; do
        # --show-depends prints "insmod <path>" for the module and each dependency, in load
        # order, or "builtin <name>" for a module compiled into the kernel. (-C /dev/null: the
        # host's modprobe.d is about the host's kernel.)
        plan=$(modprobe -C /dev/null -d "$kdir" -S "$kver" --show-depends "$module") \
            || die "module $module is not in $kernel_package"
        [[ $plan == builtin* ]] && continue
        wanted+=("$module")
        while read -r verb path _; do
            [[ $verb == insmod ]] || continue
            relative=${path#"$kmodules"/}
            mkdir -p "$root/lib/modules/$kver/$(dirname "$relative")"
            cp "$path" "$root/lib/modules/$kver/$relative"
        done <<< "$plan"
    done
    cp "$kmodules"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
    depmod -b "$root" "$kver"
    printf '%s\n' "${wanted[@]}" > "$root/etc/kernel-vm/modules"
    # /dev/console is not needed here: the kernel's built-in initramfs already has it.
    (cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 > "$staging/initrd"
    find "$cache" -maxdepth 1 -name "initramfs-$kver-*.cpio.gz" -delete
    mv "$staging/initrd" "$initrd"
    rm -rf "$staging"
    trap - EXIT
fi

exec {cache_lock}>&-

if ((prepare_only)); then
    say "ready: $kernel_image, $initrd"
    exit 0
fi

# --- The job: what the guest's /init reads from the writable 9p export -----------------------

quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kernel-vm.XXXXXX")
job=$tmp/job
console=$tmp/console.log
qemu_log=$tmp/qemu.log
qemu_pid=
tee_pid=

# shellcheck disable=SC2317  # reached through the trap
cleanup() {
    local status=$?
    if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null || true
        # QEMU exits at once on SIGTERM; SIGKILL if it is wedged.
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    # tee ends by itself once QEMU has closed the FIFO.
    [[ -n $tee_pid ]] && { wait "$tee_pid" 2>/dev/null || true; }
    # QEMU makes the terminal raw and restores it when it exits, unless it was killed.
    if ((interactive)) && [[ -t 0 ]]; then stty sane 2>/dev/null || true; fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -m 0700 "$job"
{
    echo "WORKDIR=$(quote "$workdir")"
    echo "MODULES_DIR=$(quote "$kmodules")"
    echo "TIMEOUT=$(quote "$timeout")"
    echo "OVERLAY=$overlay"
    echo "INTERACTIVE=$interactive"
    echo "GUEST_TERM=$(quote "${TERM:-vt100}")"
} > "$job/job.conf"
{
    echo "# Written by scripts/kernel-vm.sh; run by the guest's /init inside the host's root."
    for setting in "${envs[@]}"; do
        name=${setting%%=*}
        [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--env '$setting': not a variable name"
        if [[ $setting == *=* ]]; then value=${setting#*=}; else value=${!name-}; fi
        echo "export $name=$(quote "$value")"
    done
    echo "cd -- $(quote "$workdir") || exit $EXIT_HARNESS"
    printf 'exec'
    for argument in "$@"; do printf ' %s' "$(quote "$argument")"; done
    echo
} > "$job/command.sh"

# panic=-1: a panic reboots at once, and -no-reboot turns that into QEMU exiting.
# 8250.nr_uarts=1: the console's UART only, not four probed ones.
kernel_arguments="console=ttyS0 quiet panic=-1 8250.nr_uarts=1"
# The guest's /init drops to a shell on a boot failure instead of powering off.
((interactive)) && kernel_arguments+=" kernel_vm.rescue"
[[ -n $append ]] && kernel_arguments+=" $append"
# ',' separates QEMU's suboptions; a literal one is written ',,'.
# shellcheck disable=SC2054  # those commas
# -accel tcg: KVM is not available (or not usable) on the hosts this runs on; thread=multi gives
# each guest CPU a host thread. -cpu max: every instruction-set feature TCG emulates (SSSE3,
# AVX2, AES-NI, RDRAND...), so the kernel and libraries choose the code paths real CPUs take.
qemu=(qemu-system-x86_64
    -accel tcg,thread=multi -cpu max -m "$memory" -smp "$smp"
    # Not -nographic: that multiplexes QEMU's monitor onto stdio and makes a terminal raw, so
    # Ctrl-C would reach the guest instead of stopping this script. Only the serial console is
    # created (below; no VGA, no NIC needing option ROMs), on QEMU's standard output.
    -nodefaults -no-user-config -display none -no-reboot
    -kernel "$kernel_image" -initrd "$initrd" -append "$kernel_arguments"
    -virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=${job//,/,,},mount_tag=job,security_model=none"
    # Entropy from the host, so nothing in the guest (wg genkey, TLS) waits for the RNG.
    -device virtio-rng-pci
)
if ((interactive)); then
    # signal=off: Ctrl-C goes to the guest's command, not to QEMU.
    # shellcheck disable=SC2054  # QEMU's commas
    qemu+=(-chardev stdio,id=console,signal=off -serial chardev:console)
else
    qemu+=(-serial stdio)
fi

say "booting $kernel_package ($(sed -n 's/^Version: //p' "$kdir/package")) under TCG:" \
    "$smp CPUs, $memory MiB; running: $*"
start=$(date +%s.%N)
if ((interactive)); then
    # The terminal is the guest's console both ways; nothing is recorded. (`<&0`: a background
    # job's standard input would otherwise be /dev/null.)
    "${qemu[@]}" <&0 2>"$qemu_log" &
    qemu_pid=$!
else
    # The console goes through a FIFO to tee, which keeps a copy for the error report and
    # streams it unless --quiet. (Background jobs of a script ignore SIGINT: Ctrl-C reaches this
    # script's trap, which stops QEMU; tee then sees the end of the FIFO.)
    mkfifo "$tmp/console.fifo"
    if ((quiet)); then tee "$console" <"$tmp/console.fifo" >/dev/null &
    else tee "$console" <"$tmp/console.fifo" & fi
    tee_pid=$!
    "${qemu[@]}" </dev/null >"$tmp/console.fifo" 2>"$qemu_log" &
    qemu_pid=$!
fi

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
killed_for=
while kill -0 "$qemu_pid" 2>/dev/null; do
    sleep 0.5
    if [[ ! -e $job/started ]]; then
        if (($(date +%s) - ${start%.*} > boot_timeout)); then killed_for=boot; break; fi
    elif (($(date +%s) - $(stat -c %Y "$job/started") > timeout + 30)); then
        # The guest's own timeout(1) should have fired: the guest is stuck.
        killed_for='command'; break
    fi
done
if [[ -n $killed_for ]]; then kill "$qemu_pid" 2>/dev/null || true; fi
qemu_status=0
wait "$qemu_pid" || qemu_status=$?
qemu_pid=
end=$(date +%s.%N)
if [[ -n $tee_pid ]]; then wait "$tee_pid" || true; tee_pid=; fi

last_lines() {
    if ((quiet)); then   # otherwise on the screen already
        say "last console lines:"
        tail -n 40 "$console" | sed 's/^/  | /' >&2
    fi
    if [[ -s $qemu_log ]]; then say "QEMU said:"; sed 's/^/  | /' "$qemu_log" >&2; fi
    return 0
}

if ((quiet)) && [[ -e $job/output ]]; then cat "$job/output"; fi
if [[ -n $output_file && -e $job/output ]]; then cp "$job/output" "$output_file"; fi

if [[ ! -e $job/started ]]; then
    last_lines
    [[ -e $job/boot-error ]] && say "boot failed: $(cat "$job/boot-error")"
    if [[ $killed_for == boot ]]; then
        say "the VM did not start the command within ${boot_timeout}s (--boot-timeout)"
    else
        say "the VM stopped before starting the command (QEMU exit status $qemu_status)"
    fi
    say "to see the whole boot: --append loglevel=7; to get a shell where it fails: --interactive"
    exit "$EXIT_HARNESS"
fi

# The guest creates these files through 9p, so their mtimes come from this host's clock.
started=$(stat -c %.9Y "$job/started")
summary="boot $(elapsed "$start" "$started")s (QEMU start to command start;"
summary+=" $(cat "$job/started")s of it since the kernel started)"
[[ -e $job/ended ]] && summary+=", command $(elapsed "$started" "$(stat -c %.9Y "$job/ended")")s"
summary+=", total $(elapsed "$start" "$end")s"
say "$summary"

if [[ -n $killed_for ]]; then
    last_lines
    say "the command ran past --timeout ${timeout}s and the VM had to be stopped"
    exit "$EXIT_TIMEOUT"
fi
if [[ ! -e $job/status ]]; then
    last_lines
    say "the VM stopped while the command ran (QEMU exit status $qemu_status)"
    exit "$EXIT_HARNESS"
fi
status=$(cat "$job/status")
[[ $status =~ ^[0-9]+$ ]] || die "unreadable exit status '$status'"
if ((status == EXIT_TIMEOUT)); then
    say "exit status $status: the command ran past --timeout ${timeout}s (or exited $status itself)"
else
    say "exit status $status"
fi
exit "$status"
