# initrd-lazy — the Debian kernel with its initrd loaded behind its back (src/vm/lazyload.c): the
# initrd scenario's 16 MiB random payload keeps its sha256 when the loader runs front to back
# (TRUCE_BOOT_LOAD=lazy) and when every piece comes through a fault as the kernel unpacks it
# (demand). L1 backs RAM with huge pages unasked, where truce loads eagerly unless told.
# lab: vmm=truce timeout=240 needs=boot-bzimage
dd if=/dev/urandom of=payload bs=1M count=16 2>/dev/null
sum=$(sha256sum payload | cut -d' ' -f1)
for mode in lazy demand; do
    TRUCE_BOOT_LOAD=$mode guest_boot -f payload:/lab/payload -a "lab.check=initrd-sum:$sum" \
        -x --log-level -x debug
    expect_init
    expect_guest initrd-sum
    expect_end poweroff
    # "lazy load: LOADED of PIECES pieces (KiB) in MS ms, FAULTS for faults"
    set -- $(tr -d '\r' <"$GUEST_OUT" |
        sed -n 's/.*lazy load: \([0-9]*\) of \([0-9]*\) pieces.* \([0-9]*\) for faults.*/\1 \2 \3/p')
    [ $# = 3 ] && [ "$1" = "$2" ] && [ "$2" -gt 32 ] || fail "$mode: not all loaded lazily: '$*'"
    [ $mode = lazy ] || [ "$3" = "$2" ] || fail "demand: $3 of $2 pieces through a fault"
    echo "$mode: $2 pieces, $3 through a fault"
done
