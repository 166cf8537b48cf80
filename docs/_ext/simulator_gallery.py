"""Sphinx extension: simulate one exposure of every sub-type and write the gallery page's PNGs."""

from pathlib import Path


def generate(app):
    from celestialclass.simulate.gallery import make_gallery

    out = Path(app.srcdir) / "_generated" / "gallery"
    if out.exists() and len(list(out.glob("*.png"))) == 11 and not app.config.cc_regenerate_gallery:
        return
    paths = make_gallery(out, "ACS/WFC", seed=2024)
    lines = []
    for path in paths:
        kind, subtype = path.stem.split("-", 1)
        lines += [f".. figure:: /_generated/gallery/{path.name}", "   :width: 100%", "",
                  f"   {kind}: {subtype.replace('_', ' ')}", ""]
    (out.parent / "gallery.rst").write_text("\n".join(lines))


def setup(app):
    app.add_config_value("cc_regenerate_gallery", False, "env")
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
