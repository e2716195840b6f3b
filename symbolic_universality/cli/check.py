"""``symuni check``: every construction a project declares, verified as a suite."""

from __future__ import annotations

import argparse

from . import path_arg, positive_int_arg


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default=".",
                   help="a symuni.toml or pyproject.toml, or a folder to search (default: .)")
    p.add_argument("--jobs", "-j", type=positive_int_arg, default=1,
                   help="instances run in parallel processes (default 1)")
    p.add_argument("--no-cache", action="store_true",
                   help="run every instance, ignoring cached certificates")
    p.add_argument("--cache-dir", type=path_arg, default=None,
                   help="where certificates are cached (default: .symuni-cache beside the "
                        "configuration)")
    p.add_argument("--junit", metavar="FILE", type=path_arg, help="write JUnit XML")
    p.add_argument("--json", metavar="FILE", type=path_arg, help="write the JSON summary")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only this instance (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")


def run(args: argparse.Namespace) -> int:
    """verify every declared instance; exit 0 only if each met its expectation"""
    from ..errors import UsageError
    from ..files import check_writable, write_json
    from ..progress import bar
    from ..suite import default_cache_dir, find_config, load_instances, run_suite, write_junit

    for path, what in ((args.junit, "JUnit report"), (args.json, "summary")):
        if path:
            check_writable(path, what)
    config = find_config(args.config)
    instances = load_instances(config)
    if args.only:
        names = {i.name for i in instances}
        missing = [n for n in args.only if n not in names]
        if missing:
            raise UsageError(f"{config.name} has no instance {missing[0]!r}; its instances: "
                             f"{', '.join(sorted(names))}")
        instances = [i for i in instances if i.name in args.only]
    cache = args.cache_dir or default_cache_dir(config)
    with bar(len(instances), "symuni check", "instance",
             enabled=None if not args.quiet else False) as advance:
        result = run_suite(instances, jobs=args.jobs, cache_dir=cache,
                           use_cache=not args.no_cache,
                           progress=lambda o: advance(1, f"{o.name}: {o.status}"))
    if not args.quiet:
        print(f"symuni check: {len(instances)} instance(s) from {config}")
        print(result.table())
        print()
    if args.junit:
        write_junit(result, args.junit)
    if args.json:
        write_json(args.json, result.summary(), "summary")
    met = sum(o.met for o in result.outcomes)
    cached = sum(o.cached for o in result.outcomes)
    unmet = [o.status for o in result.outcomes if not o.met]
    word = ("VERIFIED" if result.ok else "ERROR" if "error" in unmet
            else "UNKNOWN" if "unknown" in unmet else "REFUTED")
    first = next((o for o in result.outcomes if not o.met), None)
    why = "" if first is None else (f"; first: {first.name} expected {first.expect}, got "
                                    f"{first.status}: {first.message}")
    print(f"verdict: {word} ({met} of {len(instances)} instances met their expectation, "
          f"{cached} from the cache{why})")
    return 0 if result.ok else (2 if word == "ERROR" else 1)
