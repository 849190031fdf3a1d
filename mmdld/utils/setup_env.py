"""Registration helpers, as MMDetection's ``mmdet.utils.setup_env`` has them."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Registers mmdld's, MMDetection's and MMOCR's modules into their registries.

    Importing a registry's ``locations`` already happens lazily when a config is built, but tools
    and notebooks that look classes up by name before building anything need the registries filled.

    Args:
        init_default_scope (bool): Whether to set the default scope to ``'mmdld'`` so that
            ``type='MaskRCNNSpotter'`` resolves without a scope prefix. Defaults to True.
    """
    import mmdet.utils
    import mmocr.utils

    # mmdet and mmocr first: our registries are their children and may override names.
    mmdet.utils.register_all_modules(init_default_scope=False)
    mmocr.utils.register_all_modules(init_default_scope=False)

    import mmdld.datasets  # noqa: F401,F811
    import mmdld.engine  # noqa: F401,F811
    import mmdld.evaluation  # noqa: F401,F811
    import mmdld.models  # noqa: F401,F811
    import mmdld.visualization  # noqa: F401,F811

    if init_default_scope:
        never_created = (DefaultScope.get_current_instance() is None
                         or not DefaultScope.check_instance_created('mmdld'))
        if never_created:
            DefaultScope.get_instance('mmdld', scope_name='mmdld')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'mmdld':
            warnings.warn('The current default scope '
                          f'"{current_scope.scope_name}" is not "mmdld", '
                          '`register_all_modules` will force the current'
                          'default scope to be "mmdld". If this is not '
                          'expected, please set `init_default_scope=False`.')
            # avoid name conflict
            new_instance_name = f'mmdld-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_instance_name, scope_name='mmdld')


def register_mmdld_package() -> None:
    """Lets config files name mmdld's configs as ``'mmdld::dld/dld_totaltext.py'``.

    MMEngine resolves ``pkg::path`` only for packages listed in its ``MODULE2PACKAGE`` table
    (OpenMMLab's own repositories); adding mmdld there makes ``_base_ = 'mmdld::...'`` work in a
    user's project once mmdld is imported (mmdld's train and test scripts import it before
    parsing the config). The configs are looked up in ``mmdld/.mim/configs``, which
    ``setup.py`` creates on install.
    """
    from mmengine.config import utils as config_utils

    config_utils.MODULE2PACKAGE.setdefault('mmdld', 'mmdld')
