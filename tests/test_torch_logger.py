"""``ParamLogger`` (what ``watch`` logs with) on torchvision ResNet-18's parameters: the events it writes
equal the numpy ``Writer``'s, step by step, gradients included.

Names, shapes and layouts come from ``param_specs``; the values are in mixed
dtypes (so some groups go to numba's kernels, the others to the torch ops,
as ``backends.choose`` decides) with NaN and +/-Inf in some. The backends
themselves are held equal to the reference in tests/test_backends.py.
"""

import numpy as np
import pytest
import torch

from tb_nnviz import Writer
from tb_nnviz.format import metadata
from tb_nnviz.log.plan import Weight
from tb_nnviz.log.torch_logger import ParamLogger, dtype_name, param_specs
from tb_nnviz.reduce import grids, trajectory
from tests.providers import CTX, python_provider, read_all
from tests.reference import make_array, to_torch

DTYPES = ("float16", "bfloat16", "float32", "float64")
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def test_param_logger_writes_the_reference_on_resnet18(tmp_path):
    """ResNet-18's parameters (names, shapes, layouts from param_specs) in mixed dtypes with NaN/Inf:
    ParamLogger's event files equal the numpy Writer's reference, step by step, gradients included."""
    import torchvision

    rng = np.random.default_rng(0)
    model = torchvision.models.resnet18(weights=None)
    specs = param_specs(model)
    assert len(specs) == 62 and specs[0].name == "conv1/weight" and specs[0].layout == "conv_first"
    assert {s.name: s.layout for s in specs}["fc/weight"] == "transposed"
    names = DTYPES
    steps, weights, grads = [{}, {}], [], {}
    for i, s in enumerate(specs):
        dtype = names[i % 4]
        x = make_array(tuple(s.variable.shape), dtype, i, special=i % 5 == 1)
        y = x.astype(np.float64)
        y[:: 2] += rng.normal(0, 1e-3, y[:: 2].shape)  # even output units (axis 0) move
        steps[0][s.name], steps[1][s.name] = x, y.astype(x.dtype)
        param = torch.nn.Parameter(to_torch(x))
        grads[s.name] = make_array(x.shape, dtype, 100 + i, False)
        param.grad = to_torch(grads[s.name])
        weights.append(Weight(s.name, param, s.layout, s.gates, s.description, s.unit_axis))
    budget = 2**18
    with Writer(tmp_path / "torch", num_traces=8) as writer:
        logger = ParamLogger(writer, weights, max_total_cells=budget)
        assert logger.group_count == len({(x.shape, x.dtype) for x in steps[0].values()})
        logger.log(0, True, True)
        for w in weights:
            w.variable.data.copy_(to_torch(steps[1][w.name]))
        logger.capture_gradients()
        logger.log(1, True, True)
    with Writer(tmp_path / "numpy", num_traces=8) as ref:
        for step, values in enumerate(steps):
            ref.log_weights(step, values, layouts={w.name: w.layout for w in weights},
                            unit_axes={w.name: w.unit_axis for w in weights},
                            gradients=grads if step else None)
    data = {run: read_all(python_provider(tmp_path / run), plugin)["."]
            for run in ("torch", "numpy") for plugin in [metadata.TRAJECTORY_PLUGIN_NAME]}
    # Heatmaps: each tensor's content under the model-wide budget (grids.heatmap_cap, heatmap_cells), then
    # the numpy reference's planes of that content.
    torch_heat = python_provider(tmp_path / "torch")
    heat = read_all(torch_heat, metadata.HEATMAP_PLUGIN_NAME)["."]
    listing = torch_heat.list_tensors(CTX, experiment_id="", plugin_name=metadata.HEATMAP_PLUGIN_NAME)["."]
    specs = [(tuple(w.variable.shape), grids.grid_layout(tuple(w.variable.shape), w.layout)) for w in weights]
    cap = grids.heatmap_cap(specs, grids.DEFAULT_MAX_CELLS, budget)
    assert {metadata.summary_tag(w.name, metadata.HEATMAP_PLUGIN_NAME) for w in weights} <= set(heat)
    for index, (w, spec) in enumerate(zip(weights, specs)):
        tag = metadata.summary_tag(w.name, metadata.HEATMAP_PLUGIN_NAME)
        x0 = steps[0][w.name]
        content = grids.heatmap_content(w.name, x0.shape, x0.dtype, w.layout,
                                        grids.heatmap_cells(*spec, cap, grids.DEFAULT_MAX_CELLS), w.gates,
                                        index=index)
        got_content = metadata.parse_content(listing[tag].plugin_content)
        assert {k: got_content[k] for k in content} == content, w.name
        assert [d.step for d in heat[tag]][-1] == 1
        for datum in heat[tag]:
            want = grids.heatmap_planes(steps[datum.step][w.name], content)
            np.testing.assert_allclose(datum.numpy, want, rtol=1e-6, atol=1e-30, err_msg="%s %d" % (tag, datum.step))
    norm = trajectory.STAT_FIELDS.index("grad_norm")
    for w in weights:
        tag = metadata.summary_tag(w.name, metadata.TRAJECTORY_PLUGIN_NAME)
        got, want = data["torch"][tag], data["numpy"][tag]
        for step in range(2):
            np.testing.assert_allclose(got[step].numpy, want[step].numpy, rtol=1e-9, atol=1e-9, err_msg=w.name)
        assert np.isnan(got[0].numpy[norm]) and np.isfinite(got[1].numpy[norm]), w.name
    listing = python_provider(tmp_path / "torch").list_tensors(CTX, experiment_id="",
                                                               plugin_name=metadata.TRAJECTORY_PLUGIN_NAME)
    content = metadata.parse_content(listing["."]["conv1/weight/nnviz_trajectory"].plugin_content)
    assert content["unit_axis"] == 0 and content["dtype"] == dtype_name(torch.float16)
