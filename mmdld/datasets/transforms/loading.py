"""Image loading that refuses truncated or undecodable files.

OpenCV decodes a truncated JPEG without an error: the missing rows come out grey and only a
"Premature end of JPEG file" line on stderr tells, so a sample with two thirds of its image
missing trains with all its annotations. ``LoadImageFromFile`` here is MMOCR's (itself MMCV's)
with a completeness check of the encoded bytes before decoding: a broken image is skipped in
training (``ignore_empty=True``: a warning naming the file, and MMEngine's dataset draws another
sample) and an error naming the file otherwise (test pipelines).
"""
import io
import logging
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmocr.datasets.transforms import InferencerLoader as MMOCRInferencerLoader
from mmocr.datasets.transforms import LoadImageFromFile as MMOCRLoadImageFromFile
from mmocr.datasets.transforms import LoadImageFromNDArray

from mmdld.registry import TRANSFORMS

__all__ = ['InferencerLoader', 'LoadImageFromFile', 'image_defect']

JPEG_SOI = b'\xff\xd8'
JPEG_EOI = b'\xff\xd9'
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _pillow_decode_error(img_bytes: bytes) -> Optional[str]:
    """Decode ``img_bytes`` fully with Pillow; the error it raises, or None if it decodes."""
    from PIL import Image, ImageFile

    # Pillow fills a truncated image silently when this global is set (some libraries set
    # it); the check must see the truncation.
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(io.BytesIO(img_bytes)) as image:
            image.load()
    except Exception as err:  # Pillow raises OSError, SyntaxError, zlib.error, ...
        return f'{type(err).__name__}: {err}'
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    return None


def image_defect(img_bytes: bytes) -> Optional[str]:
    """Why the encoded image ``img_bytes`` is incomplete, or None if it looks complete.

    JPEG files must end with the end-of-image marker ``FFD9`` and PNG files hold their ``IEND``
    chunk at the end (a few trailing bytes are tolerated). Only a file that fails this cheap
    test is decoded fully with Pillow, which decides: a valid file with trailing data after
    its end marker passes. Other formats are left to the decoder.

    Args:
        img_bytes (bytes): The file's content.

    Returns:
        str or None: A short reason, e.g. ``'is truncated (no JPEG end-of-image marker FFD9;
        Pillow: OSError: image file is truncated ...)'``.
    """
    if not img_bytes:
        return 'is empty (0 bytes)'
    if img_bytes.startswith(JPEG_SOI):
        # Padding after the marker (zeros, a newline) is harmless; the tail only, as rstrip
        # copies what it keeps.
        if img_bytes[-64:].rstrip(b'\x00\r\n ').endswith(JPEG_EOI):
            return None
        marker = 'no JPEG end-of-image marker FFD9'
    elif img_bytes.startswith(PNG_SIGNATURE):
        if b'IEND' in img_bytes[-64:]:
            return None
        marker = 'no PNG IEND chunk'
    else:
        return None
    error = _pillow_decode_error(img_bytes)
    if error is None:
        return None
    return f'is truncated or corrupt ({marker}; Pillow: {error})'


@TRANSFORMS.register_module()
class LoadImageFromFile(MMOCRLoadImageFromFile):
    """MMOCR's ``LoadImageFromFile`` that also refuses truncated and undecodable images.

    A broken image (unreadable, empty, truncated, undecodable or smaller than ``min_size``)
    is, with ``ignore_empty=True`` (training pipelines), skipped: a warning naming the file and
    counting the skips of this process is logged and ``None`` returned, so that MMEngine's
    ``BaseDataset`` draws another sample. With ``ignore_empty=False`` (test pipelines; a test
    set must not lose images) it raises ``OSError`` naming the file. Everything else is MMOCR's
    transform: same arguments, same keys.

    Args:
        *args: The positional arguments of MMOCR's ``LoadImageFromFile``.
        check_truncated (bool): Check that JPEG and PNG files are complete (see
            :func:`image_defect`) before decoding.
        **kwargs: The arguments of MMOCR's ``LoadImageFromFile`` (``color_type``,
            ``ignore_empty``, ``min_size``, ``backend_args``, ...).
    """

    #: Broken images skipped so far in this process (each dataloader worker counts its own).
    num_skipped = 0

    def __init__(self, *args, check_truncated: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.check_truncated = check_truncated

    def _read_bytes(self, filename: str) -> bytes:
        # As MMOCR's transform reads them.
        if getattr(self, 'file_client_args', None) is not None:
            file_client = fileio.FileClient.infer_client(self.file_client_args, filename)
            return file_client.get(filename)
        return fileio.get(filename, backend_args=self.backend_args)

    def _broken(self, filename: str, reason: str) -> None:
        """Skip the sample (``ignore_empty``) or raise, naming the file and the reason."""
        if not self.ignore_empty:
            raise OSError(f'{filename}: the image {reason}. Replace or remove it (the '
                          'check_dataset analysis tool lists every broken image of a data set)')
        type(self).num_skipped += 1
        print_log(f'Skipped the sample of {filename}: the image {reason}; another sample is '
                  f'drawn ({type(self).num_skipped} broken image(s) skipped so far by this '
                  'process)', logger='current', level=logging.WARNING)
        return None

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image of ``results['img_path']``.

        Args:
            results (dict): The sample, with ``img_path``.

        Returns:
            dict or None: The sample with ``img``, ``img_shape`` and ``ori_shape``; None for a
            broken image with ``ignore_empty``.

        Raises:
            OSError: A broken image without ``ignore_empty``, naming the file.
        """
        filename = results['img_path']
        try:
            img_bytes = self._read_bytes(filename)
        except Exception as err:
            return self._broken(filename, f'cannot be read ({type(err).__name__}: {err})')
        if self.check_truncated:
            defect = image_defect(img_bytes)
            if defect is not None:
                return self._broken(filename, defect)
        try:
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                   backend=self.imdecode_backend)
        except Exception as err:
            return self._broken(filename, f'cannot be decoded ({type(err).__name__}: {err})')
        if img is None:
            return self._broken(filename, 'cannot be decoded')
        if min(img.shape[:2]) < self.min_size:
            return self._broken(filename, f'is smaller than min_size={self.min_size} '
                                f'({img.shape[1]} x {img.shape[0]} px)')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', check_truncated={self.check_truncated})'


@TRANSFORMS.register_module()
class InferencerLoader(MMOCRInferencerLoader):
    """MMOCR's ``InferencerLoader`` reading files with mmdld's :class:`LoadImageFromFile`.

    Inference (:func:`mmdld.apis.inference_pipeline_cfg`) turns a test pipeline's
    ``mmdld.LoadImageFromFile`` into this loader, with the same arguments, so a truncated image
    given by path is an error there too.

    Args:
        **kwargs: The arguments of :class:`LoadImageFromFile`.
    """

    def __init__(self, **kwargs) -> None:
        BaseTransform.__init__(self)
        self.from_file = LoadImageFromFile(**kwargs)
        # An array has no file to check.
        kwargs.pop('check_truncated', None)
        self.from_ndarray = LoadImageFromNDArray(**kwargs)
