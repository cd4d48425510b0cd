"""The issue table and the scale figures of a ``make bench`` report, as data and markdown.

``issue_table(report)`` gives every row of the issue's table as a ratio to its baseline measured
in the same run, with its target and whether it is met; ``run.py`` stores it in
``bench/results.json`` and prints it with :func:`render`.
"""

from __future__ import annotations

from typing import Any

# (key, path, where the ratio comes from, target ratio, extra target). Issue 28's rows first,
# then issue 16's that are kept.
ROWS = [
    ("gate", "stored gate `GET /api/v1/models/{slug}/gate/` vs `/pk/`", "http", 0.70, "p99<25"),
    ("gate_compute", "live gate `?compute=3e24` vs `/pk/`", "http", 0.30, ""),
    (
        "result_post",
        "single result `POST /api/v1/results/`, one model, 16 clients, vs a bare DRF create",
        "http",
        0.25,
        "p99<150",
    ),
    (
        "result_post_spread",
        "result POSTs spread over 8 models vs a bare DRF create",
        "http",
        0.35,
        "",
    ),
    (
        "build_input_live",
        "`build_input` on the live inputs (the stamp, then the cache) vs JSON + SHA-256 chain",
        "gate",
        None,
        ">=1000/s",
    ),
    (
        "build_input",
        "`adapter.build_input` uncached (2 queries) vs JSON + SHA-256 chain",
        "gate",
        None,
        "",
    ),
    ("verification", "audit verification vs bare SHA-256 chaining", "scale", 0.10, ""),
    ("healthz", "`GET /healthz` vs `/pk/`", "http", 0.70, ""),
    ("policy", "`GET /api/v1/policy/` vs `/pk/`", "http", 0.40, ""),
    ("results", "results list vs a bare DRF list", "http", 0.70, ""),
    (
        "hundred_batched",
        "`audit.record`, 100 per transaction (batched) vs JSON + SHA-256 chain",
        "audit",
        0.10,
        "",
    ),
]


def issue_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's rows with ratio, min-max, target and met (the verification row only when
    the scale figures ran)."""
    http = {row["key"]: row for row in report["http"]}
    micro = report["micro"]
    out = []
    for key, path, source, target, extra in ROWS:
        if source == "http":
            row = http[key]
            ratio, low, high = row["ratio"], row["ratio_min"], row["ratio_max"]
            rate, p99 = row["rps_median"], row["p99_ms"]
        elif source == "scale":
            if not report.get("scale"):
                continue
            verify = report["scale"]["verification"]
            ratio = low = high = verify["ratio"]
            rate, p99 = verify["verifier_entries_per_s"], None
        else:
            figures = micro[source][key]
            ratio, low, high = figures["ratio"], figures["ratio_min"], figures["ratio_max"]
            rate, p99 = figures["median"], None
        met = target is None or ratio >= target
        if extra.startswith("p99<") and p99 is not None:
            met = met and p99 < float(extra[4:])
        if extra == ">=1000/s":
            met = rate >= 1000
        out.append(
            {
                "key": key,
                "path": path,
                "rate": rate,
                "p99_ms": p99,
                "ratio": ratio,
                "ratio_min": low,
                "ratio_max": high,
                "target": target,
                "extra_target": extra,
                "met": met if (target is not None or extra) else None,
            }
        )
    return out


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def render(report: dict[str, Any]) -> str:
    """Markdown: the issue's table, then the scale figures when present."""
    lines = [
        "",
        "## The issue table (ratios to baselines measured in this run)",
        "",
        f"Load average at the start {report['config']['loadavg_start']}, at the end "
        f"{report['config']['loadavg_end']}.",
        "",
        "| path | rate | p99 ms | ratio (min-max) | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["issue_table"]:
        target = f"≥ {_pct(row['target'])}" if row["target"] is not None else ""
        target = " ".join(x for x in (target, row["extra_target"]) if x)
        p99 = f"{row['p99_ms']:.0f}" if row["p99_ms"] is not None else "-"
        lines.append(
            f"| {row['path']} | {row['rate']:,.0f}/s | {p99} | {_pct(row['ratio'])} "
            f"({_pct(row['ratio_min'])}-{_pct(row['ratio_max'])}) | {target} | "
            f"{'-' if row['met'] is None else 'yes' if row['met'] else 'no'} |"
        )
    scale = report.get("scale")
    if not scale:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "## Scale (bench/scale.py)",
        "",
        "| results on the model | `build_input`/s | vs 100 results | ranking reader/s | vs 100 |",
        "|---|---|---|---|---|",
    ]
    for n, figures in scale["results_per_model"].items():
        b, r = figures["build_input"], figures["ranking_reader"]
        lines.append(
            f"| {int(n):,} | {b['rate']:,.0f} | {_pct(b['ratio'])} | {r['rate']:,.0f} | "
            f"{_pct(r['ratio'])} |"
        )
    models, bulk = scale["models"], scale["bulk"]
    writers, verify = scale["audit_writers"], scale["verification"]
    lines += [
        "",
        "| figure | subject | baseline | ratio |",
        "|---|---|---|---|",
        f"| `build_input` with {models['models_after']:,} models vs {models['models_before']} | "
        f"{models['build_input_at_1000']:,.0f}/s | {models['build_input_at_10']:,.0f}/s | "
        f"{_pct(models['ratio'])} |",
        f"| {bulk['rows']:,} rows: `record_results` (validated, audited, all-or-nothing) vs bare "
        f"`bulk_create` | {bulk['record_results_rows_per_s']:,.0f} rows/s | "
        f"{bulk['bulk_create_rows_per_s']:,.0f} rows/s | {_pct(bulk['ratio'])} |",
        f"| {writers['writers']} concurrent audit writers vs 1 | "
        f"{writers['concurrent_entries_per_s']:,.0f} entries/s | "
        f"{writers['single_entries_per_s']:,.0f} entries/s | {_pct(writers['ratio'])} |",
        f"| audit verification ({verify['entries']:,} entries) vs bare SHA-256 chaining | "
        f"{verify['verifier_entries_per_s']:,.0f} entries/s | "
        f"{verify['sha256_chain_entries_per_s']:,.0f} entries/s | {_pct(verify['ratio'])} |",
        "",
        f"Scale run: {scale['seconds']} s, load average at its end {scale['loadavg_end']}.",
        "",
    ]
    return "\n".join(lines)
