"""CRM speed: generating the default demo history, loading it into SQLite, and importing the RavenStack export.

`python -m eval.bench crm`. Targets (issue 2): generation < 30 s and SQLite load < 60 s at the default size.
Trivial baseline for the load: pandas `DataFrame.to_sql` of the same frames into a fresh SQLite file.
Wall time depends on what else runs on the 2 shared cores, so CPU seconds of this process are reported beside it.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results" / "crm-bench.json"
TARGETS = {"generate_s": 30.0, "load_sqlite_s": 60.0}


def _timed(action):
    wall, cpu = time.perf_counter(), time.process_time()
    value = action()
    return value, round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def main() -> dict:
    from handoff.crm.demo import generate
    from handoff.crm.importer import import_mapped_files
    from handoff.settings import Settings
    from handoff.wiring import Parts

    frames, gen_wall, gen_cpu = _timed(generate)
    rows = sum(len(f) for f in frames.values())
    results: dict = {
        "machine": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rows": rows,
        "generate": {"wall_s": gen_wall, "cpu_s": gen_cpu, "target_s": TARGETS["generate_s"]},
    }
    with tempfile.TemporaryDirectory() as home:
        parts = Parts(Settings(home=Path(home) / "demo", _env_file=None))
        parts.migrate()
        from handoff.crm.loader import write_frames

        _, load_wall, load_cpu = _timed(lambda: write_frames(parts.engine, frames, replace=False))
        parts.close()
        results["load_sqlite"] = {"wall_s": load_wall, "cpu_s": load_cpu, "target_s": TARGETS["load_sqlite_s"]}

        baseline_db = sqlite3.connect(Path(home) / "baseline.db")

        def to_sql() -> None:
            for name, frame in frames.items():
                frame.to_sql(name, baseline_db, index=False, chunksize=5000)
            baseline_db.commit()

        _, base_wall, base_cpu = _timed(to_sql)
        baseline_db.close()
        results["baseline_pandas_to_sql"] = {"wall_s": base_wall, "cpu_s": base_cpu}

        ravenstack = Settings(_env_file=None).datasets_dir / "churn_saas_ravenstack_synthetic"
        files = sorted(ravenstack.glob("ravenstack_*.csv"))
        if files:
            parts = Parts(Settings(home=Path(home) / "raven", _env_file=None))
            parts.migrate()
            counts, imp_wall, imp_cpu = _timed(lambda: import_mapped_files(parts.engine, "ravenstack", files))
            parts.close()
            imported = sum(c["inserted"] for c in counts.values())
            results["import_ravenstack_sqlite"] = {"wall_s": imp_wall, "cpu_s": imp_cpu, "rows": imported}

    print(f"{'what':<28}{'wall s':>10}{'cpu s':>10}{'target s':>10}")
    for key in ("generate", "load_sqlite", "baseline_pandas_to_sql", "import_ravenstack_sqlite"):
        if key in results:
            entry = results[key]
            target = entry.get("target_s", "")
            print(f"{key:<28}{entry['wall_s']:>10}{entry['cpu_s']:>10}{target!s:>10}")
    print(f"{rows} demo rows; 1-minute load average {results['load_average_1m']} on {os.cpu_count()} cores")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
