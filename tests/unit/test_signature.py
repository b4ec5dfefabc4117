"""SignatureExtractor with a stand-in embedder: shots, averaging, names, and no pixels kept."""

from __future__ import annotations

import numpy as np
import pytest

from keliu.domain.visits import Signature, similarity
from keliu.vision.signature import MAX_SHOTS, SignatureExtractor, combine


class FakeEmbedder:
    """Embeds a crop as (mean B, mean G, mean R, mean of the left half's blue): flip-sensitive."""

    input_wh = (16, 32)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, crops_bgr: list[np.ndarray]) -> np.ndarray:
        self.calls.append(len(crops_bgr))
        rows = []
        for c in crops_bgr:
            assert c.shape == (32, 16, 3)  # the extractor resized it already
            v = np.array([*c.reshape(-1, 3).mean(axis=0), c[:, :8, 0].mean()], dtype=np.float32) + 1.0
            rows.append(v / np.linalg.norm(v))
        return np.array(rows, dtype=np.float32)


def crop(upper: tuple[int, int, int], lower: tuple[int, int, int], *, h: int = 96, w: int = 40) -> np.ndarray:
    img = np.full((h, w, 3), 235, dtype=np.uint8)  # white background
    img[int(0.15 * h) : h // 2, w // 4 : 3 * w // 4] = upper
    img[h // 2 : int(0.95 * h), w // 4 : 3 * w // 4] = lower
    return img


RED, BLUE, BLACK = (30, 30, 200), (190, 70, 20), (22, 22, 22)


def test_no_usable_crop_gives_none() -> None:
    extractor = SignatureExtractor(FakeEmbedder())
    assert extractor.extract([]) is None
    assert extractor.extract([np.zeros((8, 4, 3), dtype=np.uint8)]) is None  # too small
    assert extractor.extract([np.zeros((64, 32, 3), dtype=np.float32)]) is None  # not uint8
    assert extractor.extract([np.zeros((64, 32), dtype=np.uint8)]) is None  # not BGR


def test_one_crop_gives_unit_vectors_and_names() -> None:
    sig = SignatureExtractor(FakeEmbedder()).extract([crop(RED, BLACK)])
    assert sig is not None
    assert sig.shots == 1
    assert (sig.upper_colour, sig.lower_colour) == ("red", "black")
    assert float(np.linalg.norm(sig.embedding)) == pytest.approx(1.0, abs=1e-6)
    assert float(np.linalg.norm(sig.colour)) == pytest.approx(1.0, abs=1e-6)
    assert float(sig.vector() @ sig.vector()) == pytest.approx(1.0, abs=1e-5)
    assert (sig.gender, sig.age) == ("unknown", "unknown")


def test_flip_augmentation_embeds_crop_and_mirror_in_one_batch() -> None:
    fake = FakeEmbedder()
    img = crop(RED, BLACK)
    img[:, :10] = (255, 0, 0)  # asymmetric, so the mirror image embeds differently
    with_flip = SignatureExtractor(fake).extract([img])
    assert fake.calls == [2]
    without = SignatureExtractor(FakeEmbedder(), flip=False).extract([img])
    assert with_flip is not None and without is not None
    assert not np.allclose(with_flip.embedding, without.embedding)


def test_at_most_max_shots_are_used_and_averaged() -> None:
    fake = FakeEmbedder()
    crops = [crop(RED, BLACK)] * 3 + [crop(BLUE, BLACK)] * 4
    sig = SignatureExtractor(fake).extract(crops)
    assert sig is not None
    assert sig.shots == MAX_SHOTS
    assert fake.calls == [2 * MAX_SHOTS]
    assert (sig.upper_colour, sig.lower_colour) == ("red", "black")  # 3 red of the first 5 shots
    singles = SignatureExtractor(FakeEmbedder()).extract_each(crops[:MAX_SHOTS])
    mean = np.mean([s.colour for s in singles], axis=0)
    assert np.allclose(sig.colour, mean / np.linalg.norm(mean), atol=1e-6)


def test_combine_breaks_name_ties_by_the_best_shot() -> None:
    e = np.array([1.0, 0.0], dtype=np.float32)
    shots = [
        Signature(embedding=e, colour=e, upper_colour="blue", lower_colour=None),
        Signature(embedding=e, colour=e, upper_colour="red", lower_colour="grey"),
    ]
    combined = combine(shots)
    assert combined is not None
    assert (combined.upper_colour, combined.lower_colour, combined.shots) == ("blue", "grey", 2)
    assert combine([]) is None


def test_similar_people_score_higher_than_different_ones() -> None:
    extractor = SignatureExtractor(FakeEmbedder())
    a = extractor.extract([crop(RED, BLACK)])
    b = extractor.extract([crop(RED, BLACK, h=120, w=50)])
    c = extractor.extract([crop(BLUE, RED)])
    assert a is not None and b is not None and c is not None
    assert similarity(a, b) > similarity(a, c)


def test_no_pixels_are_kept() -> None:
    extractor = SignatureExtractor(FakeEmbedder())
    sig = extractor.extract([crop(RED, BLACK)])
    assert sig is not None
    kept = [v for v in vars(extractor).values() if isinstance(v, np.ndarray)]
    assert kept == []
    arrays = [v for v in vars(sig).values() if isinstance(v, np.ndarray)]
    assert all(a.ndim == 1 for a in arrays)  # vectors only, nothing image-shaped
