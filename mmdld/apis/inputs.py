"""The images a user hands to inference: a path, a folder, a glob, an array or a list of them."""
import glob
import os
import os.path as osp
from pathlib import Path
from typing import List, Sequence, Union

import numpy as np

ImageType = Union[str, Path, np.ndarray]
ImagesType = Union[ImageType, Sequence[ImageType]]

#: File extensions taken from a folder (lower case).
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def is_single_image(images: ImagesType) -> bool:
    """Whether ``images`` names one image (a file path or an array), not a list or a folder."""
    if isinstance(images, np.ndarray):
        return True
    if isinstance(images, (str, Path)):
        return osp.isfile(images)
    return False


def list_images(images: ImagesType) -> List[Union[str, np.ndarray]]:
    """The images of ``images`` in order: folders and globs expanded, sorted by name.

    Args:
        images: One image path or BGR array, a folder (its image files, not recursive), a glob
            pattern (``'imgs/*.jpg'``), or a list of any of these.

    Returns:
        list: Image paths (str) and arrays.

    Raises:
        FileNotFoundError: If a path is neither a file nor a folder and matches no file.
    """
    if isinstance(images, (str, Path, np.ndarray)):
        images = [images]
    found: List[Union[str, np.ndarray]] = []
    for item in images:
        if isinstance(item, np.ndarray):
            found.append(item)
            continue
        path = str(item)
        if osp.isfile(path):
            found.append(path)
        elif osp.isdir(path):
            found.extend(
                osp.join(path, name) for name in sorted(os.listdir(path))
                if osp.splitext(name)[1].lower() in IMG_EXTENSIONS
                and osp.isfile(osp.join(path, name)))
        else:
            matches = sorted(p for p in glob.glob(path) if osp.isfile(p))
            if not matches:
                raise FileNotFoundError(f'no image at {path!r} (not a file, a folder or a '
                                        'glob that matches a file)')
            found.extend(matches)
    return found
