#!/usr/bin/env python3
# start_cpu.py — where one VM's CPU goes, start to exit: REPS back-to-back runs of the tiny PVH guest
# (cmdline `exit`: one line on COM1, then the debug-exit port) under truce or QEMU microvm, sampled
# by `perf record -g` (cpu-clock), each sample put in one bucket by the kernel or library path on
# its stack; prints one JSON object per VMM. Run by bench/start-cpu.sh (see its usage).
import collections
import json
import os
import subprocess
import sys
import tempfile

HZ = 5000
# (bucket, stack symbols that put a sample in it): the first bucket whose symbol is on the stack
BUCKETS = [
    ("teardown: the VM fd's release (kvm_destroy_vm)", ["kvm_vm_release", "kvm_destroy_vm"]),
    ("teardown: process and thread exit", ["do_exit", "do_group_exit", "__x64_sys_exit_group",
                                           "__x64_sys_exit"]),
    ("guest: KVM_RUN, PVM's instruction emulator", ["pvm_emulate_insn_scrubbed.constprop.0",
                                                    "x86_emulate_instruction"]),
    ("guest: KVM_RUN, vcpu_load per entry", ["vcpu_load"]),
    ("guest: KVM_RUN, the rest", ["kvm_arch_vcpu_ioctl_run"]),
    ("KVM_GET_SUPPORTED_CPUID", ["kvm_dev_ioctl_get_cpuid"]),
    ("KVM_CREATE_VM (debugfs files)", ["kvm_create_vm_debugfs", "debugfs_create_file_full"]),
    ("KVM_CREATE_VM (the rest) and other /dev/kvm ioctls", ["kvm_dev_ioctl_create_vm",
                                                             "kvm_create_vm", "kvm_dev_ioctl"]),
    ("KVM_CREATE_VCPU", ["kvm_vm_ioctl_create_vcpu"]),
    ("KVM_SET_CPUID2", ["kvm_vcpu_ioctl_set_cpuid2"]),
    ("memory slots", ["kvm_set_memory_region", "kvm_vm_ioctl_set_memory_region"]),
    ("irqchip and PIT", ["kvm_create_pit", "kvm_pic_init", "kvm_ioapic_init",
                         "kvm_setup_default_irq_routing", "kvm_set_irq_routing"]),
    ("other VM and vCPU ioctls", ["kvm_vm_ioctl", "kvm_vcpu_ioctl", "kvm_arch_vm_ioctl"]),
    ("seccomp filters", ["do_seccomp"]),
    ("Landlock", ["__do_sys_landlock_restrict_self", "__x64_sys_landlock_add_rule",
                  "__do_sys_landlock_create_ruleset"]),
    ("thread creation", ["__do_sys_clone3", "__do_sys_clone", "ret_from_fork"]),
    ("exec and the dynamic linker", ["__x64_sys_execve", "_dl_start", "_dl_relocate_object",
                                     "_dl_map_object", "_dl_map_object_deps", "dl_main",
                                     "_dl_lookup_symbol_x", "do_lookup_x", "_dl_init",
                                     "_dl_catch_exception", "dlopen_implementation"]),
    ("libc start-up CPUID probing", ["init_cpu_features.constprop.0", "handle_amd",
                                     "get_common_indices.constprop.0", "update_active.constprop.0",
                                     "init_cacheinfo", "handle_intel"]),
    ("page faults (the rest)", ["asm_exc_page_fault"]),
    ("other system calls", ["do_syscall_64"]),
]
OTHER = "the rest: the VMM's own code, interrupts, scheduling"


def vm_command(vmm, kernel, serial):
    if vmm == "truce":
        return [os.environ.get("TRUCE", "build/truce"), "run", "--kernel", kernel, "--cmdline",
                "exit", "--memory", "64M", "--cpus", "1", "--console", f"file:{serial}"]
    return ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-cpu", "kvm64", "-smp", "1",
            "-m", "64", "-kernel", kernel, "-append", "exit", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", f"file:{serial}", "-no-reboot", "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4"]


def bucket_of(syms):
    """SYMS: one sample's stack, innermost first."""
    present = set(syms)
    for name, keys in BUCKETS:
        if any(k in present for k in keys):
            if name == "other system calls":  # named by the handler under do_syscall_64
                i = syms.index("do_syscall_64") - 1
                while i > 0 and syms[i] in ("x64_sys_call", "syscall_trace_enter"):
                    i -= 1
                return f"{name}: {syms[i]}" if i >= 0 else name
            return name
    return OTHER


def profile(vmm, kernel, reps):
    d = tempfile.mkdtemp(prefix="start-cpu-")
    cmd = vm_command(vmm, kernel, f"{d}/serial")
    loop = f"{d}/loop.sh"
    with open(loop, "w") as f:
        f.write("#!/bin/sh\nfor i in $(seq %d); do %s </dev/null >/dev/null 2>&1; done\nexit 0\n"
                % (reps, " ".join(cmd)))
    os.chmod(loop, 0o755)
    data = f"{d}/perf.data"
    subprocess.run(["perf", "record", "-q", "-F", str(HZ), "-g", "-o", data, "--", loop],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    comm = "truce" if vmm == "truce" else "qemu-system-x86"
    out = subprocess.run(["perf", "script", "-i", data, "--comm", comm, "-F", "ip,sym"],
                         check=True, capture_output=True, text=True).stdout
    subprocess.run(["rm", "-rf", d])
    counts, samples = collections.Counter(), 0
    for block in out.split("\n\n"):
        syms = [ln.split(None, 1)[1] for ln in block.strip().splitlines()
                if len(ln.split(None, 1)) == 2]
        if not syms:
            continue
        samples += 1
        counts[bucket_of(syms)] += 1
    us = {k: round(v / HZ / reps * 1e6) for k, v in counts.items()}
    return {"vmm": vmm, "reps": reps, "hz": HZ, "samples": samples,
            "cpu_per_run_us": round(samples / HZ / reps * 1e6), "buckets_us": us}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: start_cpu.py KERNEL REPS (VMMS=truce,qemu)")
    kernel, reps = sys.argv[1], int(sys.argv[2])
    for vmm in os.environ.get("VMMS", "truce,qemu").split(","):
        print(json.dumps(profile(vmm, kernel, reps)), flush=True)


if __name__ == "__main__":
    main()
