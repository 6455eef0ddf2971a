"""benchmarks/common.py: the learning curves that long runs keep beside checkpoints."""

import importlib.util
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
spec = importlib.util.spec_from_file_location("benchmark_common", BENCHMARKS / "common.py")
common = importlib.util.module_from_spec(spec)
sys.modules.setdefault("benchmark_common", common)
spec.loader.exec_module(common)


def test_add_point_saves_the_curve_and_replaces_a_repeated_epoch(tmp_path):
    path = tmp_path / "curve.json"
    curve = []
    common.add_point(curve, {"epoch": 1, "nll": 100.0}, path)
    common.add_point(curve, {"epoch": 2, "nll": 95.0}, path)
    # A resumed run repeats epoch 2: one point per epoch, the latest kept.
    common.add_point(curve, {"epoch": 2, "nll": 94.0}, path)
    assert curve == [{"epoch": 1, "nll": 100.0}, {"epoch": 2, "nll": 94.0}]
    assert json.loads(path.read_text(encoding="utf-8")) == curve
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.json"]  # no .tmp left
