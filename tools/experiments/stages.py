"""Resumable stages of a multi-step job (the demo, the reproduction): run, skip, time.

MMEngine's ``Runner`` runs one training or one test; the demo chains several of them
(data -> teacher -> student -> evaluations -> report), each of which can take minutes on a
CPU. Nothing in MMEngine or MIM chains runs and skips those already done, hence this small
runner: a stage is skipped when every output file it declares already exists, so a second
``make demo`` resumes where the first stopped instead of starting again.
"""
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence


class StageError(RuntimeError):
    """A stage failed: the message names the stage, the command and its exit status."""


@dataclass
class StageResult:
    """What happened to one stage.

    Attributes:
        name (str): Stage name, e.g. ``'teacher'``.
        status (str): ``'done'`` (ran now) or ``'skipped'`` (its outputs existed).
        seconds (float): Wall time of the run; for a skipped stage, the time it took when it
            ran in an earlier invocation (from the record file), else 0.
        outputs (list[str]): The files the stage is responsible for.
    """
    name: str
    status: str
    seconds: float
    outputs: List[str] = field(default_factory=list)


def format_duration(seconds: float) -> str:
    """``75.3`` -> ``'1m15s'``; ``3700`` -> ``'1h01m40s'``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f'{hours}h{minutes:02d}m{secs:02d}s'
    return f'{minutes}m{secs:02d}s'


class StageRunner:
    """Runs named stages in order, printing a progress line per stage with the elapsed time.

    Args:
        title (str): Prefix of the progress lines, e.g. ``'demo'``.
        log_fn (callable): Where progress lines go. Defaults to printing to stdout (flushed).
        env (dict, optional): Extra environment variables for subprocess stages.
        cwd (str, optional): Working directory of subprocess stages (the repository root).
        record_file (str, optional): A JSON file where the wall time of every finished stage
            is kept, so that a resumed run still reports how long the skipped stages took.
    """

    def __init__(self,
                 title: str,
                 log_fn: Optional[Callable[[str], None]] = None,
                 env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None,
                 record_file: Optional[str] = None) -> None:
        self.title = title
        self.record_file = record_file
        self.records: Dict[str, float] = {}
        if record_file and osp.isfile(record_file):
            with open(record_file, encoding='utf-8') as f:
                self.records = {str(k): float(v) for k, v in json.load(f).items()}
        self.log_fn = log_fn or (lambda msg: print(msg, flush=True))
        self.env = dict(env or {})
        self.cwd = cwd
        self.start = time.time()
        self.results: List[StageResult] = []

    def log(self, message: str) -> None:
        """One progress line, prefixed with the title and the time since the start."""
        self.log_fn(f'[{self.title} {format_duration(time.time() - self.start)}] {message}')

    @property
    def elapsed(self) -> float:
        """Seconds since the runner was created."""
        return time.time() - self.start

    def run(self,
            name: str,
            outputs: Sequence[str],
            cmd: Optional[Sequence[str]] = None,
            fn: Optional[Callable[[], None]] = None,
            log_file: Optional[str] = None) -> StageResult:
        """Runs a stage unless all its ``outputs`` exist.

        Args:
            name (str): Stage name used in the progress lines and in errors.
            outputs (Sequence[str]): Files that exist once the stage has succeeded. A stage
                without outputs always runs.
            cmd (Sequence[str], optional): A command to run as a subprocess (its output goes
                to the terminal, or to ``log_file``). ``sys.executable`` stands for Python.
            fn (callable, optional): An in-process function to call instead of ``cmd``.
            log_file (str, optional): Write the subprocess's stdout and stderr here instead of
                the terminal (the error message then points at it).

        Returns:
            StageResult: The status and wall time.

        Raises:
            StageError: If the command exits with a non-zero status, or if it succeeds but
                does not produce its outputs.
            ValueError: If neither or both of ``cmd`` and ``fn`` are given.
        """
        if (cmd is None) == (fn is None):
            raise ValueError(f'stage {name!r}: give exactly one of `cmd` and `fn`')
        outputs = [str(o) for o in outputs]
        if outputs and all(osp.exists(o) for o in outputs):
            self.log(f'{name}: skipped, already done ({outputs[0]} exists)')
            result = StageResult(name, 'skipped', self.records.get(name, 0.0), outputs)
            self.results.append(result)
            return result
        self.log(f'{name}: started')
        begin = time.time()
        if cmd is not None:
            self._run_cmd(name, list(cmd), log_file)
        else:
            fn()
        seconds = time.time() - begin
        missing = [o for o in outputs if not osp.exists(o)]
        if missing:
            raise StageError(f'stage {name!r} finished but did not write {missing}')
        self.log(f'{name}: done in {format_duration(seconds)}')
        self._record(name, seconds)
        result = StageResult(name, 'done', seconds, outputs)
        self.results.append(result)
        return result

    @property
    def total_seconds(self) -> float:
        """Wall time of all stages so far, counting skipped ones at their recorded time."""
        return sum(r.seconds for r in self.results)

    def _record(self, name: str, seconds: float) -> None:
        if not self.record_file:
            return
        self.records[name] = seconds
        os.makedirs(osp.dirname(osp.abspath(self.record_file)), exist_ok=True)
        with open(self.record_file, 'w', encoding='utf-8') as f:
            json.dump(self.records, f, indent=2)

    def _run_cmd(self, name: str, cmd: List[str], log_file: Optional[str]) -> None:
        env = dict(os.environ, **self.env)
        printable = ' '.join(shlex.quote(c) for c in cmd)
        self.log(f'{name}: $ {printable}')
        if log_file is None:
            code = subprocess.call(cmd, env=env, cwd=self.cwd)
            where = 'see the output above'
        else:
            os.makedirs(osp.dirname(osp.abspath(log_file)), exist_ok=True)
            with open(log_file, 'w', encoding='utf-8') as f:
                code = subprocess.call(cmd, env=env, cwd=self.cwd, stdout=f,
                                       stderr=subprocess.STDOUT)
            where = f'its log is {log_file}'
        if code != 0:
            raise StageError(f'stage {name!r} failed with exit status {code} ({where}): '
                             f'{printable}')


def python_cmd(script: str, *args: str) -> List[str]:
    """``[sys.executable, script, *args]``: run a tool with the interpreter of this process."""
    return [sys.executable, script, *args]
