"""The bundled MNIST subset and the ImageFolder reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from adanat_cli.data import ImageFolder, mnist5k
from adanat_cli.errors import UsageError


def test_mnist5k_shapes_range_and_labels():
    images, labels = mnist5k()
    assert images.shape == (5000, 3, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (5000,) and labels.dtype == torch.int64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert torch.bincount(labels).tolist() == [500] * 10


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_happy_path(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path / "cat" / "a.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    _write(tmp_path / "cat" / "b.JPG", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    _write(tmp_path / "ant" / "c.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))  # grey
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    data = ImageFolder(tmp_path)
    assert data.classes == ["ant", "cat"]
    assert len(data) == 3
    image, label = data[0]
    assert label == 0 and image.shape == (3, 8, 8) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert torch.equal(image[0], image[1])  # grey replicated to RGB
    assert [data[i][1] for i in range(3)] == [0, 1, 1]


def test_image_folder_missing(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        ImageFolder(tmp_path / "nope")


def test_image_folder_without_images(tmp_path):
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "readme.txt").write_text("x")
    with pytest.raises(UsageError, match="no images"):
        ImageFolder(tmp_path)


def test_image_folder_unreadable_file(tmp_path):
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "broken.png").write_bytes(b"not really a png")
    data = ImageFolder(tmp_path)
    with pytest.raises(UsageError, match="broken.png"):
        data[0]
