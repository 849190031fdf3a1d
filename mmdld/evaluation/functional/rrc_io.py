"""Reading and writing the RRC ground-truth and submission text files.

One file per image, one instance per line:

* ICDAR 2015 style: ``x1,y1,x2,y2,x3,y3,x4,y4,transcription`` (GT ``gt_img_N.txt``, submission
  ``res_img_N.txt``); a transcription may be quoted (``"text"``, with ``\\"`` and ``\\\\``
  escapes), as the RRC script allows;
* Total-Text style: ``x1,y1,...,xn,yn,####transcription`` with any number of points;
* ICDAR 2013 boxes with ``ltrb=True``: ``xmin,ymin,xmax,ymax,transcription``.

Without ``,####`` and without a fixed ``num_coords`` the coordinates are the even-length run of
numbers before the last field: the last field always belongs to the transcription (write an empty
transcription as a trailing comma). Pass ``num_coords=8`` to read ICDAR quads whose
transcriptions look like numbers separated by commas.

A collection is a folder or a zip of such files; its keys are the file names without the
``gt_``/``res_`` prefix and the ``.txt`` extension, i.e. the image stems (``img_12``).
"""
import os
import os.path as osp
import re
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

#: One instance: flat float64 coordinates and the transcription.
RRCInstance = Tuple[np.ndarray, str]

POLYGON_SEPARATOR = ',####'
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


def parse_rrc_line(line: str,
                   where: str = '',
                   num_coords: Optional[int] = None,
                   ltrb: bool = False) -> Optional[RRCInstance]:
    """Parse one line of an RRC GT or submission file.

    Args:
        line (str): The line.
        where (str): ``file:line`` for error messages.
        num_coords (int, optional): Fixed number of coordinates per line (8 for ICDAR quads);
            ``None`` detects it (see the module docstring).
        ltrb (bool): Lines are ``xmin,ymin,xmax,ymax,transcription`` boxes.

    Returns:
        tuple | None: ``(coords, text)`` or ``None`` for an empty line.

    Raises:
        ValueError: If the coordinates are not numbers or are odd in number.
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
            num_coords = 0
            while num_coords < len(parts) - 1 and _is_number(parts[num_coords]):
                num_coords += 1
            num_coords -= num_coords % 2
        fields, text = parts[:num_coords], _unquote(','.join(parts[num_coords:]))
    try:
        coords = np.array([float(field) for field in fields], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f'{where}: coordinates are not numbers in {line!r}') from err
    if coords.size % 2 or coords.size < (4 if ltrb else 6):
        raise ValueError(f'{where}: expected an even number of at least '
                         f'{4 if ltrb else 6} coordinates in {line!r}')
    if ltrb:
        x1, y1, x2, y2 = coords
        coords = np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)
    return coords, text


def parse_rrc_file(content: str,
                   where: str = '',
                   num_coords: Optional[int] = None,
                   ltrb: bool = False) -> List[RRCInstance]:
    """Parse the text of one RRC file (UTF-8, optional BOM, LF or CRLF line ends).

    Args:
        content (str): File content.
        where (str): File name for error messages.
        num_coords (int, optional): See :func:`parse_rrc_line`.
        ltrb (bool): See :func:`parse_rrc_line`.

    Returns:
        list[tuple]: ``(coords, text)`` per instance.
    """
    instances = []
    for num, line in enumerate(content.splitlines(), 1):
        parsed = parse_rrc_line(line, f'{where}:{num}', num_coords, ltrb)
        if parsed is not None:
            instances.append(parsed)
    return instances


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


def _strip_name(file_name: str, prefix: str) -> str:
    stem = osp.splitext(osp.basename(file_name))[0]
    return stem[len(prefix):] if prefix and stem.startswith(prefix) else stem


def load_rrc_collection(path: str,
                        prefix: str,
                        num_coords: Optional[int] = None,
                        ltrb: bool = False) -> Dict[str, List[RRCInstance]]:
    """Read every ``.txt`` file of a folder or a zip.

    Args:
        path (str): Folder or ``.zip`` file.
        prefix (str): File-name prefix to drop from the keys (``'gt_'`` or ``'res_'``).
        num_coords (int, optional): See :func:`parse_rrc_line`.
        ltrb (bool): See :func:`parse_rrc_line`.

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
    collection: Dict[str, List[RRCInstance]] = {}
    for name, data in contents:
        where = f'{path}/{name}'
        try:
            content = data.decode('utf-8-sig')
        except UnicodeDecodeError as err:
            raise ValueError(f'{where}: not UTF-8 text ({err})') from err
        key = _strip_name(name, prefix)
        if key in collection:
            raise ValueError(f'{where}: a second file for image {key!r}')
        collection[key] = parse_rrc_file(content, where, num_coords, ltrb)
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
