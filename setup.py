"""Packaging of mmdld, in the form of MMDetection's setup.py.

Besides the package, ``add_mim_extension`` links (editable install) or copies (wheel) ``configs/``,
``tools/``, ``demo/`` and ``model-index.yml`` into ``mmdld/.mim`` so that ``mim train mmdld``,
``mim test mmdld`` and ``mim run mmdld`` find them in the installed package.
"""
import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def readme() -> str:
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmdld', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'mmdld/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``requirements/<fname>``, comments dropped."""
    reqs = []
    with open(osp.join(HERE, 'requirements', fname), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Put configs/tools/demo into ``mmdld/.mim`` (symlinks in develop mode, copies otherwise)."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install', 'build')):
        mode = 'copy'
    else:
        return
    filenames = ['tools', 'configs', 'demo', 'model-index.yml']
    mim_path = osp.join(HERE, 'mmdld', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for filename in filenames:
        src = osp.join(HERE, filename)
        if not osp.exists(src):
            continue
        tar = osp.join(mim_path, filename)
        if osp.isfile(tar) or osp.islink(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), tar)
                continue
            except OSError:
                warnings.warn(f'Failed to symlink {src} to {tar}; copying it instead.')
        if osp.isdir(src):
            shutil.copytree(src, tar)
        else:
            shutil.copyfile(src, tar)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmdld',
        version=get_version(),
        description='Dynamic Low-Resolution Distillation for cost-efficient end-to-end '
        'text spotting, on OpenMMLab 2.0',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='text spotting, knowledge distillation, dynamic resolution, OCR',
        packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests', 'docs')),
        include_package_data=True,
        package_data={'mmdld': ['.mim/**/*', '**/*.txt', '**/*.json']},
        python_requires='>=3.8',
        license='Apache License 2.0',
        install_requires=parse_requirements('runtime.txt') + parse_requirements('mminstall.txt')
        + parse_requirements('torch.txt'),
        # Optional extras are listed here rather than in requirements/*.txt, whose contents
        # tools/setup_env.sh hashes: a new file there would reinstall every environment.
        extras_require={'tests': parse_requirements('tests.txt'),
                        'tensorboard': ['tensorboard>=2.11']},
        zip_safe=False)
