#!/usr/bin/env bash
# cputemplate.sh — CPU templates on this host: dump/verify/baseline/fingerprint, bad template
# files refused with status 2, and a template hiding SSE4.2 either seen by the guest (hardware
# KVM) or refused because this KVM cannot apply it (PVM keeps the CPU's own CPUID).
set -u
cd "$(dirname "$0")/../.."
TRUCE=${TRUCE:-build/truce}
A=build/guests/actions.elf
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

result() { # result NAME OK-CONDITION-STATUS MESSAGE
    [ "$2" = 0 ] && echo "PASS $1" || echo "FAIL $1: $3"
}

"$TRUCE" cpu-template dump >"$W/dump.json" 2>"$W/err"
n=$(grep -c '"leaf"' "$W/dump.json")
[ "$n" -ge 4 ]
result cpu-template-dump $? "$n leaves: $(tail -n1 "$W/err")"

out=$("$TRUCE" cpu-template verify "$W/dump.json" 2>&1)
[ $? = 0 ] && [[ "$out" == OK:* ]]
result cpu-template-verify-dump $? "$out"

"$TRUCE" cpu-template baseline "$W/dump.json" "$W/dump.json" >"$W/base.json"
[ "$(grep -c '"leaf"' "$W/base.json")" = "$n" ]
result cpu-template-baseline-self $? "baseline of one host twice has $(grep -c '"leaf"' "$W/base.json") of $n leaves"

"$TRUCE" cpu-template fingerprint | grep -q '"guest_cpu_config"'
result cpu-template-fingerprint $? "no guest_cpu_config"

cat >"$W/hide.json" <<'JSON'
{"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers":
  [{"register": "ecx", "bitmap": "0bxxxxxxxxxxx0xxxxxxxxxxxxxxxxxxxx"}]}]}
JSON
timeout 60 "$TRUCE" run --kernel $A --cmdline cpuid --cpu-template "$W/hide.json" \
    --console "file:$W/cpuid.log" 2>"$W/run.err"
st=$?
if "$TRUCE" check >/dev/null 2>&1; then # hardware KVM: the guest must not see SSE4.2
    ecx=$(grep -o 'ecx [0-9a-f]*' "$W/cpuid.log" | cut -d' ' -f2)
    [ $st = 67 ] && [ -n "$ecx" ] && [ $((0x$ecx >> 20 & 1)) = 0 ]
    result cpu-template-hides-sse4.2 $? "status $st, guest ecx '$ecx'"
else # PVM-backed: refused with the reason, the guest never runs
    [ $st = 2 ] && grep -q "does not apply" "$W/run.err" && [ ! -s "$W/cpuid.log" ]
    result cpu-template-refused-on-pvm $? "status $st: $(tail -n1 "$W/run.err")"
fi

bad() { # bad NAME PATTERN FILE-CONTENT
    printf '%s' "$3" >"$W/bad.json"
    timeout 30 "$TRUCE" run --kernel $A --cpu-template "$W/bad.json" --console none 2>"$W/bad.err"
    local st=$?
    [ $st = 2 ] && grep -q -- "$2" "$W/bad.err"
    result "$1" $? "status $st: $(tail -n1 "$W/bad.err")"
}
bad cpu-template-bad-json "line 1" '{"cpuid_modifiers": ['
bad cpu-template-bad-bitmap "bitmap" '{"cpuid_modifiers": [{"leaf": "1", "subleaf": "0", "flags": 0,
  "modifiers": [{"register": "ecx", "bitmap": "0b12"}]}]}'
bad cpu-template-bad-leaf "not offered by this host" '{"cpuid_modifiers": [{"leaf": "0x4fffffff",
  "subleaf": "0", "flags": 0, "modifiers": [{"register": "eax", "bitmap": "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1"}]}]}'
bad cpu-template-bad-cap "lacks capability" '{"kvm_capabilities": ["4000000"]}'
exit 0
