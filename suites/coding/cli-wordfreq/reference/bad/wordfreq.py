"""A wrong wordfreq: counts characters, ignores -n, and always exits 1."""

import sys

text = sys.stdin.read()
print(f"chars {len(text)}")
sys.exit(1)
