"""Clear errors for an installed stack that mmdld does not support."""
import pytest

from mmdld.utils import env_check
from mmdld.utils.env_check import IncompatibleEnvironmentError, check_environment


def test_current_environment_is_supported():
    assert env_check.find_problems() == []
    check_environment()


def test_numpy_2_is_refused_with_the_reason(monkeypatch):
    real = env_check._installed_version
    monkeypatch.setattr(env_check, '_installed_version',
                        lambda pkg: '2.1.0' if pkg == 'numpy' else real(pkg))
    with pytest.raises(IncompatibleEnvironmentError, match=r'numpy 2\.1\.0 .*imgaug'):
        check_environment()


def test_mmcv_without_ops_is_refused(monkeypatch):
    real = env_check.importlib.util.find_spec
    monkeypatch.setattr(env_check.importlib.util, 'find_spec',
                        lambda name: None if name == 'mmcv._ext' else real(name))
    with pytest.raises(IncompatibleEnvironmentError, match='without its compiled ops'):
        check_environment()


def test_every_problem_is_listed(monkeypatch):
    versions = {'mmdet': '3.3.0', 'mmocr': None}
    real = env_check._installed_version
    monkeypatch.setattr(env_check, '_installed_version',
                        lambda pkg: versions[pkg] if pkg in versions else real(pkg))
    with pytest.raises(IncompatibleEnvironmentError) as info:
        check_environment()
    assert 'mmdet 3.3.0 is installed, mmdld needs >=3.1.0,<3.2.0' in str(info.value)
    assert 'mmocr is not installed' in str(info.value)


def test_cli_report(capsys):
    assert env_check.main() == 0
    out = capsys.readouterr().out
    assert 'mmcv      2.0.1' in out and 'environment OK' in out
