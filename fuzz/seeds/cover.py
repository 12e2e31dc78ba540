#!/usr/bin/env python3
"""Keeps a committed corpus small: a greedy set cover over a libFuzzer merge control file, the
fewest inputs keeping every covered edge (its COV lines), largest new coverage first, at most
CAP inputs. Usage (from fuzz/, see docs/fuzzing.md):

    mkdir -p /tmp/empty
    target/x86_64-unknown-linux-gnu/release/T -merge=1 -use_cmp=0 -use_counters=0 \
        -merge_control_file=/tmp/T.ctl /tmp/empty /tmp/T.full
    python3 seeds/cover.py /tmp/T.ctl corpus/T 300
"""
import os, shutil, sys
ctl, out = sys.argv[1], sys.argv[2]
cap = int(sys.argv[3]) if len(sys.argv) > 3 else 10**9
lines = open(ctl).read().splitlines()
n = int(lines[0]); files = lines[2:2 + n]
cov = {}
cur = None
for l in lines[2 + n:]:
    parts = l.split()
    if parts[0] == "STARTED":
        cur = int(parts[1])
    elif parts[0] == "COV":
        cov[int(parts[1])] = set(parts[2:])
allcov = set().union(*cov.values())
left = set(allcov); chosen = []
while left and len(chosen) < cap:
    best = max(cov, key=lambda i: (len(cov[i] & left), -os.path.getsize(files[i])))
    gain = cov[best] & left
    if not gain: break
    chosen.append(best); left -= gain
os.makedirs(out, exist_ok=True)
for i in chosen:
    shutil.copy(files[i], os.path.join(out, os.path.basename(files[i])))
print(f"{len(chosen)} files keep {len(allcov) - len(left)} of {len(allcov)} edges")
