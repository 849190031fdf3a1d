"""Reading and writing the RRC ground-truth and submission text files.

One file per image, one instance per line:

* ICDAR 2015 style: ``x1,y1,x2,y2,x3,y3,x4,y4,transcription`` (GT ``gt_img_N.txt``, submission
  ``res_img_N.txt``); a transcription may be quoted (``"text"``, with ``\\"`` and ``\\\\``
  escapes), as the RRC script allows;
* Total-Text style: ``x1,y1,...,xn,yn,####transcription`` with any number of points (GT files
  may also be named ``poly_gt_imgN.txt``);
* ICDAR 2013 boxes with ``ltrb=True``: ``xmin,ymin,xmax,ymax,transcription``.

Without ``,####`` and without a fixed ``num_coords`` the coordinates are the even-length run of
numbers before the last field: the last field always belongs to the transcription (write an empty
transcription as a trailing comma). A line made only of an even number of numbers is refused
with an error: it reads as a polygon without transcription, whose last point would otherwise
become the text. Pass ``num_coords=8`` to read ICDAR quads whose transcriptions look like
numbers separated by commas.

Detection-only submissions (``det_only=True``), as the RRC detection script reads them: every
field is a coordinate, optionally followed by a confidence in [0, 1] (``x1,...,yn[,confidence]``;
with a fixed ``num_coords`` or ``ltrb``, exactly that many coordinates). Either every line of a
file has a confidence or none has; with confidences the detections are sorted by decreasing
confidence (ties keep the file order), as the script does before matching.

A collection is a folder or a zip of such files; its keys are the file names without the
``gt_``/``poly_gt_``/``res_`` prefix and the ``.txt`` extension, i.e. the image stems
(``img_12``). In a GT collection an empty transcription reads as ``###`` (don't-care).
"""
import os
import os.path as osp
import re
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .text_rules import DONT_CARE_TEXT

#: One instance: flat float64 coordinates and the transcription.
RRCInstance = Tuple[np.ndarray, str]

POLYGON_SEPARATOR = ',####'
#: File-name prefixes of GT files: Total-Text's ``poly_gt_`` before ICDAR's ``gt_``.
GT_PREFIXES = ('poly_gt_', 'gt_')
_QUOTED = re.compile(r'^\s*"(.*)"\s*$')


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _unquote(text: str) -> str:
    match = _QUOTED.match(text)
    if match is None:
        return text
    return match.group(1).replace('\\\\', '\\').replace('\\"', '"')


def _quote_if_needed(text: str) -> str:
    """Quote a transcription that would not read back unchanged from an ICDAR-style line."""
    if (',' in text or '"' in text or '\\' in text or text != text.strip()
            or text.startswith('####')):
        return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'
    return text


def _to_coords(fields: Sequence[str], where: str, line: str, ltrb: bool) -> np.ndarray:
    """Coordinates from number fields; ``ltrb`` boxes become quads."""
    try:
        coords = np.array([float(field) for field in fields], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f'{where}: coordinates are not numbers in {line!r}') from err
    if coords.size % 2 or coords.size < (4 if ltrb else 6):
        hint = (" (Total-Text's own 'x: [[...]], y: [[...]]' annotations need converting to "
                'RRC lines)' if line.startswith('x:') else '')
        raise ValueError(f'{where}: expected an even number of at least '
                         f'{4 if ltrb else 6} coordinates in {line!r}{hint}')
    if ltrb:
        x1, y1, x2, y2 = coords
        coords = np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)
    return coords


def parse_rrc_line(line: str,
                   where: str = '',
                   num_coords: Optional[int] = None,
                   ltrb: bool = False) -> Optional[RRCInstance]:
    """Parse one line of an RRC GT or end-to-end submission file (polygon and transcription).

    Args:
        line (str): The line.
        where (str): ``file:line`` for error messages.
        num_coords (int, optional): Fixed number of coordinates per line (8 for ICDAR quads);
            ``None`` detects it (see the module docstring).
        ltrb (bool): Lines are ``xmin,ymin,xmax,ymax,transcription`` boxes.

    Returns:
        tuple | None: ``(coords, text)`` or ``None`` for an empty line.

    Raises:
        ValueError: If the coordinates are not numbers or are odd in number, or the line has no
            field left for the transcription (a detection-only line: read those with
            :func:`parse_rrc_detection_line`).
    """
    line = line.strip().lstrip('\ufeff').strip()
    if not line:
        return None
    if ltrb:
        num_coords = 4
    coord_part, separator, polygon_text = line.partition(POLYGON_SEPARATOR)
    coord_fields = coord_part.split(',')
    if separator and all(_is_number(field) for field in coord_fields):
        fields, text = coord_fields, polygon_text
    else:  # ICDAR style; a ',####' after a non-number belongs to the transcription
        parts = line.split(',')
        if num_coords is None:
            if len(parts) % 2 == 0 and all(_is_number(part) for part in parts):
                raise ValueError(
                    f'{where}: {len(parts)} numbers and no transcription in {line!r}: a polygon '
                    'without text? Read detection-only results as such (det_only, '
                    '--det-only), write an empty transcription as a trailing comma, or fix '
                    'the number of coordinates (num_coords, --num-coords) for texts made of '
                    'numbers')
            num_coords = 0
            while num_coords < len(parts) - 1 and _is_number(parts[num_coords]):
                num_coords += 1
            num_coords -= num_coords % 2
        elif len(parts) <= num_coords:
            raise ValueError(
                f'{where}: expected {num_coords} coordinates and a transcription, got '
                f'{len(parts)} fields in {line!r} (detection-only results: det_only, '
                '--det-only; an empty transcription: a trailing comma)')
        fields, text = parts[:num_coords], _unquote(','.join(parts[num_coords:]))
    return _to_coords(fields, where, line, ltrb), text


def parse_rrc_detection_line(line: str,
                             where: str = '',
                             num_coords: Optional[int] = None,
                             ltrb: bool = False) -> Optional[Tuple[np.ndarray, Optional[float]]]:
    """Parse one line of a detection-only submission: coordinates and an optional confidence.

    As the RRC detection script: every field is a number; without a fixed count an odd number
    of fields means the last one is the confidence. A trailing comma is allowed.

    Args:
        line (str): The line.
        where (str): ``file:line`` for error messages.
        num_coords (int, optional): Fixed number of coordinates per line (8 for ICDAR quads);
            ``None`` takes every field but an odd last one as a coordinate.
        ltrb (bool): Lines are ``xmin,ymin,xmax,ymax[,confidence]`` boxes.

    Returns:
        tuple | None: ``(coords, confidence)`` (``None`` without confidence), or ``None`` for
        an empty line.

    Raises:
        ValueError: If a field is not a number, the field count does not fit, or the
            confidence is not in [0, 1].
    """
    line = line.strip().lstrip('\ufeff').strip()
    if not line:
        return None
    fields = [field.strip() for field in line.split(',')]
    if len(fields) > 1 and not fields[-1]:
        fields = fields[:-1]
    for field in fields:
        if not _is_number(field):
            raise ValueError(f'{where}: {field!r} is not a number in {line!r}; a detection-only '
                             'line holds coordinates and an optional confidence')
    if ltrb:
        num_coords = 4
    if num_coords is None:
        has_confidence = len(fields) % 2 == 1
    elif len(fields) in (num_coords, num_coords + 1):
        has_confidence = len(fields) == num_coords + 1
    else:
        raise ValueError(f'{where}: expected {num_coords} coordinates and an optional '
                         f'confidence, got {len(fields)} fields in {line!r}')
    confidence = None
    if has_confidence:
        confidence = float(fields[-1])
        fields = fields[:-1]
        if not 0.0 <= confidence <= 1.0:
            hint = ('' if num_coords is not None else
                    ' (without a fixed number of coordinates, an odd number of fields ends with '
                    'the confidence)')
            raise ValueError(f'{where}: confidence {confidence} is not in [0, 1] in '
                             f'{line!r}{hint}')
    return _to_coords(fields, where, line, ltrb), confidence


def parse_rrc_file(content: str,
                   where: str = '',
                   num_coords: Optional[int] = None,
                   ltrb: bool = False,
                   det_only: bool = False) -> List[RRCInstance]:
    """Parse the text of one RRC file (UTF-8, optional BOM, LF or CRLF line ends).

    Args:
        content (str): File content.
        where (str): File name for error messages.
        num_coords (int, optional): See :func:`parse_rrc_line`.
        ltrb (bool): See :func:`parse_rrc_line`.
        det_only (bool): Lines are detections without transcription, see
            :func:`parse_rrc_detection_line`; with confidences they are returned by decreasing
            confidence.

    Returns:
        list[tuple]: ``(coords, text)`` per instance; the texts are empty with ``det_only``.

    Raises:
        ValueError: If a line is malformed, or (``det_only``) some lines of the file have a
            confidence and others not.
    """
    if not det_only:
        instances = []
        for num, line in enumerate(content.splitlines(), 1):
            parsed = parse_rrc_line(line, f'{where}:{num}', num_coords, ltrb)
            if parsed is not None:
                instances.append(parsed)
        return instances
    detections = []
    for num, line in enumerate(content.splitlines(), 1):
        parsed = parse_rrc_detection_line(line, f'{where}:{num}', num_coords, ltrb)
        if parsed is not None:
            detections.append((num, *parsed))
    with_confidence = [num for num, _, confidence in detections if confidence is not None]
    if with_confidence and len(with_confidence) != len(detections):
        without = next(num for num, _, confidence in detections if confidence is None)
        raise ValueError(f'{where}:{without}: no confidence, but line {with_confidence[0]} has '
                         'one; either every detection of a file has a confidence or none has')
    if with_confidence:
        # list.sort is stable: equal confidences keep the file order.
        detections.sort(key=lambda detection: -detection[2])
    return [(coords, '') for _, coords, _ in detections]


def _format_number(value: float, int_coords: bool) -> str:
    if int_coords:
        return str(int(round(value)))
    # repr round-trips a float exactly, so the offline tool reads what the metric evaluated.
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def format_rrc_line(polygon: Sequence[float], text: str, int_coords: bool = False) -> str:
    """Format one instance: ICDAR style for quads, Total-Text style for other polygons.

    Args:
        polygon (Sequence[float]): Flat ``[x1, y1, ...]`` coordinates.
        text (str): Transcription (line breaks become spaces).
        int_coords (bool): Round coordinates to integers, as the official RRC scripts for
            ICDAR 2015 require.

    Returns:
        str: The line, without line end.
    """
    coords = np.asarray(polygon, dtype=np.float64).reshape(-1)
    coord_str = ','.join(_format_number(value, int_coords) for value in coords)
    text = text.replace('\r', ' ').replace('\n', ' ')
    if coords.size == 8:
        return f'{coord_str},{_quote_if_needed(text)}'
    return f'{coord_str}{POLYGON_SEPARATOR}{text}'


def _strip_name(file_name: str, prefixes: Sequence[str]) -> str:
    stem = osp.splitext(osp.basename(file_name))[0]
    for prefix in prefixes:
        if prefix and stem.startswith(prefix):
            return stem[len(prefix):]
    return stem


def load_rrc_collection(path: str,
                        prefix: Union[str, Sequence[str]],
                        num_coords: Optional[int] = None,
                        ltrb: bool = False,
                        det_only: bool = False,
                        empty_text_dont_care: Optional[bool] = None
                        ) -> Dict[str, List[RRCInstance]]:
    """Read every ``.txt`` file of a folder or a zip.

    Args:
        path (str): Folder or ``.zip`` file.
        prefix (str | Sequence[str]): File-name prefix to drop from the keys (``'res_'``), or
            several, the first that fits is dropped (:data:`GT_PREFIXES` for GT).
        num_coords (int, optional): See :func:`parse_rrc_line`.
        ltrb (bool): See :func:`parse_rrc_line`.
        det_only (bool): Detection-only lines, see :func:`parse_rrc_file`.
        empty_text_dont_care (bool, optional): Read an empty (or blank) transcription as the
            don't-care ``###``. No word can match an empty text, and training already leaves
            such instances out (mmdld's datasets mark them ``ignore``), so GT must not count
            them as words to find. None: for GT collections, i.e. when every ``prefix`` is
            one of :data:`GT_PREFIXES`.

    Returns:
        dict[str, list]: Instances per image stem.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If two files map to the same image or a file is not UTF-8.
    """
    if osp.isdir(path):
        names = sorted(name for name in os.listdir(path) if name.endswith('.txt'))
        contents = ((name, _read_bytes(osp.join(path, name))) for name in names)
    elif osp.isfile(path) and zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        names = sorted(name for name in archive.namelist() if name.endswith('.txt'))
        contents = ((name, archive.read(name)) for name in names)
    else:
        raise FileNotFoundError(f'not a folder or a zip file: {path}')
    prefixes = (prefix, ) if isinstance(prefix, str) else tuple(prefix)
    if empty_text_dont_care is None:
        empty_text_dont_care = all(p in GT_PREFIXES for p in prefixes)
    collection: Dict[str, List[RRCInstance]] = {}
    for name, data in contents:
        where = f'{path}/{name}'
        try:
            content = data.decode('utf-8-sig')
        except UnicodeDecodeError as err:
            raise ValueError(f'{where}: not UTF-8 text ({err})') from err
        key = _strip_name(name, prefixes)
        if key in collection:
            raise ValueError(f'{where}: a second file for image {key!r}')
        instances = parse_rrc_file(content, where, num_coords, ltrb, det_only)
        if empty_text_dont_care:
            instances = [(coords, text if text.strip() else DONT_CARE_TEXT)
                         for coords, text in instances]
        collection[key] = instances
    return collection


def _read_bytes(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def write_rrc_collection(out_dir: str,
                         collection: Dict[str, Sequence[Tuple[Sequence[float], str]]],
                         prefix: str,
                         zip_path: Optional[str] = None,
                         int_coords: bool = False) -> List[str]:
    """Write one ``<prefix><image stem>.txt`` per image, optionally zipped as well.

    Args:
        out_dir (str): Folder for the text files (created when missing).
        collection (dict): Image stem -> ``(polygon, text)`` instances.
        prefix (str): ``'res_'`` for submissions, ``'gt_'`` for ground truth.
        zip_path (str, optional): Also write a flat zip of the files here (the RRC upload
            form).
        int_coords (bool): See :func:`format_rrc_line`.

    Returns:
        list[str]: The written text files.
    """
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for stem in sorted(collection):
        file_path = osp.join(out_dir, f'{prefix}{stem}.txt')
        lines = [format_rrc_line(polygon, text, int_coords)
                 for polygon, text in collection[stem]]
        with open(file_path, 'w', encoding='utf-8', newline='\n') as f:
            f.write(''.join(f'{line}\n' for line in lines))
        files.append(file_path)
    if zip_path is not None:
        with zipfile.ZipFile(zip_path, 'w', zipfile.ZIP_DEFLATED) as archive:
            for file_path in files:
                archive.write(file_path, arcname=osp.basename(file_path))
    return files
