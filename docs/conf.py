# Sphinx configuration for celestialclass, on top of sphinx-astropy's defaults.

import os
import sys
from importlib.metadata import version as _version

from sphinx_astropy.conf.v2 import *  # noqa: F401,F403

project = "celestialclass"
author = "The celestialclass developers"
copyright = "2026, " + author
release = _version("celestialclass")
version = release.split("+")[0]

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))
extensions += [  # noqa: F405
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    "model_tables",  # writes _generated/*.rst from the code
    "simulator_gallery",  # simulates the gallery's chips
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "_generated"]  # noqa: F405
html_title = f"{project} v{version}"
html_theme_options = {"github_url": "https://github.com/celestialclass/celestialclass"}
html_static_path = ["_static"]
html_css_files = ["celestialclass.css"]
numpydoc_show_class_members = False
automodapi_toctreedirnm = "api"

intersphinx_mapping.update({  # noqa: F405
    "ccdproc": ("https://ccdproc.readthedocs.io/en/latest/", None),
    "torch": ("https://pytorch.org/docs/stable/", None),
})
# Offline builds (no network for the inventories): CELESTIALCLASS_DOCS_OFFLINE=1.
if os.environ.get("CELESTIALCLASS_DOCS_OFFLINE"):
    intersphinx_mapping = {}
