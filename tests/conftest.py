from __future__ import annotations

import importlib.util
import json
import signal
import socket
import sys
from pathlib import Path

import pytest
import torch

from adanat_cli.cli.app import main
from adanat_cli.models.bundle import save_bundle
from adanat_cli.registry import registry

from .fakes import ToyBackbone, ToyExtractor, ToyTokenizer, class_folders, toy_model


@pytest.fixture
def toy_plugins():
    """Register the toy backbone and tokenizer for one test, and remove them afterwards."""
    registry.register("backbones", "toy", ToyBackbone, distribution="tests")
    registry.register("tokenizers", "toy", ToyTokenizer, distribution="tests")
    yield
    registry.unregister("backbones", "toy")
    registry.unregister("tokenizers", "toy")


@pytest.fixture
def toy_extractor(tmp_path, monkeypatch):
    """The weight-free ``toy`` feature extractor, registered for one test, with a private cache."""
    monkeypatch.setenv("ADANAT_CACHE", str(tmp_path / "cache"))
    registry.register("feature_extractors", "toy", ToyExtractor, distribution="tests")
    yield "toy"
    registry.unregister("feature_extractors", "toy")


@pytest.fixture
def toy_bundle(tmp_path, toy_plugins) -> Path:
    backbone = toy_model(seed=0, side=4, num_classes=3)
    tokenizer = ToyTokenizer()
    return save_bundle(tmp_path / "toy-bundle", "toy", backbone, tokenizer, ["zero", "one", "two"],
                       recommended={"scheduler": "cosine", "steps": 4})


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run ``adanat ARGS`` in-process through the real entry function (error mapping included)."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def one_thread():
    """Tiny batches: one thread is as fast, and far faster when the cores are shared
    (``pytestmark = pytest.mark.usefixtures("one_thread")`` in a module)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def default_sigint() -> None:
    """``preexec_fn`` for a child that the tests interrupt: a shell without job control starts background
    jobs with SIGINT ignored, and Python keeps an ignored SIGINT, so a suite run with ``&`` would see
    interrupted commands finish instead. Restore what a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    """A TCP port nothing listens on now, for a torchrun rendezvous (a fixed one can be taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def training_setup(tmp_path, toy_bundle, toy_extractor):
    """train-policy arguments for the toy model with real images and a tiny network."""
    real = class_folders(tmp_path / "real", 3, 6, 8)
    config = json.loads((toy_bundle / "config.json").read_text())
    config["evaluation"] = {"extractor": "toy", "real": str(real)}
    (toy_bundle / "config.json").write_text(json.dumps(config))
    return ["-m", str(toy_bundle), "-T", "3", "--trajectories", "8", "-b", "4", "--lr", "1e-3",
           "--network-arg", "hidden=16", "--network-arg", "pointwise=4", "--network-arg", "fc1=16",
           "--network-arg", "fc2=8", "--reward-arg", "d_batch=8", "--eval-num", "6"]


@pytest.fixture(scope="session")
def quick_text_bundle(tmp_path_factory) -> Path:
    """A tiny-mnist-text bundle built with ``--quick`` (a handful of training steps, ~5 s): every text
    path runs on it, though its images are noise."""
    from adanat_cli.builds.tiny_mnist_text import build

    return build(tmp_path_factory.mktemp("text") / "tiny-mnist-text-quick", quick=True)


@pytest.fixture
def load_script():
    """``load_script(name)``: the module ``scripts/<name>.py`` (the scripts are not a package), in
    ``sys.modules`` while the test runs."""
    loaded: list[str] = []

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
