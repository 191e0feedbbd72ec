"""Seconds per test file (or per notebook) from a pytest JUnit XML report, slowest first: the stage
times .ci/run prints below pytest's own --durations list. Usage: times.py REPORT.xml [TOP]"""
import collections
import sys
import xml.etree.ElementTree as ET

totals, counts = collections.Counter(), collections.Counter()
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    name = case.get("file") or case.get("classname", "")
    totals[name] += float(case.get("time", 0))
    counts[name] += 1
top = int(sys.argv[2]) if len(sys.argv) > 2 else None
for name, seconds in totals.most_common(top):
    print(f"{seconds:8.1f} s  {counts[name]:4d} cases  {name}")
print(f"{sum(totals.values()):8.1f} s  {sum(counts.values()):4d} cases  in all")
