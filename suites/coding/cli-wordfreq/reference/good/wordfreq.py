"""Print the most frequent words of standard input."""

import re
import sys
from collections import Counter

WORD = re.compile(r"[a-z']+")


def parse_n(argv):
    if not argv:
        return 3
    if len(argv) == 2 and argv[0] == "-n" and argv[1].isdigit() and int(argv[1]) > 0:
        return int(argv[1])
    return None


def main():
    n = parse_n(sys.argv[1:])
    if n is None:
        print("error: usage: wordfreq.py [-n N] with N a positive whole number", file=sys.stderr)
        return 2
    counts = Counter(WORD.findall(sys.stdin.read().lower()))
    for word, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]:
        print(f"{word} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
