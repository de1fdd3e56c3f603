"""Model zoo architectures and registry: parameter counts, shapes, residual property, names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from napari_w2s import W2SInputError
from napari_w2s.models import (
    ARCHITECTURES,
    build_discriminator,
    build_model,
    count_parameters,
    get_spec,
    list_models,
    parameter_count,
)

torch = pytest.importorskip("torch")

NAMES = [
    "dncnn",
    "memnet",
    "ridnet",
    "rcan",
    "rdn",
    "san",
    "srfbn",
    "epsr",
    "esrgan",
    "jdsr",
    "jdsr-rcan",
    "jdsr-esrgan",
    "care",
]


@pytest.fixture(autouse=True, scope="module")
def _few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_registry_names_and_tasks():
    assert list_models() == NAMES
    assert list_models("denoise") == ["dncnn", "memnet", "ridnet"]
    assert list_models("sr") == ["rcan", "rdn", "san", "srfbn", "epsr", "esrgan"]
    assert list_models("jdsr") == ["jdsr", "jdsr-rcan", "jdsr-esrgan", "care"]
    assert get_spec("jdsr").architecture == "RRDBNet"
    assert get_spec("jdsr").full_config["num_blocks"] == 16
    assert get_spec("esrgan").full_config["num_blocks"] == 23
    assert get_spec("jdsr-esrgan").full_config == get_spec("esrgan").full_config
    assert get_spec("jdsr-rcan").architecture == "RCAN"
    assert get_spec("epsr").architecture == "EDSR"
    assert {get_spec(n).scale for n in list_models("denoise")} == {1}
    assert {get_spec(n).scale for n in list_models("sr") + list_models("jdsr")} == {2}
    for name in NAMES:
        spec = get_spec(name)
        assert spec.architecture in ARCHITECTURES and spec.description


def test_unknown_names_raise_w2s_input_error():
    with pytest.raises(W2SInputError, match="jdsr-rcan"):
        get_spec("rcan2")
    with pytest.raises(W2SInputError):
        build_model("unet")
    with pytest.raises(W2SInputError, match="compact"):
        build_model("dncnn", config="huge")
    with pytest.raises(W2SInputError, match="DnCNN"):
        build_model("dncnn", config={"no_such_setting": 3})
    with pytest.raises(W2SInputError):
        list_models("segmentation")


def test_specs_are_read_only():
    spec = get_spec("rcan")
    with pytest.raises(TypeError):
        spec.full_config["num_groups"] = 1
    cfg = spec.config("full")
    cfg["num_groups"] = 1
    assert get_spec("rcan").full_config["num_groups"] == 10


# (name, paper value from the method facts or the paper, relative tolerance)
PAPER_COUNTS = [
    ("dncnn", 0.556e6, 0.05),
    ("memnet", 0.195e6, 0.05),
    ("ridnet", 1.50e6, 0.05),
    ("rcan", 15.4e6, 0.05),
    ("jdsr-rcan", 15.4e6, 0.05),
    ("esrgan", 16.7e6, 0.05),
    ("jdsr-esrgan", 16.7e6, 0.05),
    ("jdsr", 11.7e6, 0.05),
    ("rdn", 22.0e6, 0.05),  # RDN paper: about 22M
    ("san", 15.7e6, 0.05),  # SAN paper: 15.7M
    ("epsr", 40.7e6, 0.01),  # large EDSR at x2 grey (the 43M of the EDSR paper is x4 RGB)
    ("srfbn", 2.13e6, 0.01),  # x2 kernel 6; the published 3.63M is x4, checked below
]


@pytest.mark.parametrize("name,expected,rtol", PAPER_COUNTS)
def test_full_configuration_parameter_counts(name, expected, rtol):
    assert parameter_count(name, "full") == pytest.approx(expected, rel=rtol)


def test_published_counts_of_other_variants():
    # SRFBN's published 3,631K: x4 (kernel 8), RGB in and out
    assert parameter_count("srfbn", {"scale": 4}) == pytest.approx(3.631e6, rel=0.01)
    # EDSR baseline: 1.37M at x2 (paper's baseline ~1.5M at x4 RGB)
    baseline = {"num_blocks": 16, "num_feat": 64, "res_scale": 1.0}
    assert parameter_count("epsr", baseline) == pytest.approx(1.37e6, rel=0.01)
    # MemNet with weight-shared recursive units (the original paper's design) is much smaller
    assert parameter_count("memnet", {"share_weights": True}) < 0.1e6


def test_exact_counts_of_small_modules():
    # DnCNN: first and last conv 3x3x64 without bias, 15 x (3x3x64x64 + BN 2x64)
    assert parameter_count("dncnn", "full") == 2 * 9 * 64 + 15 * (9 * 64 * 64 + 128)
    # the meta-device count agrees with a real build
    assert count_parameters(build_model("dncnn", "full")) == parameter_count("dncnn", "full")
    assert count_parameters(build_model("jdsr", "compact")) == parameter_count("jdsr", "compact")


@pytest.mark.parametrize("name", NAMES)
def test_compact_is_smaller_than_full(name):
    assert parameter_count(name, "compact") < parameter_count(name, "full") / 2


@pytest.mark.parametrize("name", NAMES)
def test_compact_forward_shapes(name):
    torch.manual_seed(0)
    model = build_model(name, "compact").eval()
    scale = get_spec(name).scale
    for batch, shape in [(2, (16, 16)), (1, (13, 22)), (1, (7, 9))]:  # even, odd and tiny sizes
        x = torch.rand(batch, 1, *shape)
        with torch.inference_mode():
            y = model(x)
        assert y.shape == (batch, 1, shape[0] * scale, shape[1] * scale)
        assert y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_full_configurations_run_on_the_meta_device(name):
    # shapes only (no memory, no arithmetic): every full configuration is a working network
    with torch.device("meta"):
        model = build_model(name, "full").eval()
        with torch.inference_mode():
            y = model(torch.empty(1, 1, 24, 17))
    scale = get_spec(name).scale
    assert y.shape == (1, 1, 24 * scale, 17 * scale)


@pytest.mark.parametrize("name", NAMES)
def test_full_configurations_take_a_training_step(name):
    """The paper's configurations for real: one Adam step on a 16 x 16 patch moves every weight
    group and keeps the output finite (what a user with a GPU runs, at toy size). The only
    exception: a channel attention whose squeeze ReLU is off for this one patch gets no gradient
    (RCAN / SAN: 24 of 1628 and 6 of 937 tensors, seed 0)."""
    torch.manual_seed(0)
    model = build_model(name, "full").train()
    scale = get_spec(name).scale
    x = torch.rand(1, 1, 16, 16)
    target = torch.rand(1, 1, 16 * scale, 16 * scale)
    names = [n for n, _ in model.named_parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    out = model(x)
    out = out[-1] if isinstance(out, (list, tuple)) else out
    loss = torch.nn.functional.l1_loss(out, target)
    loss.backward()
    opt.step()
    still = [
        n for n, b, p in zip(names, before, model.parameters(), strict=True) if torch.equal(b, p)
    ]
    assert torch.isfinite(loss)
    assert all(".attention." in n or ".gate." in n for n in still), still
    assert len(still) <= 0.02 * len(names), (len(still), len(names))


@pytest.mark.parametrize("name", ["jdsr", "rcan", "san", "memnet"])
def test_channels_last_and_batch_independence(name):
    torch.manual_seed(0)
    model = build_model(name, "compact").eval()
    x = torch.rand(3, 1, 12, 10)
    with torch.inference_mode():
        y = model(x)
        y1 = model(x[1:2])
        cl = torch.channels_last
        y_cl = model.to(memory_format=cl)(x.contiguous(memory_format=cl))
    torch.testing.assert_close(y[1:2], y1, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(y, y_cl, atol=1e-5, rtol=1e-4)


def test_dncnn_is_residual():
    torch.manual_seed(0)
    model = build_model("dncnn", "compact").eval()
    x = torch.rand(1, 1, 20, 20)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), x - model.noise(x))
        # a network that predicts zero noise returns its input unchanged
        torch.nn.init.zeros_(model.body[-1].weight)
        torch.testing.assert_close(model(x), x)


@pytest.mark.parametrize("name", ["memnet", "ridnet"])
def test_denoisers_have_a_global_residual(name):
    model = build_model(name, "compact").eval()
    last = model.reconstruct[-1] if name == "memnet" else model.tail
    torch.nn.init.zeros_(last.weight)
    if last.bias is not None:
        torch.nn.init.zeros_(last.bias)
    x = torch.rand(1, 1, 9, 11)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), x)


def test_srfbn_returns_every_step_in_training():
    model = build_model("srfbn", "compact")
    steps = get_spec("srfbn").compact_config["num_steps"]
    outs = model.train()(torch.rand(2, 1, 8, 8))
    assert isinstance(outs, list) and len(outs) == steps
    assert all(o.shape == (2, 1, 16, 16) for o in outs)
    sum(o.abs().mean() for o in outs).backward()
    with torch.inference_mode():
        assert model.eval()(torch.rand(1, 1, 8, 8)).shape == (1, 1, 16, 16)


@pytest.mark.parametrize("name", ["san", "jdsr", "care"])
def test_compact_models_train(name):
    torch.manual_seed(0)
    model = build_model(name, "compact").train()
    x = torch.rand(2, 1, 16, 16)
    loss = (model(x) - torch.rand(2, 1, 32, 32)).abs().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_newton_schulz_square_root():
    from napari_w2s.models.san import newton_schulz_sqrt

    torch.manual_seed(0)
    feats = torch.randn(2, 8, 500, dtype=torch.float64)
    cov = feats @ feats.transpose(1, 2) / 500
    root = newton_schulz_sqrt(cov, iterations=20)
    torch.testing.assert_close(root @ root, cov, atol=1e-8, rtol=1e-6)
    # SAN's 5 iterations: an approximation good to a few percent on a well-conditioned matrix
    approx = newton_schulz_sqrt(cov, iterations=5)
    assert ((approx @ approx - cov).norm() / cov.norm()) < 0.05


def test_region_non_local_is_softmax_attention_inside_each_region():
    from napari_w2s.models.san import RegionNonLocal

    torch.manual_seed(0)
    block = RegionNonLocal(8, nl_region=5)
    x = torch.randn(2, 8, 13, 11)
    q, k, v = block.theta(x), block.phi(x), block.g(x)
    expected = torch.zeros_like(v)
    rows, cols = block._bounds(13, 3), block._bounds(11, 3)  # ceil(13 / 5) = ceil(11 / 5) = 3
    assert len(rows) == len(cols) == 3
    for r0, r1 in rows:
        for c0, c1 in cols:
            qq, kk, vv = (t[:, :, r0:r1, c0:c1].flatten(2) for t in (q, k, v))
            att = torch.softmax(qq.transpose(1, 2) @ kk, dim=-1)  # embedded Gaussian, no scaling
            out = (att @ vv.transpose(1, 2)).transpose(1, 2)
            expected[:, :, r0:r1, c0:c1] = out.reshape(2, 4, r1 - r0, c1 - c0)
    torch.testing.assert_close(block(x), x + block.out(expected), atol=1e-5, rtol=1e-5)


def test_care_upsamples_bicubically_inside():
    model = build_model("care", "compact").eval()
    torch.nn.init.zeros_(model.out.weight)
    torch.nn.init.zeros_(model.out.bias)
    x = torch.rand(1, 1, 11, 14)
    with torch.inference_mode():
        expected = torch.nn.functional.interpolate(
            x, scale_factor=2, mode="bicubic", align_corners=False
        )
        torch.testing.assert_close(model(x), expected)


def test_rrdbnet_residual_option_adds_the_bicubic_upsampling():
    from napari_w2s.models.rrdbnet import RRDBNet

    torch.manual_seed(0)
    plain = RRDBNet(num_blocks=1, num_feat=8, growth=4).eval()
    res = RRDBNet(num_blocks=1, num_feat=8, growth=4, residual=True).eval()
    res.load_state_dict(plain.state_dict())  # the option adds no parameters
    x = torch.rand(1, 1, 11, 14)
    with torch.inference_mode():
        up = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        torch.testing.assert_close(res(x), plain(x) + up)


def test_discriminator():
    disc = build_discriminator("compact").eval()
    with torch.inference_mode():
        assert disc(torch.rand(3, 1, 128, 128)).shape == (3, 1)
    with pytest.raises(ValueError, match="128"):
        disc(torch.rand(1, 1, 64, 64))
    assert count_parameters(build_discriminator("full")) > count_parameters(disc)


def test_config_overrides_full():
    model = build_model("rcan", {"num_groups": 1, "num_blocks": 1, "num_feat": 16, "reduction": 4})
    assert len(model.body) == 2  # one group and the closing convolution
    assert get_spec("rcan").config({"num_groups": 2})["num_blocks"] == 20


def test_a_named_configuration_with_settings_changed():
    from napari_w2s.models.config_text import config_label, normal_config, parse_config

    assert parse_config("compact:num_blocks=4, residual=false") == (
        "compact",
        {"num_blocks": 4, "residual": False},
    )
    cfg = get_spec("jdsr").config("compact:num_blocks=4")
    assert cfg == {**get_spec("jdsr").compact_config, "num_blocks": 4}
    assert len(build_model("jdsr", "compact:num_blocks=3").body) == 3
    assert get_spec("rcan").config("full:num_groups=2")["num_blocks"] == 20
    assert config_label("compact:num_blocks=4") == "compact-num_blocks4"
    assert config_label("full") == "full"
    with pytest.raises(W2SInputError, match="no setting 'blocks'.*num_blocks"):
        get_spec("jdsr").config("compact:blocks=4")
    with pytest.raises(W2SInputError, match="NAME=VALUE"):
        parse_config("compact:num_blocks")
    with pytest.raises(W2SInputError, match="not a number"):
        parse_config("compact:num_blocks=four")
    with pytest.raises(W2SInputError, match="compact"):
        parse_config("medium:num_blocks=4")
    with pytest.raises(W2SInputError, match="not a number"):
        parse_config("compact:num_blocks=nan")
    for bad, why in (
        ("num_blocks=2.5", "whole number"),
        ("num_blocks=true", "whole number"),
        ("residual=1", "true or false"),
        ("num_blocks=0", "above 0"),
    ):
        with pytest.raises(W2SInputError, match=why):
            get_spec("jdsr").config(f"compact:{bad}")
    with pytest.raises(W2SInputError, match="scales 1, 2 and 4"):
        build_model("jdsr", "compact:scale=3")
    # one way of writing it: a run resumes whatever way its configuration was typed
    assert normal_config(" Compact:num_feat=32, num_blocks=4") == "compact:num_blocks=4,num_feat=32"
    assert normal_config("FULL") == "full"
    assert (
        config_label("compact:residual=false,num_blocks=4") == "compact-num_blocks4-residualfalse"
    )


def test_a_cards_settings_name_the_configuration_that_rebuilds_them():
    from napari_w2s.models.registry import config_name_of

    spec = get_spec("jdsr")
    compact, full = dict(spec.compact_config), dict(spec.full_config)
    assert config_name_of(spec, compact) == "compact"
    assert config_name_of(spec, full) == "full"
    older = {**compact, "num_blocks": compact["num_blocks"] + 3, "residual": False}
    name = config_name_of(spec, older)
    assert name == f"compact:num_blocks={older['num_blocks']},residual=false"
    assert spec.config(name) == older
    assert spec.config(config_name_of(spec, {**full, "num_blocks": 8})) == {**full, "num_blocks": 8}
    with pytest.raises(W2SInputError, match="not a configuration of jdsr"):
        config_name_of(spec, {"num_blocks": 2})


def test_a_deeper_rrdb_network_starts_as_the_shallower_one():
    """Growing a trained JDSR (2 blocks) to 4: the added blocks begin as identities (times 1.2,
    taken back by the trunk convolution), so the output is the same to float precision, and
    every added block can learn (its output convolutions receive gradients)."""
    torch.manual_seed(0)
    small = build_model("jdsr", "compact:num_blocks=2")
    for p in small.parameters():  # a trained-looking network: no zero output convolutions
        p.data.add_(0.05 * torch.randn_like(p))
    deep = build_model("jdsr", "compact:num_blocks=4")
    state, added = deep.deepened_state(small.state_dict())
    assert added == 2
    deep.load_state_dict(state)
    x = torch.rand(2, 1, 24, 24)
    small.eval()
    deep.eval()
    with torch.no_grad():
        ref, out = small(x), deep(x)
    assert ref.std() > 0.01
    assert torch.allclose(out, ref, atol=1e-5 * float(ref.abs().max()))
    deep.train()  # the training path (concatenating dense blocks, gradients) computes the same
    small.train()
    out = deep(x)
    assert torch.allclose(out, small(x), atol=1e-5 * float(ref.abs().max()))
    out.mean().backward()
    grads = [deep.body[i].body[j].conv_out.weight.grad for i in (2, 3) for j in range(3)]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    # a network of the same depth, or another width, is left as it is
    assert small.deepened_state(small.state_dict())[1] == 0
    other = build_model("jdsr", "compact:num_blocks=4,num_feat=16")
    assert other.deepened_state(small.state_dict())[1] == 0
    # more than depth changed (an HR convolution the smaller one does not have): not grown
    wider = build_model("jdsr", "compact:num_blocks=4,hr_conv=true")
    assert wider.deepened_state(small.state_dict())[1] == 0


def test_a_wider_rrdb_network_starts_as_the_narrower_one():
    """Widening a trained JDSR (features 24 -> 32, growth 12 -> 16, and 2 blocks more): every
    old channel keeps its weights at its place in the wider layout and whatever reads a new
    channel starts at zero, so the output is the same to float precision; what reads the new
    channels receives gradients, so they can learn."""
    torch.manual_seed(0)
    small = build_model("jdsr", "compact:num_feat=24,growth=12")
    for p in small.parameters():  # a trained-looking network
        p.data.add_(0.05 * torch.randn_like(p))
    wide = build_model("jdsr", "compact:num_feat=32,growth=16,num_blocks=6")
    state, narrower = wide.widened_state(small.state_dict())
    assert narrower == (24, 12)
    state, added = wide.deepened_state(state)
    assert added == 2
    wide.load_state_dict(state)
    x = torch.rand(2, 1, 24, 24)
    for mode in ("eval", "train"):  # the lean inference forms, then the concatenating one
        getattr(small, mode)()
        getattr(wide, mode)()
        with torch.set_grad_enabled(mode == "train"):
            ref, out = small(x), wide(x)
        assert ref.std() > 0.01
        assert torch.allclose(out, ref, atol=1e-5 * float(ref.detach().abs().max())), mode
    out.mean().backward()
    reads_new = wide.body[0].body[0].convs[1].weight.grad[:, 24:32]  # new trunk channels
    assert reads_new.abs().sum() > 0
    # an ESRGAN-like network with an HR convolution widens the same way
    torch.manual_seed(1)
    e_small = build_model("jdsr", "compact:hr_conv=true,num_blocks=1,num_feat=24,growth=12")
    e_wide = build_model("jdsr", "compact:hr_conv=true,num_blocks=1,num_feat=28,growth=12")
    e_wide.load_state_dict(e_wide.widened_state(e_small.state_dict())[0])
    e_small.eval()
    e_wide.eval()
    with torch.no_grad():
        assert torch.allclose(e_wide(x), e_small(x), atol=1e-5)
    # the same width, or a wider state than the network: left to the strict load
    assert small.widened_state(small.state_dict())[1] is None
    assert small.widened_state(wide.state_dict())[1] is None


def test_importing_the_registry_does_not_import_torch():
    code = (
        "import sys, napari_w2s, napari_w2s.models as m\n"
        "from napari_w2s.models import registry, configs\n"
        "names = m.list_models(); spec = m.get_spec('jdsr'); spec.config('full')\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print(len(names))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "13"
