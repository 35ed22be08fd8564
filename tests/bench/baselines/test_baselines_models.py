import numpy as np
import pytest
import torch

from bench.baselines import features, models


@pytest.mark.parametrize("size", sorted(models.SIZES))
@pytest.mark.parametrize("causal", [False, True])
def test_analytic_macs_match_flop_counter(size, causal):
    net = models.build(size, features.N_MELS, 5, causal=causal)
    analytic = models.macs_per_frame(net)
    measured = models.flop_counter_macs_per_frame(net, features.N_MELS, n_frames=150)
    assert abs(analytic - measured) / measured < 0.01


def test_sizes_form_a_curve():
    small, large = (models.build(s, features.N_MELS, 1) for s in ("small", "large"))
    assert models.macs_per_frame(large) > 3 * models.macs_per_frame(small)
    assert models.count_params(large) > models.count_params(small)


@pytest.mark.parametrize("causal", [False, True])
def test_context_is_centred_or_causal(causal):
    """An impulse at frame t0 changes outputs only inside the documented receptive field."""
    torch.manual_seed(0)
    net = models.build("small", features.N_MELS, 1, causal=causal).eval()
    T, t0, R = 120, 60, net.receptive_field_frames
    x = torch.zeros(1, features.N_MELS, T)
    x2 = x.clone()
    x2[0, :, t0] = 5.0
    with torch.no_grad():
        d = (net(x2) - net(x))[0, 0].abs().numpy() > 0
    changed = np.flatnonzero(d)
    assert len(changed) > 0
    if causal:
        assert changed.min() >= t0 and changed.max() <= t0 + R - 1
    else:
        assert changed.min() >= t0 - R // 2 and changed.max() <= t0 + R // 2


def test_output_has_one_value_per_frame():
    net = models.build("large", features.N_MELS, 3)
    assert net(torch.zeros(2, features.N_MELS, 77)).shape == (2, 3, 77)


def test_bad_size_names_the_problem():
    with pytest.raises(ValueError, match="unknown baseline size"):
        models.build("medium", 64, 1)
