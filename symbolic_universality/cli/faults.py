"""``symuni faults``: the seeded-fault catalogue and the check that must catch each fault."""

from __future__ import annotations

import argparse


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", action="store_true",
                   help="inject every fault and check that the named check catches it")


def run(args: argparse.Namespace) -> int:
    """list (or run) the seeded faults of the catalogue"""
    from ..report.text import table
    from ..verify import faults

    entries = faults.describe_catalogue()
    if not args.run:
        print(table([[e["name"], e["stage"], e["caught_by"], e["description"]] for e in entries],
                    ["fault", "stage", "caught by", "what it breaks"]))
        print(f"\n{len(entries)} seeded faults")
        return 0
    rows, bad = [], 0
    for e in entries:
        r = faults.run_fault(e["name"])
        bad += not r.ok
        rows.append([r.name, r.expected, r.caught_by or "-", "yes" if r.ok else "NO"])
    print(table(rows, ["fault", "expected check", "caught by", "as expected"]))
    print()
    print(f"verdict: {'VERIFIED' if not bad else 'REFUTED'} ({len(entries) - bad} of "
          f"{len(entries)} faults caught by the named check)")
    return 0 if not bad else 1
