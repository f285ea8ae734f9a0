"""The constrained-random campaign (dsf_sim/flows/fuzz.py, `dsf fuzz`): random valid hardware x
random bundle graphs x handshake probabilities 0.01..1; 200 cases on the twin (against QKeras
and the reference) and 10 on the RTL (identical cycles, events and commands) in CI; a case is
its seed, so a saved case replays exactly."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsf_sim.flows.fuzz import _smaller, campaign, random_case, replay, run_case, shrink

# hypothesis draws cases through their seeds (dsf fuzz walks the same seed space in order)
cases = st.integers(0, 2**31 - 1).map(random_case)


def test_100_random_cases_on_the_twin(tmp_path):
    """A CI-sized campaign (the recorded ones, benchmarks/results/fuzz_*.json, run thousands)."""
    s = campaign(100, rtl_every=0, seed=100_000, out_dir=str(tmp_path), progress=False)
    assert s["fail"] == 0, s["failures"]
    assert s["pass"] >= 90, s["refusals"][:5]       # refusals are named, and rare
    assert all("is invalid" in r or "allowed" in r for r in s["refusals"]), s["refusals"]
    summary = json.load(open(tmp_path / "fuzz_summary.json"))
    assert len(summary["results"]) == 100
    # the derived budgets' basis (runtime/sim_limits.py) is an upper estimate on random hardware
    assert 0.02 < s["max_cycles_over_expected"] <= 1.0, s["max_cycles_over_expected"]


def test_shrink_finds_a_locally_minimal_failing_case():
    """Greedy shrinking on a stand-in failure ("the graph has a max pool"): the result still
    fails, every simpler variant of it passes, and what is irrelevant to the failure is gone."""
    def has_max_pool(c):
        return any((b.get("pool") or {}).get("type") == "max" for b in c["spec"]["bundles"])
    case = next(c for c in map(random_case, range(5000, 9000))
                if has_max_pool(c) and len(c["spec"]["bundles"]) >= 3 and c["spec"]["batch"] > 1
                and c["stimulus"][1] < 1.0)
    small, runs = shrink(case, budget=500, fails=has_max_pool)
    assert has_max_pool(small) and runs < 500
    assert not any(has_max_pool(c) for c in _smaller(small))
    sb = small["spec"]["bundles"]
    assert small["spec"]["batch"] == 1 and tuple(small["stimulus"][1:]) == (1.0, 1.0)
    assert len(sb) < len(case["spec"]["bundles"]) and (sb[-1].get("pool") or {}).get("type") == "max"
    assert all(not b.get("add") and not b["core"]["use_bias"] for b in sb)


def test_6_random_cases_on_the_rtl(tmp_path):
    s = campaign(6, rtl_every=1, seed=200_000, out_dir=str(tmp_path), progress=False)
    assert s["fail"] == 0, s["failures"]
    assert s["rtl_cases"] >= 5


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases)
def test_any_case_passes_or_is_refused_by_name(case):
    r = run_case(case)
    assert r["status"] in ("pass", "refused"), r.get("reason")


def test_cases_are_their_seeds_and_replay_exactly(tmp_path):
    a, b = random_case(7), random_case(7)
    assert a == b and random_case(8) != a
    first = run_case(a)
    p = tmp_path / "case.json"
    p.write_text(json.dumps(a))
    again = replay(str(p), rtl=False)
    assert first["status"] == again["status"] == "pass"
    assert first["cycles"] == again["cycles"]


def test_generator_covers_the_space():
    seen = {"x16": 0, "mixed": 0, "add": 0, "pool": 0, "dense": 0, "low_p": 0, "axi32": 0,
            "matmul": 0, "fn": 0}
    for s in range(300):
        c = random_case(s)
        h, sp = c["hardware"], c["spec"]
        seen["x16"] += h["bits_input"] == 16
        seen["mixed"] += h["bits_input"] != h["bits_weights"]
        seen["axi32"] += h["axi_width"] == 32
        seen["add"] += any(b.get("add") for b in sp["bundles"])
        seen["pool"] += any(b.get("pool") for b in sp["bundles"])
        seen["dense"] += sp["bundles"][-1]["core"]["type"] == "dense"
        seen["low_p"] += min(c["stimulus"][1:]) < 0.05
        seen["matmul"] += any(b["core"]["type"] == "matmul" for b in sp["bundles"])
        seen["fn"] += any((b.get("fn") or {}).get("type") in ("layernorm", "gelu")
                          for b in sp["bundles"])
    assert all(v >= 15 for v in seen.values()), seen


REGRESSIONS = sorted((__import__("pathlib").Path(__file__).parent / "fuzz_regressions").glob(
    "*.json"))


def test_saved_failures_pass_now_on_twin_and_rtl():
    """Cases `dsf fuzz` once failed (saved with how they failed) pass on the twin and the RTL."""
    assert REGRESSIONS, "tests/fuzz_regressions/ holds the campaign's past failures"
    for p in REGRESSIONS:
        r = replay(str(p), rtl=True)
        assert r["status"] == "pass", (p.name, r.get("reason"))
