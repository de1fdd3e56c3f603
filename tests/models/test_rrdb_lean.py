"""The RRDB dense blocks without concatenation (models/rrdbnet.py): the same outputs as the
concatenating form, the same state dict, used only where no gradient is recorded."""

from __future__ import annotations

import pytest
import torch

from napari_w2s.models.rrdbnet import ResidualDenseBlock5C, RRDBNet
from napari_w2s.models.weights import load_model, load_state_dict
from napari_w2s.restore.zoo import find_weights


def _concatenating(block: ResidualDenseBlock5C, x: torch.Tensor) -> torch.Tensor:
    """The paper's form: every convolution reads the concatenation of all earlier maps."""
    feats = [x]
    for conv in block.convs:
        feats.append(block.act(conv(torch.cat(feats, dim=1))))
    return x + 0.2 * block.conv_out(torch.cat(feats, dim=1))


@pytest.fixture(scope="module")
def jdsr() -> RRDBNet:
    torch.set_num_threads(1)
    model, card = load_model(find_weights("jdsr"))
    assert card.architecture == "RRDBNet"
    return model


@pytest.mark.parametrize("channels_last", [False, True])
def test_shipped_jdsr_gives_the_concatenating_output(jdsr, monkeypatch, channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = jdsr.to(memory_format=fmt)
    x = torch.randn(2, 1, 40, 56, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=fmt)
    with torch.inference_mode():
        lean = model(x)
        monkeypatch.setattr(ResidualDenseBlock5C, "forward", _concatenating)
        reference = model(x)
    assert lean.shape == reference.shape == (2, 1, 80, 112)
    assert torch.max(torch.abs(lean - reference)).item() <= 1e-5
    assert torch.max(torch.abs(reference)).item() > 0.1  # the network does something
    jdsr.to(memory_format=torch.contiguous_format)


def test_the_state_dict_is_unchanged(jdsr):
    state = load_state_dict(find_weights("jdsr"))
    with torch.inference_mode():
        jdsr(torch.rand(1, 1, 16, 16))  # the stacked weights exist now
    mine = jdsr.state_dict()
    assert list(mine) == list(RRDBNet(**_config()).state_dict())
    assert {k: tuple(v.shape) for k, v in mine.items()} == {
        k: tuple(v.shape) for k, v in state.items()
    }


def _config() -> dict:
    from napari_w2s.models.weights import read_card

    return read_card(find_weights("jdsr")).config


@pytest.mark.parametrize("form", ["wide", "split"])
@pytest.mark.parametrize(("nf", "gc"), [(24, 12), (64, 32)])
def test_both_forms_at_both_widths(form, nf, gc):
    torch.manual_seed(3)
    block = ResidualDenseBlock5C(nf, gc).eval()
    assert block.lean == ("wide" if gc < 32 else "split")  # the measured choice
    block.lean = form
    x = torch.randn(1, nf, 20, 24)
    with torch.inference_mode():
        torch.testing.assert_close(block(x), _concatenating(block, x), rtol=0, atol=1e-5)
    block.lean = ""  # off: the concatenating form
    with torch.inference_mode():
        torch.testing.assert_close(block(x), _concatenating(block, x), rtol=0, atol=0)


def test_a_block_follows_its_parameters():
    torch.manual_seed(1)
    block = ResidualDenseBlock5C(8, 4).eval()
    x = torch.randn(1, 8, 12, 12)
    with torch.no_grad():
        block(x)
        for p in block.parameters():
            p.add_(0.05)  # an in-place update (an optimiser step, load_state_dict)
        torch.testing.assert_close(block(x), _concatenating(block, x), rtol=0, atol=1e-5)


def test_training_keeps_the_concatenating_form():
    torch.manual_seed(2)
    block = ResidualDenseBlock5C(8, 4)
    x = torch.randn(2, 8, 10, 10, requires_grad=True)
    block(x).square().mean().backward()  # in-place running sums would break autograd here
    assert block.conv_out.weight.grad is not None and block._lean is None
    traced = torch.jit.trace(block.eval(), torch.randn(1, 8, 10, 10), check_trace=False)
    assert block._lean is None  # tracing records the concatenating graph
    with torch.no_grad():
        torch.testing.assert_close(traced(x), block(x), rtol=0, atol=1e-5)
