# cpu-template — a custom CPU template (Firecracker's CpuConfig) hides SSE4.2 from the guest, and
# `truce cpu-template verify` says it holds here; without the template the guest has sse4_2.
# lab: vmm=truce timeout=200 needs=boot-bzimage
cat >flag <<'CHECK'
#!/bin/sh
# flag — check: ARG "NAME" must be among /proc/cpuinfo's flags, "!NAME" must not.
name=${1#!}
if grep -qw "$name" /proc/cpuinfo; then has=1; else has=0; fi
want=1
[ "$1" != "$name" ] && want=0
if [ $has = $want ]; then
    echo "GUEST-RESULT PASS flag"
else
    echo "GUEST-RESULT FAIL flag $1 (has=$has)"
fi
CHECK
chmod +x flag
# leaf 1 ECX bit 20 (SSE4.2) fixed to 0; every other bit as the host has it
cat >tmpl.json <<'JSON'
{"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers":
  [{"register": "ecx", "bitmap": "0bxxxxxxxxxxx0xxxxxxxxxxxxxxxxxxxx"}]}]}
JSON
truce cpu-template dump >dump.json || fail "cpu-template dump failed"
grep -q '"cpuid_modifiers"' dump.json || fail "dump has no cpuid_modifiers"
out=$(truce cpu-template verify tmpl.json) || fail "verify: $out"
guest_boot -f flag:/checks/flag -a lab.check=flag:sse4_2
expect_init
expect_guest flag
expect_end poweroff
guest_boot -f flag:/checks/flag -a 'lab.check=flag:!sse4_2' -x --cpu-template -x "$PWD/tmpl.json"
expect_init
expect_guest flag
expect_end poweroff
