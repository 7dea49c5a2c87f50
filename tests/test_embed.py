from __future__ import annotations

import numpy as np
import pytest
import torch

from personatune.embed import Embedder

pytestmark = pytest.mark.integration


def test_embeddings_are_cached_by_content_and_leave_autograd_alone(tmp_path):
    embedder = Embedder(cache=tmp_path / "vectors.sqlite")
    texts = ["I grew up in Gdansk.", "Set the fence to two inches.", "I grew up in Gdansk."]
    first = embedder.encode(texts)
    assert embedder.computed == 2  # the repeated text is embedded once
    assert torch.is_grad_enabled()  # loading the model must not switch autograd off for training
    again = Embedder(cache=tmp_path / "vectors.sqlite").encode(texts)
    np.testing.assert_array_equal(first, again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert float(first[0] @ first[1]) < 0.5 < float(first[0] @ first[2])
