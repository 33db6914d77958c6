#!/usr/bin/python3
"""goals.py LOG: the goal lines of one `make bench` run (bench/run.sh wrote
LOG), grouped by the benchmark that printed them, so every goal's PASS/MISS
(or met/missed) of the run stands in one place. Information only: exit 0
unless LOG cannot be read."""
import re
import sys

GOAL = re.compile(r"goal", re.I)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: goals.py LOG")
    try:
        text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    except OSError as e:
        sys.exit(f"goals.py: {e}")
    print("\n== goals of this run (peers measured in the same run; see bench/README.md)")
    cmd, printed, seen = "(no command)", None, set()
    for line in text.splitlines():
        if line.startswith("### "):
            cmd = line[4:]
            continue
        s = line.strip()
        if not GOAL.search(s) or s.startswith(("#", "|")) or (cmd, s) in seen:
            continue
        seen.add((cmd, s))
        if printed != cmd:
            print(f"-- {cmd}")
            printed = cmd
        print(f"   {s}")

if __name__ == "__main__":
    main()
