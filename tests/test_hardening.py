"""Hostile and careless input: one line, the documented exit code, nothing written (docs/errors.md)."""

from __future__ import annotations

import errno
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import save_file

from adanat_cli.errors import report
from adanat_cli.models.bundle import load_bundle
from adanat_cli.models.resolve import builtin_models

from .test_fid import _blobs, _write_images

pytestmark = pytest.mark.usefixtures("one_thread")


def one_line(result) -> bool:
    return "Traceback" not in result.err and sum(line.startswith("Error: ") for line in result.err.splitlines()) == 1


@pytest.fixture
def mnist_copy(tmp_path):
    """A writable copy of the tiny-mnist bundle."""
    return shutil.copytree(builtin_models()["tiny-mnist"], tmp_path / "tiny-mnist")


def _edit_config(bundle, edit) -> None:
    config = json.loads((bundle / "config.json").read_text())
    edit(config)
    (bundle / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("where", ["../outside.safetensors", "/etc/passwd", "link.safetensors", "", 7])
def test_bundle_files_must_stay_inside_the_bundle(cli, mnist_copy, tmp_path, where):
    (tmp_path / "outside.safetensors").write_bytes(b"")
    if where == "link.safetensors":
        os.symlink(tmp_path / "outside.safetensors", mnist_copy / "link.safetensors")
    _edit_config(mnist_copy, lambda c: c["schedules"]["adanat"]["8"].update(policy=where))
    out = tmp_path / "s"
    result = cli("sample", "-m", str(mnist_copy), "-s", "adanat", "-T", "8", "-c", "1", "-n", "1", "-o", str(out))
    assert result.code == 4 and one_line(result), result.err
    assert "outside the bundle" in result.err or "not a relative path" in result.err
    assert not out.exists()


def test_classifier_and_stats_files_are_confined_too(mnist_copy):
    from adanat_cli.errors import BundleError
    from adanat_cli.metrics.digit_classifier import load_classifier, load_fid_stats

    _edit_config(mnist_copy, lambda c: (c["classifier"].update(file="../../x"), c.update(fid_stats="/tmp/x")))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_classifier(mnist_copy)
    with pytest.raises(BundleError, match="outside the bundle"):
        load_fid_stats(mnist_copy)
    assert load_bundle(mnist_copy).name == "tiny-mnist"  # the bundle itself still loads


def test_non_finite_bundle_statistics_are_refused(mnist_copy):
    from adanat_cli.errors import BundleError
    from adanat_cli.metrics.digit_classifier import load_fid_stats

    save_file({"mu": torch.full((128,), float("nan"), dtype=torch.float64),
               "sigma": torch.eye(128, dtype=torch.float64)}, str(mnist_copy / "fid_stats.safetensors"))
    with pytest.raises(BundleError, match="non-finite"):
        load_fid_stats(mnist_copy)


def test_non_finite_named_statistics_are_refused_and_json_stays_strict(cli, tmp_path, toy_extractor):
    a = _write_images(tmp_path / "a", _blobs(20, 1))
    assert cli("fid", "--make-stats", "bad", str(a), "-x", "toy").code == 0
    stats = next((tmp_path / "cache").rglob("bad.safetensors"))
    from safetensors.torch import load_file

    tensors = load_file(str(stats))
    tensors["mu"][0] = float("nan")
    save_file(tensors, str(stats))
    result = cli("fid", str(a), "--stats", "bad", "-x", "toy", "--json")
    assert result.code == 2 and one_line(result) and "non-finite" in result.err
    assert result.out == ""


@pytest.mark.parametrize("command", [
    ["sample", "-c", "1", "--seed", "-1"],
    ["sample", "-c", "1", "--seed", str(2**63)],
    ["compare", "-n", "4", "--seed", "-5"],
    ["search-schedule", "-T", "2", "-n", "4", "--seed", "-1"],
    ["train-policy", "--seed", "-1"],
    ["sample", "-c", ""],
    ["sample", "-c", " , "],
    ["sample", "-c", "1", "--num", "99999999999", "--steps", "2"],
    ["compare", "--num", "99999999999"],
    ["train-policy", "--lr", "inf"],
    ["train-policy", "--lr", "nan"],
    ["train-policy", "--action-std", "-1"],
    ["search-schedule", "-T", "2", "-n", "4", "--lr", "inf"],
    ["search-schedule", "-T", "2", "-n", "4", "--lr-mask", "nan"],
])
def test_numbers_out_of_range_are_usage_errors(cli, tmp_path, command):
    out = tmp_path / "out"
    target = ["-o", str(out.with_suffix(".json"))] if command[0] == "search-schedule" else ["-o", str(out)]
    result = cli(*command, *target)
    assert result.code == 2 and one_line(result), result.err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_os_failures_have_their_own_exit_codes(capsys):
    assert report(PermissionError(errno.EACCES, "Permission denied", "/no/write")) == 73
    assert "permission denied: /no/write" in capsys.readouterr().err
    assert report(OSError(errno.ENOSPC, "No space left on device", "/full")) == 74
    assert "no space left on the device: /full" in capsys.readouterr().err
    assert report(ValueError("a bug")) == 70
    capsys.readouterr()
    from adanat_cli.errors import note_batch_size

    note_batch_size(8)
    assert report(MemoryError()) == 1 and "try a smaller --batch-size" in capsys.readouterr().err
    note_batch_size(1)
    assert report(MemoryError()) == 1 and "even with --batch-size 1" in capsys.readouterr().err
    note_batch_size(None)


def test_dependency_warnings_are_one_line_each(capsys):
    import warnings

    from adanat_cli.cli.app import one_line_warnings

    previous = warnings.showwarning
    try:
        one_line_warnings()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            for _ in range(3):
                warnings.warn("something deprecated\nwith a second line", UserWarning, stacklevel=1)
    finally:
        warnings.showwarning = previous
    assert capsys.readouterr().err == "warning: something deprecated\n"


def test_a_zip_bomb_checkpoint_is_refused_before_it_is_expanded(tmp_path):
    import zipfile

    from adanat_cli.errors import ConversionError
    from adanat_cli.models.checkpoints import load_checkpoint

    real = tmp_path / "real.pth"
    torch.save({"w": torch.zeros(4)}, real)
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(real) as source, zipfile.ZipFile(bomb, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename.endswith("data.pkl"):
                data = data + b"\0" * (200 * 2**20)  # 200 MiB of padding, a few hundred KiB compressed
            target.writestr(member.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ConversionError, match="would expand to 200 MiB"):
        load_checkpoint(bomb)
    assert load_checkpoint(real)["w"].shape == (4,)


def test_a_multi_line_library_message_is_reported_on_one_line(capsys):
    from adanat_cli.errors import BundleError

    code = report(BundleError("weights do not match (Error(s) in loading state_dict:\n\tsize mismatch for w:\n\tcopying…)"))
    err = capsys.readouterr().err
    assert code == 4 and err.count("\n") == 1 and "size mismatch for w" in err


def test_a_policy_with_non_finite_weights_is_refused(tmp_path):
    from adanat_cli.errors import UsageError
    from adanat_cli.schedulers.adanat_files import load_policy, save_policy
    from adanat_cli.schedulers.adanat_network import PolicyNet

    actor = PolicyNet(8, (2, 2), hidden=8, pointwise=2, fc1=8, fc2=4)
    with torch.no_grad():
        actor.linear3.weight[0, 0] = float("inf")
    file = save_policy(tmp_path / "p.safetensors", actor, {"feature_dim": 8, "grid": [2, 2], "steps": 4, "residual": True})
    with pytest.raises(UsageError, match="non-finite weights"):
        load_policy(file)


def test_policy_files_get_the_same_permissions_as_their_neighbours(tmp_path):
    from adanat_cli.schedulers.adanat_files import save_policy
    from adanat_cli.schedulers.adanat_network import PolicyNet

    file = save_policy(tmp_path / "p.safetensors", PolicyNet(8, (2, 2), hidden=8, pointwise=2, fc1=8, fc2=4),
                       {"feature_dim": 8, "grid": [2, 2], "steps": 4, "residual": True})
    assert file.stat().st_mode & 0o777 == file.with_suffix(".json").stat().st_mode & 0o777


def test_a_run_that_would_fill_the_disk_stops_after_its_first_batch(cli, tmp_path, monkeypatch):
    import shutil as shutil_module

    real = shutil_module.disk_usage
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: real(path)._replace(free=10_000))
    out = tmp_path / "s"
    result = cli("sample", "-c", "1", "-n", "40", "-b", "4", "-T", "2", "-o", str(out))
    assert result.code == 2 and one_line(result) and "more disk" in result.err
    assert not out.exists() and not list(tmp_path.glob(".s.*"))


def test_an_interruption_wrapped_by_python_is_still_reported_as_one(capsys):
    from adanat_cli.errors import Terminated, report

    try:
        try:
            raise Terminated()
        except Terminated as inner:
            raise RuntimeError("Error calling __set_name__ on 'cached_property' instance") from inner
    except RuntimeError as wrapped:
        code = report(wrapped)
    assert code == 143 and "Terminated." in capsys.readouterr().err
    assert report(RuntimeError("a bug")) == 70
