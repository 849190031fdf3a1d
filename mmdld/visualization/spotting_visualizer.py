"""Drawing of text-spotting results (polygons and words) for DetDataSamples."""
from typing import List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmocr.visualization import TextSpottingLocalVisualizer

from mmdld.registry import VISUALIZERS

#: Smallest font size (pixels) a word is shrunk to before it is cut short with an ellipsis.
MIN_FONT_SIZE = 6.0
#: Pixels kept free between a word and the left and right edges of its panel.
PANEL_MARGIN = 1.0
ELLIPSIS = '\u2026'


@VISUALIZERS.register_module()
class SpottingLocalVisualizer(TextSpottingLocalVisualizer):
    """MMOCR's text-spotting visualizer for mmdld's ``DetDataSample``s.

    The drawing is MMOCR's (the image with filled polygons beside a white canvas with each
    word written in its box). This class draws the GT only when it has words, and keeps the
    predictions above ``pred_score_thr``. Its name is in the ``mmdld`` scope, so MMDetection's
    ``DetVisualizationHook`` and the demo can build it.

    Each word is written centred on its box at MMOCR's font size; a word wider than its panel
    is shrunk (down to :data:`MIN_FONT_SIZE`), then cut short with an ellipsis, and a word that
    sticks out past an edge is moved inwards, so that every drawn word lies inside the panel
    rather than being clipped at its edge (MMOCR writes it as it is, and a long word overflows).

    Ours because MMOCR's ``add_datasample`` wants GT texts, which mmdld's samples may lack.
    """

    def get_labels_image(self,
                         image: np.ndarray,
                         labels: Sequence[str],
                         bboxes: Union[np.ndarray, torch.Tensor],
                         colors: Union[str, Sequence[str]] = 'k',
                         font_size: Union[int, float] = 10,
                         auto_font_size: bool = False,
                         font_families: Union[str, List[str]] = 'sans-serif',
                         font_properties=None) -> np.ndarray:
        """Writes each word centred on its box, kept inside the image's width.

        Args:
            image (np.ndarray): The RGB panel to write on.
            labels (Sequence[str]): One word per box.
            bboxes (np.ndarray | torch.Tensor): ``(N, 4)`` boxes ``x1, y1, x2, y2``.
            colors (str | Sequence[str]): Unused, as in MMOCR: words are written in black.
            font_size (int | float): Font size in pixels (scaled by the box size when
                ``auto_font_size``).
            auto_font_size (bool): Scale ``font_size`` by each box's shorter side.
            font_families (str | list[str]): Font families of the words.
            font_properties: Font properties (a font file or ``FontProperties``).

        Returns:
            np.ndarray: The panel with the words written.
        """
        self.set_image(image)
        if len(labels) == 0:
            return self.get_image()
        bboxes = np.asarray(bboxes.cpu() if isinstance(bboxes, torch.Tensor) else bboxes,
                            dtype=np.float64).reshape(-1, 4)
        sizes: Union[float, List[float]] = font_size
        if auto_font_size:
            sizes = ((bboxes[:, 2:] - bboxes[:, :2]).min(-1) * font_size).tolist()
        self.draw_texts(
            list(labels), (bboxes[:, :2] + bboxes[:, 2:]) / 2,
            vertical_alignments='center',
            horizontal_alignments='center',
            colors='k',
            font_sizes=sizes,
            font_families=font_families,
            font_properties=font_properties)
        self._fit_texts_in_panel()
        return self.get_image()

    def _fit_texts_in_panel(self) -> None:
        """Writes each word literally, then moves, shrinks and truncates it to fit the panel."""
        renderer = self.fig_save.canvas.get_renderer()
        to_data = self.ax_save.transData.inverted()
        left, right = PANEL_MARGIN, self.fig_save.bbox.width - PANEL_MARGIN
        room = max(right - left, 1.0)
        for artist in self.ax_save.texts:
            # A word is written as it reads: two '$' in it would start matplotlib's mathtext,
            # which rejects most words (e.g. 'a$b$$c') and would fail the whole drawing.
            artist.set_parse_math(False)
            extent = artist.get_window_extent(renderer)
            if extent.width > room:
                size = artist.get_fontsize()
                artist.set_fontsize(max(MIN_FONT_SIZE, size * room / extent.width))
                extent = artist.get_window_extent(renderer)
            word = artist.get_text()
            while extent.width > room and len(word) > 1:
                # Cut a share of the overflow at once (then one character at a time), so a
                # very long word does not cost one measurement per character.
                excess = int(len(word) * (1 - room / extent.width))
                word = word[:max(1, len(word) - max(1, excess))]
                artist.set_text(word + ELLIPSIS)
                extent = artist.get_window_extent(renderer)
            # Centred on its box, a word near an edge would stick out: move it inwards.
            shift = max(0.0, left - extent.x0) - max(0.0, extent.x1 - right)
            if shift:
                x, y = artist.get_position()
                centre = self.ax_save.transData.transform((x, y))
                artist.set_position(to_data.transform((centre[0] + shift, centre[1])))

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
            pred_score_thr (float): Detection score below which predictions are not drawn
                (a prediction at the threshold is drawn, as ``demo/image_demo.py`` prints it).
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
                    pred = pred[pred.scores >= pred_score_thr]
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
