"""Constructor arguments are the config, for every registered backbone and tokenizer and for the policy
network: recorded without a hand-written ``self.config``, JSON-clean, and rebuilding from them gives
the same config and the same parameter shapes."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.configurable import Configurable
from adanat_cli.registry import registry
from adanat_cli.schedulers.adanat_network import PolicyNet, StaticTable


def _builtin(kind: str) -> list[str]:
    return [info.name for info in registry.infos(kind) if info.distribution == "adanat"]


def _rebuild_matches(cls, module) -> None:
    config = json.loads(json.dumps(module.config))  # what a bundle's config.json gives back
    assert config == module.config
    with torch.device("meta"):
        again = cls(**config)
    assert again.config == module.config
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in module.state_dict().items()}


@pytest.mark.parametrize("kind", ["backbones", "tokenizers"])
def test_every_builtin_network_records_its_constructor_arguments(kind):
    for name in _builtin(kind):
        cls = registry.get(kind, name)
        with torch.device("meta"):
            module = cls()  # the published defaults: full size, so built on the meta device
        _rebuild_matches(cls, module)


def test_the_outermost_constructor_owns_the_config_and_positional_arguments_are_named():
    net = PolicyNet(32, (4, 4), hidden=16, pointwise=8, fc1=32, fc2=16)
    assert net.config == {"feature_dim": 32, "grid": [4, 4], "out_dim": 4, "hidden": 16, "pointwise": 8,
                          "fc1": 32, "fc2": 16, "prompt_dim": 0}
    _rebuild_matches(PolicyNet, net)
    _rebuild_matches(StaticTable, StaticTable(8))


def test_arguments_that_do_not_bind_raise_the_class_error():
    class Strict(Configurable):
        def __init__(self, a: int = 1) -> None:
            self.a = a

    with pytest.raises(TypeError):
        Strict(b=2)
    assert Strict(a=3).config == {"a": 3}
