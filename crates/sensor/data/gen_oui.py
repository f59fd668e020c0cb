#!/usr/bin/env python3
"""Generates oui.tsv from the IEEE MA-L listing shipped by Debian's ieee-data.

Usage: python3 gen_oui.py [/usr/share/ieee-data/oui.csv] > oui.tsv

Output: one line per 24-bit prefix, sorted, "XXXXXX<TAB>short name", where the
short name is the organisation name with legal-form suffixes removed
("Inc.", "Co., Ltd.", "GmbH", ...), whitespace collapsed, at most 40 bytes.
"""
import csv
import re
import sys

SUFFIX = re.compile(
    r"[\s,.]*\b(incorporated|inc|corporation|corp|company|co|ltd|limited|llc|l\.l\.c|"
    r"gmbh|ag|s\.?a|s\.?p\.?a|s\.?r\.?l|b\.?v|n\.?v|oy|ab|as|a/s|kg|pty|plc|k\.?k|"
    r"sas|s\.a\.s|sarl|spa|srl|bv|nv|co\.?,?\s*ltd)\b[.,]*\s*$",
    re.IGNORECASE,
)


def short(name: str) -> str:
    name = " ".join(name.replace("\t", " ").split())
    for _ in range(4):
        new = SUFFIX.sub("", name).rstrip(" ,.")
        if new == name or not new:
            break
        name = new
    out = name.encode("utf-8")[:40].decode("utf-8", "ignore").rstrip(" ,.&(-")
    return out


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/ieee-data/oui.csv"
    rows = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("Registry") != "MA-L":
                continue
            prefix = row["Assignment"].strip().upper()
            if len(prefix) != 6:
                continue
            name = short(row["Organization Name"])
            if name:
                rows[prefix] = name
    for prefix in sorted(rows):
        sys.stdout.write(f"{prefix}\t{rows[prefix]}\n")


if __name__ == "__main__":
    main()
