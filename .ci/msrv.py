#!/usr/bin/env python3
"""The MSRV check that works offline: no package in the resolved graph (every feature) may
declare a `rust-version` newer than the workspace's. Our own code's use of newer standard
library items is caught by clippy's `incompatible_msrv` lint, which reads the same field.
(No other toolchain can be downloaded here to build at the MSRV itself.)"""

import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


metadata = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features", "--offline"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
members = set(metadata["workspace_members"])
ours = {p["rust_version"] for p in metadata["packages"] if p["id"] in members}
if len(ours) != 1 or None in ours:
    sys.exit(f"msrv: the members disagree on rust-version: {sorted(map(str, ours))}")
msrv = ours.pop()
too_new = sorted(
    f"{p['name']} {p['version']} needs Rust {p['rust_version']}"
    for p in metadata["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > version(msrv)
)
if too_new:
    sys.exit(f"msrv: the workspace declares {msrv}, but\n  " + "\n  ".join(too_new))
print(f"msrv: every dependency builds with Rust {msrv} or older")
