#!/usr/bin/env python3
"""Where and when a process's peak resident memory was made, from sampler.py's files. Prints Markdown.

  peak_report.py --dir DIR --binary PATH [--log FILE]

When: the time from exec to the moment VmHWM reached its final value, with the daemon's log lines
(text format, UTC timestamps) and the resident memory at each. Where: the mappings resident at the
peak (smaps-peak), file-backed against anonymous; for the binary itself, its resident pages per ELF
section and per module (Swift symbols name their module; ICU's C++ and data symbols are told apart).
"""
import argparse
import bisect
import collections
import datetime
import os
import re
import subprocess

PAGE = 4096


def mib(kib):
    return "%.1f MiB" % (kib / 1024)


def read_timeline(path):
    rows, exec_at = [], None
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            fields = line.rstrip("\n").split("\t")
            row = dict(zip(header, fields))
            for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                row[k] = int(row[k])
            row["wall"] = float(row["wall"])
            if exec_at is None and row.get("exe") and row["exe"] not in ("sh", "dash", "bash"):
                exec_at = row["wall"]
            rows.append(row)
    return rows, exec_at


def log_lines(path):
    out = []
    if not path or not os.path.exists(path):
        return out
    pattern = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z\s+(.*)$")
    with open(path, errors="replace") as f:
        for line in f:
            m = pattern.match(line.strip())
            if m:
                t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
                out.append((t, m.group(2)[:110]))
    return out


def smaps_mappings(path):
    mappings, current = [], None
    with open(path) as f:
        for line in f:
            fields = line.split()
            if fields and re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", fields[0]):
                current = {"perms": fields[1], "path": fields[5] if len(fields) > 5 else "[anonymous]"}
                mappings.append(current)
            elif current is not None and len(fields) >= 2 and fields[0] in ("Rss:", "Anonymous:", "Private_Dirty:"):
                current[fields[0][:-1]] = int(fields[1])
    return mappings


def elf_layout(binary):
    """LOAD segments (offset, vaddr, filesz) and sections (name, offset, size) of an ELF file."""
    segments, sections = [], []
    for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            segments.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
    for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m and m.group(1) != "NULL" and int(m.group(2), 16):
            sections.append((m.group(1), int(m.group(3), 16), int(m.group(4), 16), int(m.group(2), 16)))
    return segments, sections


def module_of(symbol):
    m = re.match(r"\$s(\d+)", symbol)
    if m:
        n = int(m.group(1))
        return symbol[2 + len(m.group(1)):2 + len(m.group(1)) + n] or "Swift"
    if symbol.startswith("$s"):
        return "Swift (stdlib)"
    if "icu_" in symbol or symbol.startswith("icudt") or re.match(r"u[a-z]*_\w+_\d\d$", symbol):
        return "ICU"
    if symbol.startswith("_Z"):
        return "C++ (other)"
    return "C (other)"


def symbols(binary):
    """(vaddr, size, module) of the binary's defined symbols with a size, by address."""
    out = []
    text = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True).stdout
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4:
            out.append((int(f[0], 16), int(f[1], 16), module_of(f[3])))
    out.sort()
    return out


def binary_pages(pages_path, binary):
    """vaddrs (ELF) of the binary's resident pages at the peak."""
    real = os.path.realpath(binary)
    segments, _ = elf_layout(binary)
    resident = []
    with open(pages_path) as f:
        for line in f:
            start, end, offset, perms, path, bits = line.split()
            if os.path.realpath(path) != real:
                continue
            offset = int(offset, 16)
            for i, bit in enumerate(bits):
                if bit != "1":
                    continue
                off = offset + i * PAGE
                # The last segment that starts on or before this page (segments share boundary pages).
                for s_off, s_vaddr, s_size in reversed(segments):
                    if s_off // PAGE * PAGE <= off < s_off + s_size:
                        resident.append(max(off, s_off) - s_off + s_vaddr)
                        break
    return resident, segments


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--binary", required=True)
    p.add_argument("--log")
    args = p.parse_args()

    rows, exec_at = read_timeline(os.path.join(args.dir, "timeline.tsv"))
    rows = [r for r in rows if exec_at is None or r["wall"] >= exec_at]
    final = rows[-1]["VmHWM"]
    reached = next(r for r in rows if r["VmHWM"] >= final)
    print("**When.** VmHWM %s; reached %.0f ms after exec (sampled every ~1 ms, %d samples over %.1f s)." % (
        mib(final), 1000 * (reached["wall"] - exec_at), len(rows), rows[-1]["wall"] - exec_at))
    print("At that moment: VmRSS %s = RssAnon %s + RssFile %s.\n" % (
        mib(reached["VmRSS"]), mib(reached["RssAnon"]), mib(reached["RssFile"])))
    walls = [r["wall"] for r in rows]
    print("| ms after exec | VmRSS | VmHWM | RssAnon | RssFile | log line (next after that moment) |")
    print("|---|---|---|---|---|---|")
    logs = [(t, text) for t, text in log_lines(args.log) if exec_at is None or t >= exec_at - 1]
    for t, text in logs[:14]:
        r = rows[min(len(rows) - 1, bisect.bisect_left(walls, t))]
        print("| %.0f | %s | %s | %s | %s | `%s` |" % (1000 * (t - exec_at), mib(r["VmRSS"]), mib(r["VmHWM"]),
              mib(r["RssAnon"]), mib(r["RssFile"]), text.replace("|", "\\|")))
    print("| %.0f (peak) | %s | %s | %s | %s | |" % (1000 * (reached["wall"] - exec_at), mib(reached["VmRSS"]),
          mib(reached["VmHWM"]), mib(reached["RssAnon"]), mib(reached["RssFile"])))
    print()

    mappings = smaps_mappings(os.path.join(args.dir, "smaps-peak"))
    groups = collections.defaultdict(lambda: [0, 0])
    file_kib = anon_kib = 0
    for m in mappings:
        name = os.path.basename(m["path"]) if m["path"].startswith("/") else m["path"]
        kind = {"r-xp": "code", "r--p": "read-only", "rw-p": "data"}.get(m["perms"], m["perms"])
        if m["path"].startswith("/"):
            key = "%s (%s)" % (name, kind)
        else:
            key = name
        groups[key][0] += m.get("Rss", 0)
        groups[key][1] += m.get("Anonymous", 0)
        anon_kib += m.get("Anonymous", 0)
        file_kib += m.get("Rss", 0) - m.get("Anonymous", 0)
    print("**Where (smaps at the peak).** Resident %s: file-backed %s, anonymous %s.\n" % (
        mib(file_kib + anon_kib), mib(file_kib), mib(anon_kib)))
    print("| mapping | resident | of which anonymous |")
    print("|---|---|---|")
    for key, (rss, anon) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        if rss >= 128:
            print("| %s | %s | %s |" % (key, mib(rss), mib(anon)))
    print()

    pages_path = os.path.join(args.dir, "pages-peak")
    if not os.path.exists(pages_path):
        return
    resident, _ = binary_pages(pages_path, args.binary)
    _, sections = elf_layout(args.binary)
    per_section = collections.Counter()
    for vaddr in resident:
        for name, off, size, s_vaddr in sections:
            if s_vaddr <= vaddr < s_vaddr + max(size, 1):
                per_section[name] += PAGE
                break
        else:
            per_section["(between sections)"] += PAGE
    sizes = {name: size for name, _, size, _ in sections}
    print("**The binary's resident pages at the peak, per section** (%s of %s bytes on disk; present pages from `/proc/PID/pagemap`):\n" % (
        mib(len(resident) * 4), format(os.path.getsize(args.binary), ",")))
    print("| section | resident | size |")
    print("|---|---|---|")
    for name, b in per_section.most_common(12):
        print("| %s | %s | %s |" % (name, mib(b / 1024), mib(sizes.get(name, 0) / 1024)))
    print()

    # Per module: each resident page's bytes are split among the symbols that overlap it.
    syms = symbols(args.binary)
    starts = [s[0] for s in syms]
    per_module, total = collections.Counter(), collections.Counter()
    for vaddr, size, module in syms:
        total[module] += size
    resident_set = set(resident)
    for page in resident_set:
        i = max(0, bisect.bisect_right(starts, page) - 1)
        while i > 0 and syms[i - 1][0] + syms[i - 1][1] > page:
            i -= 1
        while i < len(syms) and syms[i][0] < page + PAGE:
            vaddr, size, module = syms[i]
            overlap = min(vaddr + size, page + PAGE) - max(vaddr, page)
            if overlap > 0:
                per_module[module] += overlap
            i += 1
    print("**The binary's resident bytes at the peak, per module** (bytes of symbols on resident pages; "
          "code and data with a symbol only):\n")
    print("| module | resident | all its symbols |")
    print("|---|---|---|")
    for module, b in per_module.most_common(14):
        print("| %s | %s | %s |" % (module, mib(b / 1024), mib(total[module] / 1024)))


if __name__ == "__main__":
    main()
