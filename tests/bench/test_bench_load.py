"""The load harness's arithmetic (bench/load.py): reading locust's CSV, medians over runs and the
target verdicts. The load run itself is on demand (README, "Load")."""

from __future__ import annotations

from pathlib import Path

from bench.load import Row, check_targets, combine, read_stats

HEADER = "Type,Name,Request Count,Failure Count,Requests/s,50%,95%,99%\n"


def _csv(tmp_path: Path, name: str, lines: list[str]) -> Path:
    p = tmp_path / name
    p.write_text(HEADER + "".join(line + "\n" for line in lines))
    return p


def test_stats_are_read_without_empty_rows(tmp_path: Path) -> None:
    rows, total = read_stats(
        _csv(
            tmp_path,
            "a.csv",
            [
                "GET,page: dashboard,10,0,1.5,20,90,120",
                "POST,api: token,0,0,0,0,0,0",
                ",Aggregated,10,0,1.5,20,90,120",
            ],
        )
    )
    assert [r.name for r in rows] == ["page: dashboard"]
    assert rows[0].kind == "page"
    assert total.requests == 10


def test_runs_combine_to_medians_and_totals(tmp_path: Path) -> None:
    runs = [
        read_stats(
            _csv(
                tmp_path,
                f"{i}.csv",
                [
                    f"GET,page: matrix,{n},{f},2.0,{p50},{p95},{p95 + 50}",
                    f"POST,estimate: inference,{n},0,1.0,10,{e95},{e95 + 10}",
                    f",Aggregated,{2 * n},{f},3.0,{p50},{p95},{p95 + 50}",
                ],
            )
        )
        for i, (n, f, p50, p95, e95) in enumerate(
            [(100, 0, 20, 250, 90), (120, 1, 30, 400, 200), (110, 0, 25, 260, 120)]
        )
    ]
    rows, total = combine(runs)
    matrix = next(r for r in rows if r.name == "page: matrix")
    assert (matrix.requests, matrix.failures, matrix.p50, matrix.p95) == (330, 1, 25, 260)
    assert total.requests == 660
    # the medians meet the latency targets, but one run's error is not forgiven
    assert check_targets(20, rows, total) == ["1 errors (target 0)"]


def test_a_missed_target_is_named() -> None:
    rows = [
        Row("page: estimate form", 40, 0, 0.6, 50, 310, 400),
        Row("estimate: compare GPUs", 50, 0, 0.7, 20, 149, 200),
    ]
    total = Row("Aggregated", 90, 0, 1.3, 30, 300, 400)
    assert check_targets(20, rows, total) == ["page: estimate form p95 310 ms (target < 300)"]
