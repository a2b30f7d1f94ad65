#!/usr/bin/env python3
"""Samples a process's memory from its first instant, to find when and where its peak is made.

  sampler.py --pid PID --out DIR [--period-ms 1] [--ready FILE]

Reads /proc/PID/status every period (VmRSS, VmHWM, RssAnon, RssFile) into DIR/timeline.tsv with
wall-clock times (to line up with the daemon's log), and copies /proc/PID/smaps to DIR/smaps-peak
each time VmRSS has grown 256 KiB or more above the last copy's, so the last copy is the mappings
at (within 256 KiB of) the largest resident size sampled; with it DIR/pages-peak: for each file-backed mapping, which of its
pages are present (from /proc/PID/pagemap, root only), to tell which sections of a binary are resident. Meant to be started by a wrapper script on its own PID just
before it `exec`s the program (the PID stays the same): it touches FILE once it samples, and stops
when the process exits.
"""
import argparse
import os
import time

FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def status(pid):
    values = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in FIELDS:
                values[key] = int(rest.split()[0])
    return values


def present_pages(pid, smaps):
    """'start end offset perms path bits' lines, bits one 0/1 per page of a file-backed mapping."""
    lines = []
    try:
        pagemap = open("/proc/%d/pagemap" % pid, "rb")
    except OSError:
        return ""
    with pagemap:
        for line in smaps.splitlines():
            fields = line.split(None, 5)
            if len(fields) < 6 or "-" not in fields[0] or not fields[5].startswith("/") or len(fields[1]) != 4:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            pagemap.seek(start // 4096 * 8)
            raw = pagemap.read((end - start) // 4096 * 8)
            bits = "".join("1" if raw[i + 7] & 0x80 else "0" for i in range(0, len(raw), 8))
            lines.append("%x %x %s %s %s %s" % (start, end, fields[2], fields[1], fields[5].strip(), bits))
    return "\n".join(lines) + "\n"


def consistent(smaps, pages):
    """Whether the present pages of the file mappings add up to their Rss in smaps (within 5 %)."""
    rss, path = 0, ""
    for line in smaps.splitlines():
        fields = line.split(None, 5)
        if fields and "-" in fields[0] and len(fields) >= 5 and len(fields[1]) == 4:
            path = fields[5].strip() if len(fields) == 6 else ""
        elif fields and fields[0] == "Rss:" and path.startswith("/"):
            rss += int(fields[1])
    present = 4 * sum(line.rsplit(" ", 1)[1].count("1") for line in pages.splitlines() if line)
    return not pages or abs(present - rss) <= 0.05 * max(rss, 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--period-ms", type=float, default=1)
    p.add_argument("--ready")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    period = args.period_ms / 1000
    saved_rss = 0
    with open(os.path.join(args.out, "timeline.tsv"), "w") as timeline:
        timeline.write("wall\t" + "\t".join(FIELDS) + "\texe\n")
        if args.ready:
            open(args.ready, "w").close()
        last_exe = ""
        while True:
            try:
                values = status(args.pid)
                exe = os.readlink("/proc/%d/exe" % args.pid)
                if values.get("VmRSS", 0) >= saved_rss + 256:
                    with open("/proc/%d/smaps" % args.pid) as f:
                        smaps = f.read()
                    pages = present_pages(args.pid, smaps)
                    # The two reads are not atomic: when the daemon released pages in between (it does
                    # right after its first resync), keep the last pair that agrees instead.
                    if consistent(smaps, pages):
                        with open(os.path.join(args.out, "smaps-peak"), "w") as f:
                            f.write(smaps)
                        with open(os.path.join(args.out, "pages-peak"), "w") as f:
                            f.write(pages)
                        saved_rss = values["VmRSS"]
            except (FileNotFoundError, ProcessLookupError):
                break
            if not values:  # a zombie: the process has exited
                break
            timeline.write("%.6f\t%s\t%s\n" % (time.time(), "\t".join(str(values.get(k, 0)) for k in FIELDS),
                                               os.path.basename(exe) if exe != last_exe else ""))
            last_exe = exe
            time.sleep(period)


if __name__ == "__main__":
    main()
