"""The name by which per-image records and tables know an image: its file stem.

:class:`mmdld.evaluation.E2ESpottingMetric` names each per-image record so
(:mod:`.per_image`); whatever pairs other per-image data (FLOPs, text sizes, regimes) with those
records must name the images the same way.
"""
import os.path as osp


def image_stem(path: str) -> str:
    """The record name of an image (its file stem, as E2ESpottingMetric names it)."""
    return osp.splitext(osp.basename(str(path)))[0]
