"""The portfolio search's frontier rows are told apart (review: two "rag (k 3) + gpu right
sizing" rows at $242 and $376 differed only in the GPU, which was not shown) and named by the
catalog, not by keys."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from app.portfolios.search_labels import point_labels


def _point(*items: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"items": [{"technique": t, "params": p} for t, p in items]}


def test_a_parameter_that_differs_between_rows_is_shown() -> None:
    rag = ("rag", {"chunk_tokens": 512, "k": 3, "retrieval_latency_ms": 40.0})
    pareto = [
        _point(rag, ("gpu_right_sizing", {"gpu": "l4", "n_gpus": 1})),
        _point(rag, ("gpu_right_sizing", {"gpu": "h100_sxm_80gb", "n_gpus": 1})),
        _point(("qlora", {"rank": 8, "serve_unmerged": False, "epochs": 3})),
        _point(),
    ]
    labels = point_labels(pareto)
    assert labels[0] == [
        ("Retrieval-augmented generation (RAG)", "k 3"),
        ("Right-size the GPU type and count", "GPU NVIDIA L4"),
    ]
    assert labels[1][1] == ("Right-size the GPU type and count", "GPU NVIDIA H100 SXM 80GB")
    assert labels[0] != labels[1]
    assert labels[2] == [("QLoRA", "rank 8")]  # the same everywhere: only what always matters
    assert labels[3] == []


def test_every_differing_parameter_is_named_with_its_value() -> None:
    pareto = [
        _point(("distillation", {"model": "", "epochs": 2, "serve_unmerged": True})),
        _point(("distillation", {"model": "llama_3_1_8b", "epochs": 3, "serve_unmerged": False})),
    ]
    a, b = point_labels(pareto)
    assert a == [("Distil into a smaller model", "epochs 2, model auto, serve unmerged yes")]
    assert b[0][1].startswith("epochs 3, model Llama")
    assert b[0][1].endswith("serve unmerged no")


def test_the_response_model_is_read_by_attribute() -> None:
    item = SimpleNamespace(technique="rag", params={"k": 5})
    assert point_labels([SimpleNamespace(items=[item])]) == [
        [("Retrieval-augmented generation (RAG)", "k 5")]
    ]
