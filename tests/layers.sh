#!/usr/bin/env bash
# layers.sh — the #include edges between the folders of src/ only point down the layers:
#   util -> platform -> vm -> bus -> {dev, virtio, backend, mmds} -> {boot, ui} -> {machine, sandbox} -> api
#   -> the top (src/*.c, src/*.h: cli, main) -> manager (truced, trucectl: separate binaries that
#   drive truce processes through their API; they link only api/http.c of the VMM)
# A file may include headers of its own layer and of the layers below it. Prints one PASS/FAIL
# line per check. `layers.sh DIR` checks another tree (DIR/src); the first check runs the checker
# on a tree with one bad edge made up here, so a broken checker cannot pass.
set -u
cd "$(dirname "$0")/.."

rank() { # rank FOLDER: the layer of a folder of src/ ("" is the top), or nothing when unknown
    case "$1" in
    util) echo 0 ;;
    platform) echo 1 ;;
    vm) echo 2 ;;
    bus) echo 3 ;;
    dev | virtio | backend | mmds) echo 4 ;;
    boot | ui) echo 5 ;;
    machine | sandbox) echo 6 ;;
    api) echo 7 ;;
    "") echo 8 ;;
    manager) echo 9 ;;
    esac
}

# check ROOT: print every edge ROOT/src breaks ("file: includes header (from -> to)"), and every
# file in a folder no layer names. Exit status 1 when there is any.
check() {
    local root=$1 bad=0 f dir inc to rf rt
    while IFS= read -r f; do
        dir=${f#"$root"/src/}
        dir=$(dirname "$dir")
        [ "$dir" = . ] && dir=""
        rf=$(rank "${dir%%/*}")
        if [ -z "$rf" ]; then
            echo "$f: folder ${dir%%/*} belongs to no layer (add it to tests/layers.sh)"
            bad=1
            continue
        fi
        while IFS= read -r inc; do
            to=$(dirname "$inc")
            [ "$to" = . ] && to=""
            rt=$(rank "${to%%/*}")
            if [ -z "$rt" ] || [ "$rt" -gt "$rf" ]; then
                echo "$f: includes \"$inc\" (${dir:-top} -> ${to:-top})"
                bad=1
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done < <(find "$root/src" -name '*.[ch]' | sort)
    return $bad
}

selftest() { # a made-up tree: vm includes dev (up), dev includes vm (down)
    local t
    t=$(mktemp -d)
    mkdir -p "$t/src/vm" "$t/src/dev"
    printf '#include "dev/dev.h"\n' >"$t/src/vm/vm.c"
    printf '#include "vm/vm.h"\n' >"$t/src/dev/dev.c"
    local out
    out=$(check "$t")
    local rc=$?
    rm -rf "$t"
    if [ $rc = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q 'vm.c: includes "dev/dev.h" (vm -> dev)'; then
        echo "PASS layers/selftest"
    else
        echo "FAIL layers/selftest: the checker did not catch exactly the bad edge: $out"
    fi
}

root=${1:-.}
selftest
if out=$(check "$root"); then
    echo "PASS layers ($(find "$root/src" -name '*.[ch]' | wc -l) files)"
else
    echo "FAIL layers: $(echo "$out" | wc -l) edges point up:"
    echo "$out" | sed 's/^/    /'
fi
exit 0
