"""Settings users can set once, in astropy's configuration system.

Set them for a session (``celestialclass.config.conf.device = "cpu"``), for a
block (``with conf.set_temp("device", "cpu"): ...``), or for good in the
``[celestialclass]`` section of ``~/.astropy/config/celestialclass.cfg``
(``astropy.config.create_config_file("celestialclass")`` writes one to edit).

Examples
--------
>>> from celestialclass.config import conf
>>> conf.weights, conf.device
('default', 'auto')
>>> with conf.set_temp("device", "cpu"):
...     conf.device
'cpu'
"""

from astropy import config as _config

__all__ = ["Conf", "conf"]


class Conf(_config.ConfigNamespace):
    """Defaults of `celestialclass.CelestialClassifier` and the command line."""

    weights = _config.ConfigItem(
        "default", "Weights CelestialClassifier() uses: a registered name, a training output directory, or a URL "
                   "with #sha256=HEX.")
    device = _config.ConfigItem("auto", "Device to classify on: auto (CUDA when available), cpu, cuda, cuda:N.")
    num_threads = _config.ConfigItem(0, "Torch threads while classifying; 0 leaves torch's default.")


conf = Conf()
