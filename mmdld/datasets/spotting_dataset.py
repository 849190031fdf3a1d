"""``SpottingDataset``: MMOCR's ``OCRDataset`` with errors that name the annotation file."""
import json

from mmocr.datasets import OCRDataset

from mmdld.registry import DATASETS

__all__ = ['SpottingDataset']


@DATASETS.register_module()
class SpottingDataset(OCRDataset):
    """A text-spotting data set in MMOCR's ``textspotting`` JSON format.

    Ours because ``OCRDataset`` (MMEngine's ``BaseDataset``) reports an invalid annotation file
    as a bare ``JSONDecodeError`` or "Annotation must have data_list and metainfo keys", without
    the file's name. Here every error while reading the annotation file names it.

    An instance whose transcription is empty (or only blanks) is made don't-care
    (``ignore=True``) as it is read, in training and in evaluation alike: no word can be
    matched against an empty text, and training already leaves it out of the losses
    (``FilterSpottingInstances``).

    Args:
        **kwargs: The arguments of ``OCRDataset`` (``ann_file``, ``data_root``,
            ``data_prefix``, ``pipeline``, ``test_mode``, ...).
    """

    def load_data_list(self) -> list:
        """Read the annotation file, naming it in any error.

        Returns:
            list[dict]: The samples, as ``OCRDataset`` parses them.

        Raises:
            ValueError: The file is not valid JSON or not an OpenMMLab 2.0 annotation file
                (a dict with ``metainfo`` and ``data_list``); the message names the file.
        """
        try:
            return super().load_data_list()
        except json.JSONDecodeError as err:
            raise ValueError(f'{self.ann_file}: not valid JSON (line {err.lineno}, column '
                             f'{err.colno}: {err.msg})') from err
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise ValueError(f'{self.ann_file}: not an MMOCR annotation file, a dict with '
                             f'"metainfo" and "data_list" ({type(err).__name__}: {err})') from err

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """One sample of the annotation file, with empty-text instances made don't-care.

        Args:
            raw_data_info (dict): The sample as in the JSON.

        Returns:
            dict: The sample as ``OCRDataset`` parses it.
        """
        data_info = super().parse_data_info(raw_data_info)
        for instance in data_info.get('instances', ()):
            if 'text' in instance and not str(instance['text']).strip():
                instance['ignore'] = True
        return data_info
