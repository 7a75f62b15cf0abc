#!/usr/bin/env python3
# Regenerates nfkc-data.txt from Python's unicodedata (its Unicode version is written on line 1).
# Why a table of our own: SeekSharp runs with InvariantGlobalization, where string.Normalize leaves
# non-ASCII text unchanged; and a pinned table makes curated text identical on every host.
# Lines: "D cp seq..." full compatibility decomposition (Hangul syllables are algorithmic, omitted);
#        "C cp ccc"    canonical combining class;  "P a b c"  primary composite a+b -> c.
import unicodedata as u
out = [f"# Unicode {u.unidata_version}"]
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
        continue
    c = chr(cp)
    d = u.normalize("NFKD", c)
    if d != c:
        out.append("D %X %s" % (cp, " ".join("%X" % ord(x) for x in d)))
    if u.combining(c):
        out.append("C %X %d" % (cp, u.combining(c)))
    dec = u.decomposition(c)
    if dec and not dec.startswith("<"):
        parts = [int(x, 16) for x in dec.split()]
        if len(parts) == 2 and u.normalize("NFC", chr(parts[0]) + chr(parts[1])) == c:
            out.append("P %X %X %X" % (parts[0], parts[1], cp))
open("nfkc-data.txt", "w").write("\n".join(out) + "\n")
