#!/usr/bin/env python3
"""Reads valgrind logs (--log-file) and reports what matters for cannon-session.

  vgcheck.py OBJECTS LOG...   OBJECTS: comma-separated substrings naming our frames (the .so path, the crate name)

Memory errors (invalid reads/writes/frees, uses of uninitialised values) anywhere count: PHP
has none on its own in these runs, so any is ours or caused by us. Leaks count when they are
"definitely lost" and a frame of the record is in OBJECT. Prints one summary line per log and
the first offending records; exits 1 when anything counts.
"""
import re
import sys

ERROR_START = re.compile(
    r"^(Invalid (read|write|free)|Mismatched free|Conditional jump or move depends on uninitialised"
    r"|Use of uninitialised value|Syscall param .* (uninitialised|unaddressable)"
    r"|Source and destination overlap|Argument 'size' of function)"
)
LEAK_START = re.compile(r"^([\d,]+) (\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are definitely lost")


def records(path):
    """Yields each valgrind message as a list of lines, the ==PID== prefix stripped."""
    cur = []
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^==\d+== ?(.*)$", line.rstrip("\n"))
            if not m:
                continue
            text = m.group(1)
            if text == "":
                if cur:
                    yield cur
                cur = []
            else:
                cur.append(text)
    if cur:
        yield cur


def main():
    objs, logs = sys.argv[1].split(","), sys.argv[2:]
    bad = 0
    for log in logs:
        errors, ours, others, shown = 0, 0, 0, []
        summary = ""
        for rec in records(log):
            head = rec[0]
            summary = next((l for l in rec if l.startswith("ERROR SUMMARY")), summary)
            if ERROR_START.match(head):
                errors += 1
                shown.append(rec)
            elif LEAK_START.match(head):
                if any(o in l for l in rec for o in objs):
                    ours += 1
                    shown.append(rec)
                else:
                    others += 1
        print(f"{log}: {errors} memory errors, {ours} definite leaks through our .so, "
              f"{others} definite leaks elsewhere (PHP's own); {summary}")
        for rec in shown[:3]:
            print("    " + "\n    ".join(rec[:14]))
        if errors or ours:
            bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
