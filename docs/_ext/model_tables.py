"""Sphinx extension: write the models page's tables from the code at build time.

Nothing in these tables is typed by hand: they come from
`celestialclass.models.summary` and `celestialclass.evaluation.tables`.
"""

from pathlib import Path


def _write_rst(table, path):
    table.write(path, format="ascii.rst", overwrite=True)


def _table2(out):
    import torch
    from astropy.table import Table
    from torch import nn

    from celestialclass.models import get_model, summary

    with torch.device("meta"):
        model = get_model("hr-celestialnet")
    rows = []
    for row in summary(model, batch_size=1).layers:
        module = model.get_submodule(row["name"])
        if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.Linear)):
            continue
        kind = {"Conv2d": "Convolution", "MaxPool2d": "Max Pooling", "Linear": "Fully Connected"}[row["type"]]
        kernel = getattr(module, "kernel_size", "-")
        kernel = f"{kernel[0]}x{kernel[1]}" if isinstance(kernel, tuple) else str(kernel)
        stride = getattr(module, "stride", "-")
        stride = str(stride[0]) if isinstance(stride, tuple) else str(stride)
        shape = row["output_shape"].split("x", 1)[1]
        rows.append((len(rows) + 1, kind, kernel if kind != "Fully Connected" else "-",
                     stride if kind != "Fully Connected" else "-", shape, f"{row['params']:,}"))
    _write_rst(Table(rows=rows, names=("layer", "type", "kernel", "stride", "output (CxHxW)",
                                       "trainable params")), out / "table2.rst")


def _model_layers(out):
    from celestialclass.models import list_models, summary

    for name in ("hr-celestialnet", "alexnet", "vgg16-bn", "resnet18", "celestialnet-lite"):
        assert name in list_models()
        s = summary(name, batch_size=1)
        table = s.layers.copy()
        table["output_shape"] = [shape.split("x", 1)[1] for shape in table["output_shape"]]
        _write_rst(table, out / f"layers_{name}.rst")
        (out / f"totals_{name}.rst").write_text(
            f"Input {'x'.join(map(str, s.input_size))}: {s.total_params:,} parameters "
            f"({s.params_mb:.2f} MB), {s.macs / 1e9:.2f} G multiply-accumulates per input.\n"
        )


def _table3(out):
    from celestialclass.evaluation.tables import reproduce_table3

    _write_rst(reproduce_table3(), out / "table3.rst")


def generate(app):
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    _table2(out)
    _model_layers(out)
    _table3(out)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
