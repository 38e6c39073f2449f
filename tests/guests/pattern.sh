# pattern.sh — sourced by the guest tests: pattern_file FILE writes 8 MiB in the pattern the pvh64
# guest checks an initrd against (8-byte word I holds I * 0x9e3779b97f4a7c15 + 1; pvh64.c).
pattern_file() {
    python3 -c "import array, sys; K = 0x9e3779b97f4a7c15
open(sys.argv[1], 'wb').write(array.array('Q', ((i * K + 1) % 2**64 for i in range(1 << 20))).tobytes())" "$1"
}
