# vmflags.sh — sourced by the guest tests: ram_hg PID SIZE_KIB prints "hg" when process PID's guest
# RAM (its one mapping of SIZE_KIB KiB in /proc/PID/smaps) is advised MADV_HUGEPAGE (--thp).
ram_hg() {
    awk -v s="$2" '/^[0-9a-f]+-[0-9a-f]+ /{n = 0} /^Size:/{n = ($2 == s)}
        n && /^VmFlags:/{for (i = 2; i <= NF; i++) if ($i == "hg") print "hg"; exit}' "/proc/$1/smaps"
}
