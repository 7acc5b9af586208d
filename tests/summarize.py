#!/usr/bin/env python3
"""Count results over every test the suite ran and print the closing line.

Reads meson's testlog.json files and pytest's JUnit XML files given on the
command line (or every such file in a directory given); prints each failure's name, then `N passed, N failed[, N
skipped]` as the last line. Exit status 1 when anything failed or nothing ran.
"""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
failures = []

paths = []
for arg in sys.argv[1:]:
    if os.path.isdir(arg):
        paths += sorted(glob.glob(os.path.join(arg, "*.json")) + glob.glob(os.path.join(arg, "*.xml")))
    else:
        paths.append(arg)

for path in paths:
    try:
        if path.endswith(".json"):
            with open(path) as f:
                for line in f:
                    if not line.strip():
                        continue
                    t = json.loads(line)
                    r = t.get("result")
                    name = f"{path}: {t.get('name')}"
                    if r in ("OK", "EXPECTEDFAIL"):
                        passed += 1
                    elif r == "SKIP":
                        skipped += 1
                    else:
                        failed += 1
                        failures.append(f"{name} ({r})")
        else:
            root = ET.parse(path).getroot()
            for case in root.iter("testcase"):
                name = f"{path}: {case.get('classname')}.{case.get('name')}"
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                    failures.append(name)
                elif case.find("skipped") is not None:
                    skipped += 1
                else:
                    passed += 1
    except (OSError, ValueError, ET.ParseError) as e:
        failed += 1
        failures.append(f"{path}: unreadable results ({e})")

for f in failures:
    print(f"FAILED: {f}")
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
