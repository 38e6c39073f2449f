# thp — guest RAM on transparent huge pages where the host gives them only when asked (L1 set to
# THP madvise, Debian's default): with --thp on the Linux guest's RAM holds huge pages while it
# runs and the initrd is read before the first instruction; with --thp off it holds none and the
# initrd loads lazily (src/vm/lazyload.c). L1's own setting is restored afterwards.
# lab: vmm=truce timeout=180 needs=boot-pvh
thp_ctl=/sys/kernel/mm/transparent_hugepage/enabled
thp_was=$(sed 's/.*\[\(.*\)\].*/\1/' "$thp_ctl")
trap 'echo "$thp_was" >"$thp_ctl"' EXIT
echo madvise >"$thp_ctl" || fail "cannot set L1's THP policy to madvise"
for thp in on off; do
    guest_boot -k small -m 128 -a lab.end=poweroff -H TRUCE-INIT -x --thp -x $thp -x --log-level -x debug
    expect_init
    expect_end poweroff
    lazy=$(tr -d '\r' <"$GUEST_OUT" | grep -c 'lazy load: .* pieces') || true
    echo "thp=$thp: guest RAM ${guest_rss_kb} KiB resident at /init, ${guest_huge_kb} KiB of it on huge pages; lazy load lines: $lazy"
    case $thp in
    on)
        [ "$guest_huge_kb" -ge 4096 ] || fail "--thp on: $guest_huge_kb KiB of guest RAM on huge pages"
        [ "$lazy" = 0 ] || fail "--thp on: the initrd loaded lazily onto 4 KiB pages"
        ;;
    off)
        [ "$guest_huge_kb" = 0 ] || fail "--thp off: $guest_huge_kb KiB of guest RAM on huge pages"
        [ "$lazy" = 1 ] || fail "--thp off: the initrd did not load lazily"
        ;;
    esac
done
