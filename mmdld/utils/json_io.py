"""Adding values to a JSON results file, e.g. cost figures beside a metric's accuracies."""
import os.path as osp
from typing import Any, Dict

import mmengine


def merge_into_json(path: str, values: Dict[str, Any]) -> None:
    """Sets ``values`` in the JSON object stored at ``path`` (created when missing).

    Args:
        path (str): JSON file holding an object, e.g. the metric's ``spotting_results.json``.
        values (dict): Keys and values to set, e.g. ``{'FPS': 12.3}``.

    Raises:
        ValueError: If the file does not hold a JSON object.
    """
    report = mmengine.load(path, file_format='json') if osp.exists(path) else {}
    if not isinstance(report, dict):
        raise ValueError(f'{path}: expected a JSON object, got {type(report).__name__}')
    report.update(values)
    mmengine.dump(report, path, file_format='json', indent=2)
