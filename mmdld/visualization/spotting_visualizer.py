"""Drawing of text-spotting results (polygons and words) for DetDataSamples."""
from typing import Optional

import mmcv
import numpy as np
from mmdet.structures import DetDataSample
from mmocr.visualization import TextSpottingLocalVisualizer

from mmdld.registry import VISUALIZERS


@VISUALIZERS.register_module()
class SpottingLocalVisualizer(TextSpottingLocalVisualizer):
    """MMOCR's text-spotting visualizer for mmdld's ``DetDataSample``s.

    The drawing is MMOCR's (the image with filled polygons beside a white canvas with each
    word written in its box). This class draws the GT only when it has words, and keeps the
    predictions above ``pred_score_thr``. Its name is in the ``mmdld`` scope, so MMDetection's
    ``DetVisualizationHook`` and the demo can build it.

    Ours because MMOCR's ``add_datasample`` wants GT texts, which mmdld's samples may lack.
    """

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       pred_score_thr: float = 0.5,
                       out_file: Optional[str] = None,
                       step: int = 0) -> np.ndarray:
        """Draw GT (left/top) and predictions of one sample; save or show the picture.

        Args:
            name (str): Image identifier for the backends.
            image (np.ndarray): RGB image in the frame of the sample's instances.
            data_sample (DetDataSample, optional): Sample with ``gt_instances`` and/or
                ``pred_instances`` holding ``polygons``/``bboxes`` and ``texts``.
            draw_gt (bool): Draw the GT words if there are any.
            draw_pred (bool): Draw the predictions.
            show (bool): Show in a window instead of writing to the backends.
            wait_time (float): Seconds to show the window.
            pred_score_thr (float): Detection score below which predictions are not drawn.
            out_file (str, optional): Write the picture (BGR) here.
            step (int): Global step for the backends.

        Returns:
            np.ndarray: The drawn RGB picture.
        """
        panels = []
        if data_sample is not None:
            gt = data_sample.get('gt_instances', None)
            if draw_gt and gt is not None and len(gt) > 0 and 'texts' in gt:
                gt = gt.cpu().numpy()
                panels.append(self._draw_instances(image, gt.get('bboxes', np.zeros((0, 4))),
                                                   gt.get('polygons', None), list(gt.texts)))
            pred = data_sample.get('pred_instances', None)
            if draw_pred and pred is not None:
                if len(pred) > 0:
                    pred = pred[pred.scores > pred_score_thr]
                pred = pred.cpu().numpy()
                texts = list(pred.get('texts', [''] * len(pred)))
                bboxes = pred.get('bboxes', np.zeros((0, 4)))
                panels.append(self._draw_instances(image, bboxes, pred.get('polygons', None),
                                                   texts))
        picture = self._cat_image(panels, axis=0) if panels else None
        if picture is None:
            picture = image
        if show:
            self.show(picture, win_name=name, wait_time=wait_time)
        else:
            self.add_image(name, picture, step)
        if out_file is not None:
            mmcv.imwrite(picture[..., ::-1], out_file)
        self.set_image(picture)
        return self.get_image()
