#!/usr/bin/env python3
# strace-kinds.py — which syscalls each truce thread kind makes, from `strace -f` logs of runs with
# `--no-seccomp --log-level debug` (each thread logs "sandbox: thread TID is a KIND thread" where
# it would enter its filter). Usage: strace-kinds.py LOG... ; prints kind, syscall, detail, count.
import collections
import re
import sys

LINE = re.compile(r'^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$')
ENTER = re.compile(r'sandbox: thread (\d+) is a (\w+) thread')


def detail(name, args):
    a = [x.strip() for x in args.split(',')]
    if name == 'ioctl' and len(a) > 1:
        return a[1]
    if name == 'fcntl' and len(a) > 1:
        return a[1]
    if name in ('mmap', 'mprotect') and len(a) > 3:
        return ' '.join(a[2:4] if name == 'mmap' else a[2:3])
    if name == 'socket' and len(a) > 1:
        return ' '.join(a[0:2])
    if name == 'futex' and len(a) > 1:
        return ''
    return ''


def main():
    kind = {}
    seen = collections.Counter()
    for path in sys.argv[1:]:
        kind.clear()
        for line in open(path, errors='replace'):
            m = ENTER.search(line)
            if m and ('write(' in line):
                kind[m.group(1)] = m.group(2)
                continue
            m = LINE.match(line)
            if not m or m.group(2):  # "resumed" halves were counted at their start
                continue
            pid, name, args = m.group(1), m.group(3), m.group(4)
            if pid in kind:
                seen[(kind[pid], name, detail(name, args))] += 1
    for (k, name, d), n in sorted(seen.items()):
        print(f'{k:5} {name:18} {d:50} {n}')


main()
