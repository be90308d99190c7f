"""The reference models of Coral's Edge TPU table: parameter counts against published ones,
MACs (``torch.utils.flop_counter``) against published ones where a source gives a figure at
the resolution the model is built at, and the shape of their output."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwsim.workloads import get_workload, is_workload_name, reference_names, workload_names
from hwsim.workloads.coral import PUBLISHED_PARAMS
from hwsim.workloads.registry import FAMILIES

MACS_REL_TOL = 0.03  # as tests/test_workloads.py: published figures are rounded
PARAMS_REL_TOL = 0.02


@pytest.mark.parametrize("name", reference_names())
def test_reference_model_matches_its_sources(name):
    workload = get_workload(name)
    model = workload.build()
    assert not any(module.training for module in model.modules())
    if name in PUBLISHED_PARAMS:
        count, source = PUBLISHED_PARAMS[name]
        params = sum(p.numel() for p in model.parameters())
        assert params == pytest.approx(count, rel=PARAMS_REL_TOL), source
    if workload.published_macs is None:  # nothing to compare; the benchmark traces it
        return
    # Counted on the meta device: FLOPs need shapes, not arithmetic (keeps the test fast).
    inputs = tuple(t.to("meta") for t in workload.make_inputs(1))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        output = model.to("meta")(*inputs)
    assert output.shape[0] == 1
    macs = counter.get_total_flops() / 2
    assert macs == pytest.approx(workload.published_macs, rel=MACS_REL_TOL), workload.macs_source


def test_reference_models_are_built_in_but_not_core():
    """Every name resolves; none is in the core set every preset is checked on, and none
    takes a family's prefix (one name per network: Coral's MobileNet v1 is the family's
    ``mobilenet_v1:1.0_224``)."""
    assert set(reference_names()).isdisjoint(workload_names())
    assert set(reference_names()).isdisjoint(FAMILIES)
    assert all(is_workload_name(name) for name in reference_names())
