"""ratio.py — shared by bench/blk.sh and bench/net.sh: samples in, truce/QEMU median table out,
and the script's own section of bench/RESULTS.md rewritten between its markers."""
import statistics


def load_samples(path):
    """Lines "TAG VMM REP TEST VALUE" -> {(TEST, VMM): [VALUE, ...]}."""
    vals = {}
    for line in open(path):
        _, vmm, _, test, v = line.split()
        vals.setdefault((test, vmm), []).append(float(v))
    return vals


def ratio_table(vals, rows):
    """Markdown table of the median per VMM and the ratio truce/QEMU for each (TEST, LABEL)."""
    lines = ["| test | truce | QEMU | truce/QEMU |", "|---|---:|---:|---:|"]
    for key, label in rows:
        t, q = vals.get((key, "truce"), []), vals.get((key, "qemu"), [])
        if not t or not q:
            lines.append(f"| {label} | {statistics.median(t) if t else 'n/a'} | "
                         f"{statistics.median(q) if q else 'n/a'} | n/a |")
            continue
        mt, mq = statistics.median(t), statistics.median(q)
        lines.append(f"| {label} | {mt:.1f} | {mq:.1f} | {mt / mq:.2f} |")
    return lines


def samples_text(vals):
    """Every sample, for the record: "qemu test [v, ...]; truce test [...]"."""
    return "; ".join(f"{k[1]} {k[0]} {v}" for k, v in sorted(vals.items()))


def write_section(results, begin, end, section):
    """Replace the text from BEGIN to END (markers included) in RESULTS with SECTION, or append."""
    try:
        text = open(results).read()
    except FileNotFoundError:
        text = "# truce benchmark results\n\n"
    b, e = text.find(begin), text.find(end)
    if b >= 0 and e > b:
        text = text[:b] + section + text[e + len(end + "\n"):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(results, "w").write(text)


def peers_table(vals, rows, base, peers):
    """Markdown table: the median of BASE and of every (PEER, LABEL) of PEERS for each (TEST,
    LABEL) of ROWS, then BASE/PEER per peer; n/a where a side has no sample."""
    med = {}
    for key, _ in rows:
        for v in [base] + [p for p, _ in peers]:
            s = vals.get((key, v), [])
            med[key, v] = statistics.median(s) if s else None
    head = ["test", base] + [label for _, label in peers] + [f"{base}/{label}" for _, label in peers]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for key, label in rows:
        cells = [label] + ["n/a" if med[key, v] is None else f"{med[key, v]:.1f}"
                           for v in [base] + [p for p, _ in peers]]
        for p, _ in peers:
            b, q = med[key, base], med[key, p]
            cells.append("n/a" if b is None or not q else f"**{b / q:.2f}**")
        lines.append("| " + " | ".join(cells) + " |")
    return lines
