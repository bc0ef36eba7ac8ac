"""Dissection in the style of Network Dissection (Bau et al. 2017), with concepts measured on the digits
themselves (cnnviz.concepts).

For a layer of maps, each unit's map is upsampled to the image through the receptive fields (each node at
its field's centre, bilinear between centres), and its *top-quantile region* on an image is where it exceeds
the unit's ``quantile`` over all images and positions. Its IoU with a pixel concept is
Σ |region ∩ concept| / Σ |region ∪ concept| over the images. For dense units and classes, the region is the
set of images where the unit is in its top ``1 - image_quantile`` and the concepts are image-level (class,
stroke count, a loop).

A label counts only when it clearly beats two null baselines: the same score for the units of a random
rotation of the layer's basis, and for the unit
itself with the images' concepts shuffled among the images. The rotation baseline is the 95th percentile, for
that concept, over the units of enough random rotations to make about 100: the unit must align with the
concept better than 95 % of random directions of the same layer do. (The output is dissected by its scores
before the softmax, as its OIPs are: its probabilities are almost one-hot, and in that space most random
directions are class detectors too.) "Clearly" means the lower end of the IoU's bootstrap interval (over
images) lies above both. A concept that is the same on
every image (a position) scores as high shuffled as not, so it can never be a label: it says where a unit
looks, not what it detects.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .activations import layer_output
from .concepts import PIXEL_CONCEPTS, image_concepts, pixel_concepts
from .model import LoadedModel
from .results import Dissection
from .search import Watch

ROUNDS = 200  # bootstrap rounds over images
ROTATED_UNITS = 100  # units of randomly rotated bases behind the rotation baseline
EXAMPLES = 4  # images per unit shown with its region and its best concept


def _upsampler(m: LoadedModel, layer: str, n: int, side: int) -> np.ndarray:
    """(side, n) bilinear weights from the ``n`` nodes along one axis to the image's ``side`` pixels."""
    rec = m.spatial_layer(layer).receptive
    if rec is None:
        raise ValueError(f"{layer} has no receptive field: its maps cannot be laid over the image.")
    centres = np.array([rec.start + i * rec.jump + (rec.size - 1) / 2 for i in range(n)], np.float64)
    w = np.zeros((side, n))
    for p in range(side):
        if n == 1 or p <= centres[0]:
            w[p, 0] = 1
        elif p >= centres[-1]:
            w[p, -1] = 1
        else:
            j = int(np.searchsorted(centres, p) - 1)
            t = (p - centres[j]) / (centres[j + 1] - centres[j])
            w[p, j], w[p, j + 1] = 1 - t, t
    return w


def _bootstrap_iou(inter: np.ndarray, union: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """95 % bootstrap interval over images of Σ inter / Σ union; arrays (N, ...) -> (lo, hi) each (...)."""
    n = len(inter)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), ROUNDS).astype(np.float64)
    i = counts @ inter.reshape(n, -1)
    u = counts @ union.reshape(n, -1)
    ratio = np.where(u > 0, i / np.maximum(u, 1), 0)
    lo, hi = np.percentile(ratio, [2.5, 97.5], axis=0)
    return lo.reshape(inter.shape[1:]), hi.reshape(inter.shape[1:])


def _scores(m: LoadedModel, x: np.ndarray) -> np.ndarray:
    """The output layer's scores before the softmax for standardized images ``x`` (cnnviz.graph.score_of)."""
    import keras

    from .graph import pre_softmax, score_of

    score, head = score_of(m.keras_model, m.output_layer)
    sub = keras.Model(m.keras_model.inputs[0], score)
    x = np.asarray(x, np.float32).reshape(-1, *m.input_shape)
    return np.concatenate([np.asarray(pre_softmax(sub(x[i:i + 500], training=False), head))
                           for i in range(0, len(x), 500)])


def _random_rotation(c: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(c, c)))
    return q * np.sign(np.diag(r))


def _pixel_counts(regions: np.ndarray, concepts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image, unit and concept: |region ∩ concept| and |region ∪ concept|. regions (n, U, P), concepts
    (n, K, P) bool."""
    r, c = regions.astype(np.float32), concepts.astype(np.float32)
    inter = np.einsum("nup,nkp->nuk", r, c)
    union = r.sum(2)[:, :, None] + c.sum(2)[:, None, :] - inter
    return inter, union


def dissect(m: LoadedModel, layer: str, images: np.ndarray, labels: np.ndarray, *, quantile: float = 0.99,
            image_quantile: float = 0.9, seed: int = 0, watch: Watch = Watch()) -> Dissection:
    """Labels for every unit of ``layer`` from ``images`` (uint8, the model's image shape) and their ``labels``."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.shape[1:] != m.image_shape or len(images) != len(labels) or len(images) < 20:
        raise ValueError(f"images must be at least 20 of shape {m.image_shape}, one label each. Received: "
                         f"shape={images.shape}, labels={len(labels)}")
    t0 = time.perf_counter()
    x = m.standardization.apply(images)
    if layer == m.output_layer:  # the classes by their scores before the softmax, like their OIPs
        acts = _scores(m, x)
    else:
        acts = np.concatenate([a for _, a in layer_output(m, layer, x)])
    rng = np.random.default_rng(seed)
    # enough random rotations for about 100 rotated units: the 95th percentile of a few is no percentile
    c = acts.shape[-1]
    rotated = np.concatenate([acts @ _random_rotation(c, rng) for _ in range(-(-ROTATED_UNITS // c))], -1)
    perm = rng.permutation(len(images))
    watch.report(0.2, "activations")
    if watch.stopped():
        k = acts.shape[-1]
        return Dissection(layer, [], np.zeros((k, 0)), np.zeros((k, 0, 2)), np.zeros(0), np.zeros((k, 0)),
                          len(images), time.perf_counter() - t0, True)
    masks = None
    if acts.ndim == 4:
        names, counts, masks = _pixel_dissection(m, layer, images, acts, rotated, perm, quantile, watch)
    else:
        names, counts = _image_dissection(m, images, labels, acts, rotated, perm, image_quantile)
    inter, union, rot_inter, rot_union, sh_inter, sh_union = counts
    iou = inter.sum(0) / np.maximum(union.sum(0), 1)  # (U, K)
    rot = rot_inter.sum(0) / np.maximum(rot_union.sum(0), 1)
    shuffled = sh_inter.sum(0) / np.maximum(sh_union.sum(0), 1)
    lo, hi = _bootstrap_iou(inter, union, seed)
    result = Dissection(layer, names, iou, np.stack([lo, hi], -1), np.percentile(rot, 95, axis=0), shuffled,
                        len(images), time.perf_counter() - t0)
    return result if masks is None else _with_examples(result, images, *masks)


def _with_examples(r: Dissection, images: np.ndarray, regions: np.ndarray, concepts: np.ndarray) -> Dissection:
    """``r`` with each unit's EXAMPLES images of the largest region, its region and its best concept's mask on
    them, so that a label can be checked by eye."""
    shape = images.shape[1:3]
    idx = np.argsort(-regions.sum(2), axis=0, kind="stable")[:EXAMPLES].T  # (U, EXAMPLES)
    units = np.arange(len(idx))[:, None]
    return replace(r, example_indices=idx, example_images=images[idx].astype(np.uint8),
                   example_regions=regions[idx, units].reshape(*idx.shape, *shape),
                   example_concepts=concepts[idx, r.best[:, None]].reshape(*idx.shape, *shape))


def _pixel_dissection(m: LoadedModel, layer: str, images: np.ndarray, acts: np.ndarray, rotated: np.ndarray,
                      perm: np.ndarray, quantile: float, watch: Watch):
    h, w = m.image_shape[:2]
    uy, ux = _upsampler(m, layer, acts.shape[1], h), _upsampler(m, layer, acts.shape[2], w)
    concepts = pixel_concepts(images).reshape(len(images), len(PIXEL_CONCEPTS), -1)
    watch.report(0.5, "concept masks")

    def regions(a: np.ndarray) -> np.ndarray:
        """(N, U, H·W) where each unit's upsampled map exceeds its quantile over all images and pixels."""
        up = np.einsum("yh,nhwu,xw->nuyx", uy, a.astype(np.float32), ux).reshape(len(a), a.shape[-1], -1)
        thresholds = np.quantile(up.transpose(1, 0, 2).reshape(a.shape[-1], -1), quantile, axis=1)
        return up > thresholds[None, :, None]

    real = regions(acts)
    return list(PIXEL_CONCEPTS), (*_pixel_counts(real, concepts), *_pixel_counts(regions(rotated), concepts),
                                  *_pixel_counts(real, concepts[perm])), (real, concepts)


def _image_dissection(m: LoadedModel, images: np.ndarray, labels: np.ndarray, acts: np.ndarray,
                      rotated: np.ndarray, perm: np.ndarray, image_quantile: float):
    names, concepts = image_concepts(images, labels, m.num_classes)  # (N, K)
    c = concepts.astype(np.float32)
    out = []
    for a, cc in ((acts, c), (rotated, c), (acts, c[perm])):
        top = (a > np.quantile(a, image_quantile, axis=0)[None, :]).astype(np.float32)  # (N, U)
        inter = top[:, :, None] * cc[:, None, :]
        out += [inter, top[:, :, None] + cc[:, None, :] - inter]
    return names, tuple(out)
