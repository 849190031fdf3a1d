"""Resumable stages of a multi-step job (the demo, the reproduction): run, skip, time.

MMEngine's ``Runner`` runs one training or one test; the demo chains several of them
(data -> teacher -> student -> evaluations -> report), each of which can take minutes on a
CPU. Nothing in MMEngine or MIM chains runs and skips those already done, hence this small
runner: a stage is skipped when every output file it declares already exists, so a second
``make demo`` resumes where the first stopped instead of starting again.

Progress: every line says which stage of how many is running (``stage 3/14``); a subprocess
stage with a log file has its output written there as it comes (MMEngine's config dump
included, which is not what a terminal wants), and its ``Iter(train) [1200/2500]`` lines
become a progress line now and then with the overall ETA: the current stage's remaining time
(MMEngine's ``eta:`` field, else the rate of its iterations) plus the expected time of the
stages still to come (their times in an earlier run, else the estimates given).
"""
import fnmatch
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple


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


@dataclass
class Progress:
    """Where an MMEngine loop is, from one of its log lines.

    Attributes:
        phase (str): ``'train'``, ``'val'`` or ``'test'``.
        current (int): Iterations (or batches) done.
        total (int): Iterations of the run (``Iter(train)``), or batches of the epoch.
        epoch (int, optional): The epoch of an epoch-based training or validation line.
        eta (float, optional): MMEngine's estimate of the seconds left (``eta:``), if given.
    """
    phase: str
    current: int
    total: int
    epoch: Optional[int] = None
    eta: Optional[float] = None


# `Iter(train) [1200/2500]`, `Epoch(train)  [3][ 20/270]`, `Epoch(test) [ 10/50]` (the
# headers of MMEngine's LogProcessor), and its `eta: 1 day, 0:11:02` field.
_HEADER = re.compile(r'\b(?:Iter|Epoch)\((train|val|test)\)\s*(?:\[\s*(\d+)\])?\s*'
                     r'\[\s*(\d+)/(\d+)\]')
_ETA = re.compile(r'\beta: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d)\b')


def parse_progress(line: str) -> Optional[Progress]:
    """The :class:`Progress` of an MMEngine log line, or None if it is not a progress line.

    Examples:
        >>> parse_progress('... Iter(train) [1200/2500]  lr: 1e-03  eta: 0:11:02  time: ...')
        Progress(phase='train', current=1200, total=2500, epoch=None, eta=662.0)
    """
    match = _HEADER.search(line)
    if match is None:
        return None
    phase, epoch, current, total = match.groups()
    eta = _ETA.search(line, match.end())
    seconds = None
    if eta is not None:
        days, hours, minutes, secs = (int(g or 0) for g in eta.groups())
        seconds = float(((days * 24 + hours) * 60 + minutes) * 60 + secs)
    return Progress(phase, int(current), int(total), None if epoch is None else int(epoch),
                    seconds)


def format_eta(seconds: float) -> str:
    """A rounded duration for ETAs: ``'< 1 min'``, ``'11 min'``, ``'1 h 05 min'``."""
    minutes = int(round(seconds / 60))
    if minutes < 1:
        return '< 1 min'
    if minutes < 60:
        return f'{minutes} min'
    return f'{minutes // 60} h {minutes % 60:02d} min'


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
            is kept, so that a resumed run still reports how long the skipped stages took
            (and a later run can use them for its ETA).
        estimates (Mapping[str, float], optional): Expected seconds of stages that have no
            recorded time, by stage name or ``fnmatch`` pattern (``'*/test'``), for the ETA.
        progress_interval (float): Seconds between two progress lines of one stage (the
            first progress line of a stage and its last iteration are always shown).
    """

    def __init__(self,
                 title: str,
                 log_fn: Optional[Callable[[str], None]] = None,
                 env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None,
                 record_file: Optional[str] = None,
                 estimates: Optional[Mapping[str, float]] = None,
                 progress_interval: float = 20.0) -> None:
        self.title = title
        self.estimates = dict(estimates or {})
        self.progress_interval = progress_interval
        #: The stages to come, in order (:meth:`plan`); the counter's total.
        self.planned: List[str] = []
        self.count = 0
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

    def plan(self, names: Sequence[str]) -> None:
        """Declares the stages that will run, in order, for the counter and the ETA.

        Args:
            names (Sequence[str]): One name per :meth:`run` call to come. A stage whose
                name is only known later may be given as a pattern's name (e.g.
                ``'vanilla/test'``): the counter goes by position, the estimate by name.
        """
        self.planned = list(names)

    def expected_seconds(self, name: str) -> Optional[float]:
        """The expected wall time of stage ``name``: its recorded time, else an estimate."""
        if name in self.records:
            return self.records[name]
        for pattern, seconds in self.estimates.items():
            if fnmatch.fnmatchcase(name, pattern):
                return float(seconds)
        return None

    def eta(self, remaining: Optional[float]) -> str:
        """The overall ETA: ``remaining`` seconds of the current stage plus the stages to come.

        Stages without a recorded or estimated time are counted, not guessed
        (``'ETA 11 min + 2 untimed stages'``); ``'ETA unknown'`` when nothing is known.
        """
        known = [] if remaining is None else [remaining]
        untimed = 0 if remaining is not None else 1
        for name in self.planned[self.count:]:
            seconds = self.expected_seconds(name)
            if seconds is None:
                untimed += 1
            else:
                known.append(seconds)
        if not known:
            return 'ETA unknown'
        text = f'ETA {format_eta(sum(known))}'
        if untimed:
            text += f' + {untimed} untimed stage{"s" if untimed > 1 else ""}'
        return text

    def stage_label(self, name: str) -> str:
        """``'stage 3/14 teacher'``: the position of the current stage and its name."""
        return f'{self._counter()} {name}'

    def _counter(self) -> str:
        # More stages than planned (a plan that missed one) must not read `stage 15/14`.
        total = max(len(self.planned), self.count)
        return f'stage {self.count}/{total}' if self.planned else f'stage {self.count}'

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
                to the terminal, or to ``log_file`` with progress lines shown from its
                MMEngine log lines). ``sys.executable`` stands for Python.
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
        self.count += 1
        label = self.stage_label(name)
        if outputs and all(osp.exists(o) for o in outputs):
            self.log(f'{label}: skipped, already done ({outputs[0]} exists)')
            result = StageResult(name, 'skipped', self.records.get(name, 0.0), outputs)
            self.results.append(result)
            return result
        self.log(f'{label}: started ({self.eta(self.expected_seconds(name))})')
        begin = time.time()
        if cmd is not None:
            self._run_cmd(name, list(cmd), log_file)
        else:
            fn()
        seconds = time.time() - begin
        missing = [o for o in outputs if not osp.exists(o)]
        if missing:
            raise StageError(f'stage {name!r} finished but did not write {missing}')
        self.log(f'{label}: done in {format_duration(seconds)}')
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
        # Unbuffered: the progress lines of the child reach the pipe when it prints them.
        env = dict(os.environ, PYTHONUNBUFFERED='1', **self.env)
        printable = ' '.join(shlex.quote(c) for c in cmd)
        self.log(f'{name}: $ {printable}')
        if log_file is None:
            code = subprocess.call(cmd, env=env, cwd=self.cwd)
            where, tail = 'see the output above', ''
        else:
            log_dir = osp.dirname(osp.abspath(log_file))
            os.makedirs(log_dir, exist_ok=True)
            self.log(f'{name}: its output goes to {log_file}')
            with open(log_file, 'w', encoding='utf-8') as f:
                code, last_lines = self._follow(name, cmd, env, f)
            where = f'its log is {log_file}'
            tail = ''.join(f'\n    {line.rstrip()}' for line in last_lines)
            tail = f'; the end of the log:{tail}' if tail else ''
        if code != 0:
            raise StageError(f'stage {name!r} failed with exit status {code} ({where}): '
                             f'{printable}{tail}')

    def _follow(self, name: str, cmd: List[str], env: Dict[str, str],
                log: TextIO) -> Tuple[int, List[str]]:
        """Runs ``cmd`` with its output copied to ``log``, showing its progress lines.

        Returns:
            tuple: The exit status and the last lines of the output (for an error).
        """
        last_lines: deque = deque(maxlen=15)
        begin = time.time()
        first: Optional[Tuple[float, int]] = None  # (time, iteration) of the first progress line
        shown_at: Optional[float] = None
        with subprocess.Popen(cmd, env=env, cwd=self.cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors='replace',
                              bufsize=1) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                last_lines.append(line)
                progress = parse_progress(line)
                if progress is None:
                    continue
                now = time.time()
                if first is None or progress.current < first[1]:
                    first = (now, progress.current)
                done = progress.current >= progress.total
                if shown_at is None or done or now - shown_at >= self.progress_interval:
                    shown_at = now
                    self.log(self._progress_line(name, progress, first, now, begin))
            code = proc.wait()
        return code, list(last_lines)

    def _progress_line(self, name: str, progress: Progress, first: Tuple[float, int], now: float,
                       begin: float) -> str:
        """``'stage 2/14, teacher 1,200/2,500 it, ETA 11 min'``."""
        unit = 'it' if progress.phase == 'train' else 'batches'
        epoch = '' if progress.epoch is None else f'epoch {progress.epoch}, '
        remaining = progress.eta
        if remaining is None and progress.total:
            # No `eta:` field: the rate since this stage's first progress line (a resumed
            # run starts at a later iteration), else since the stage started.
            since, start_iter = first
            if progress.current > start_iter:
                rate = (now - since) / (progress.current - start_iter)
            else:
                rate = (now - begin) / max(progress.current, 1)
            remaining = rate * max(progress.total - progress.current, 0)
        return (f'{self._counter()}, {name} {epoch}{progress.current:,}/{progress.total:,} {unit}, '
                f'{self.eta(remaining)}')


def python_cmd(script: str, *args: str) -> List[str]:
    """``[sys.executable, script, *args]``: run a tool with the interpreter of this process."""
    return [sys.executable, script, *args]
