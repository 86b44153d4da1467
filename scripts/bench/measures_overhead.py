#!/usr/bin/env python3
"""Stage times of a study from its manifest, and the share the issue-15 measures add.

  measures_overhead.py RUN/manifest.json [BASELINE_PROBES.json]

Sums `seconds` per stage type (as `tunescope study` prints at the end; an arm's or a seed
replicate's stages count under `arm-<name>` / `seed-<s>`). The new measures, in every branch, are
the `similarity/*`, `mdl/*` and `examples` stages, the per-snapshot measures inside every
`dynamics` stage (its summary's `measures_seconds`), plus the probes' control task
(`probe.control`, for Table A's selectivity): BASELINE_PROBES is a manifest (or a JSON object
{stage id: seconds}) with the same probe stages run without the control task, e.g. the same run
directory re-run with `--set probe.control=false` (copy its manifest before re-running without
the override). Prints the added seconds and their share of the stages without the measures.
"""

import json
import sys
from collections import defaultdict

NEW = ("similarity", "mdl", "examples")


def dynamics_measures_seconds(path):
    doc = json.load(open(path))
    stages = doc.get("stages", {})
    return sum((v.get("summary") or {}).get("measures_seconds") or 0.0
               for k, v in stages.items()
               if isinstance(v, dict) and k.split("/")[-1] == "dynamics")


def stage_seconds(path):
    doc = json.load(open(path))
    stages = doc.get("stages", doc)
    return {k: (v["seconds"] if isinstance(v, dict) else float(v)) for k, v in stages.items()}


def main():
    run = stage_seconds(sys.argv[1])
    by_type = defaultdict(lambda: [0, 0.0])
    for sid, s in run.items():
        kind = sid.split("/")[0]
        by_type[kind][0] += 1
        by_type[kind][1] += s
    total = sum(s for _, s in by_type.values())
    print("%-14s %5s %9s" % ("stage", "count", "seconds"))
    for kind, (n, s) in sorted(by_type.items(), key=lambda kv: -kv[1][1]):
        print("%-14s %5d %9.1f" % (kind, n, s))
    print("%-14s %5d %9.1f" % ("total", sum(n for n, _ in by_type.values()), total))
    # Every branch's new stages: the study's own and those of its arms and seed replicates
    # (`arm-<name>/similarity/...`, `seed-<s>/mdl/...`).
    def kind_of(sid):
        parts = sid.split("/")
        if parts[0].startswith(("arm-", "seed-")) and len(parts) > 1:
            parts = parts[1:]
        return parts[0]

    new_stages = sum(s for sid, s in run.items() if kind_of(sid) in NEW)
    main_only = sum(by_type[k][1] for k in NEW if k in by_type)
    print("new stages: %.1f s in all branches (%.1f s in the study's own)" % (new_stages, main_only))
    dyn = dynamics_measures_seconds(sys.argv[1])
    if dyn:
        print("per-snapshot measures inside the dynamics stages: %.1f s" % dyn)
    added = new_stages + dyn
    control = 0.0
    if len(sys.argv) > 2:
        base = stage_seconds(sys.argv[2])
        probes = [k for k in run if k.startswith("probe/") and k in base]
        with_c = sum(run[k] for k in probes)
        without = sum(base[k] for k in probes)
        control = with_c - without
        print("probe stages with the control task %.1f s, without %.1f s (%d stages)"
              % (with_c, without, len(probes)))
    base_total = total - added - control
    print("measures %.1f s + control task %.1f s = %.1f s added to %.1f s of stages: +%.1f %%"
          % (added, control, added + control, base_total, 100 * (added + control) / base_total))


if __name__ == "__main__":
    main()
