"""Packing of a text-spotting sample into MMDetection's ``DetDataSample``."""
from typing import Dict, Sequence

import numpy as np
from mmdet.datasets.transforms import PackDetInputs

from mmdld.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackSpottingInputs(PackDetInputs):
    """MMDetection's ``PackDetInputs`` plus the polygons and texts of each instance.

    Ours because ``PackDetInputs`` drops them and MMOCR's packer makes a ``TextDetDataSample``.

    Boxes, labels and masks are split by ``gt_ignore_flags`` into ``gt_instances`` and
    ``ignored_instances`` as ``PackDetInputs`` does, with MMOCR's ``gt_ignored`` as the flags;
    both instance sets get ``polygons`` (list of flat float32 arrays) and ``texts`` (list of
    str), as ``docs/data_contract.md`` describes.

    Meta keys missing from the sample get the values of an untransformed image
    (``scale_factor=(1., 1.)``, ``flip=False``, ``img_id`` from the dataset's ``sample_idx``)
    so that one packer serves pipelines with and without resizing.

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                                             'scale_factor', 'flip', 'flip_direction')) -> None:
        super().__init__(meta_keys=meta_keys)

    @staticmethod
    def _fill_defaults(results: Dict) -> None:
        if 'img_shape' not in results and 'img' in results:
            results['img_shape'] = results['img'].shape[:2]
        if 'ori_shape' not in results and 'img_shape' in results:
            results['ori_shape'] = results['img_shape']
        results.setdefault('img_id', results.get('sample_idx', results.get('img_path')))
        results.setdefault('scale_factor', (1.0, 1.0))
        results.setdefault('flip', False)
        results.setdefault('flip_direction', None)

    def transform(self, results: Dict) -> Dict:
        """Pack one sample.

        Args:
            results (dict): The sample at the end of the pipeline.

        Returns:
            dict: ``inputs`` (CHW uint8/float tensor) and ``data_samples`` (``DetDataSample``).
        """
        self._fill_defaults(results)
        polygons = results.get('gt_polygons')
        texts = results.get('gt_texts')
        n = len(polygons) if polygons is not None else None
        if 'gt_ignored' in results:
            results['gt_ignore_flags'] = np.asarray(results['gt_ignored'], dtype=bool)
        if 'gt_bboxes_labels' not in results and n is not None:
            results['gt_bboxes_labels'] = np.zeros(n, dtype=np.int64)
        if 'gt_bboxes' not in results and n is not None:
            results['gt_bboxes'] = np.array(
                [_poly_box(p) for p in polygons], dtype=np.float32).reshape(-1, 4)
        packed = super().transform(results)
        sample = packed['data_samples']
        if n is None:
            return packed
        flags = results.get('gt_ignore_flags', np.zeros(n, dtype=bool))
        keep = np.where(~flags)[0]
        drop = np.where(flags)[0]
        polys = [np.asarray(p, dtype=np.float32).reshape(-1) for p in polygons]
        sample.gt_instances.polygons = [polys[i] for i in keep]
        sample.ignored_instances.polygons = [polys[i] for i in drop]
        if texts is not None:
            sample.gt_instances.texts = [texts[i] for i in keep]
            sample.ignored_instances.texts = [texts[i] for i in drop]
        return packed


def _poly_box(poly: np.ndarray) -> list:
    pts = np.asarray(poly, dtype=np.float32).reshape(-1, 2)
    return [*pts.min(0), *pts.max(0)]
