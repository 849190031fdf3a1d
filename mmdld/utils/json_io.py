"""JSON results files: adding values to one, and reading a per-scale table back."""
import json
import os.path as osp
from typing import Any, Dict, Sequence

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


def load_per_scale_file(path: str, scales: Sequence[float], what: str, keys: Sequence[str],
                        writer: str) -> Dict[str, Any]:
    """Reads a JSON table of values per candidate scale and checks it against ``scales``.

    Args:
        path (str): The JSON file, holding ``scales`` and ``keys``.
        scales (Sequence[float]): The model's candidate scales; the file's must be the same.
        what (str): How errors name the file, e.g. ``'latency file'``.
        keys (Sequence[str]): Keys the file must have besides ``scales``.
        writer (str): The tool that writes the file, for the missing-file error.

    Returns:
        dict: The file's object.

    Raises:
        FileNotFoundError, KeyError, ValueError: Naming the file and the key.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist (the analysis tool {writer} '
                                'writes it)')
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{what} {path} is not JSON: {err}') from err
    if not isinstance(data, dict):
        raise ValueError(f'{what} {path}: expected a JSON object, got {type(data).__name__}')
    for key in ('scales', *keys):
        if key not in data:
            raise KeyError(f'{what} {path} has no `{key}` (is it a file of {writer}?)')
    if len(data['scales']) != len(scales) or any(
            abs(float(a) - float(b)) > 1e-6 for a, b in zip(data['scales'], scales)):
        raise ValueError(f'{what} {path} was measured at the scales {data["scales"]}, the '
                         f'model\'s are {list(scales)}')
    return data
