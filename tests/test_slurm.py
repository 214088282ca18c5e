"""The workflow on a real single-node SLURM cluster, through workflow/profiles/slurm.

Fixtures bring up SLURM from the Debian packages (munge, slurmctld, slurmd; installed with
apt-get when missing, in a session fixture), every daemon bound to 127.0.0.1, with state, spool, logs, pid files
and munge's key and socket in a temporary directory. Only the two files SLURM cannot be pointed
elsewhere for are written to /etc/slurm (slurm.conf and gres.conf: the plugin's job step strips
SLURM_CONF before its nested `srun`, which then reads the default path); any existing ones are
moved aside and restored afterwards. There is no slurmdbd: job status comes from `squeue` with
a long MinJobAge, the recipe of reference/ecosystem.md section 1. The node advertises two fake GPUs
(GRES backed by /dev/null and /dev/zero) so that GPU requests are real scheduler requests.

The test runs a configuration through the profile (its placeholders for account and partition
filled in, as a user would) and checks that every job but the local `all` ran as a SLURM job of
this run and completed, that each job got the profile's account, partition, time limit and
memory and its rule's threads as CPUs, that training and sampling jobs, and only they, requested
a GPU (`gpus_per_job: 1`), and that the result grid and the trained VAE are byte-identical to
those of a local run of the same configuration.

The configuration is tests/workflow/tiny.yaml cut to the toy experiment with two of its samplers
(MNIST-GMM, Omniglot and UCI `enabled: false`; about fifteen SLURM jobs: data, test points,
training, the exact reference, sampling, metrics, grid, figures, table, claims). Under SLURM each
job pays three Python start-ups (the job's Snakemake, its step's Snakemake, the script), so the
full tiny configuration (79 jobs) takes well over ten minutes on two cores, and toy + UCI did not
finish in ten minutes on a busy two-core machine.

Skips, naming the reason, where SLURM cannot be installed or started (not root, no apt-get, ...).
Every daemon it started is stopped by its pid, never by name.
"""

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "workflow" / "tiny.yaml"
PROFILE = Path("workflow") / "profiles" / "slurm" / "config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ETC_SLURM = Path("/etc/slurm")
MARK = "# written by vaeinfer tests/test_slurm.py; removed when the test ends"
PACKAGES = ["munge", "slurmctld", "slurmd", "slurm-client"]
BINARIES = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun", "sinfo", "scontrol", "scancel"]
# the rules whose jobs request `gpus_per_job` GPUs (training and sampling)
GPU_RULES = {"pretrain_toy_vae", "pretrain_vae", "pretrain_classifier", "run_sampler", "sample_test_points"}

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _run(cmd: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def _which(name: str) -> str | None:
    """A binary's path; the daemons live in /usr/sbin, which a non-login PATH may lack."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"]))


def _clean_env() -> dict[str, str]:
    """The environment without SLURM_* variables (the test may itself run inside a SLURM job)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}


@pytest.fixture(scope="session")
def slurm_packages():
    """munge and SLURM's daemons and clients, installed with apt-get when missing (else skip)."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip('snakemake-executor-plugin-slurm is not installed (pip install -e ".[slurm]")')
    if os.geteuid() != 0:
        pytest.skip("starting SLURM's daemons needs root")
    if not all(_which(b) for b in BINARIES):
        if not shutil.which("apt-get"):
            pytest.skip(f"SLURM is not installed and there is no apt-get to install {PACKAGES}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            steps = (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES])
            for cmd in steps:
                proc = _run(cmd, timeout=300, env=env)
                if proc.returncode != 0:
                    pytest.skip(f"{' '.join(cmd)} failed: {(proc.stdout + proc.stderr)[-800:]}")
        except subprocess.TimeoutExpired as err:
            pytest.skip(f"installing {PACKAGES} timed out: {err}")
    missing = [b for b in BINARIES if not _which(b)]
    if missing:
        pytest.skip(f"SLURM binaries missing after installing {PACKAGES}: {missing}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int, name: str) -> bool:
    """Whether `pid` is still the daemon `name` (guards against a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return bool(cmdline) and name in cmdline  # a zombie's cmdline is empty


def _stop(pid: int, name: str, timeout: float = 15) -> None:
    """SIGTERM the daemon by its pid, then SIGKILL if it has not exited after `timeout` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _alive(pid, name):
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid, name):
            time.sleep(0.1)


def _pids_working_in(roots: list[Path]) -> list[int]:
    """Processes (not this one) whose working directory is inside one of `roots`."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if int(proc.name) != os.getpid() and any(cwd == r or r in cwd.parents for r in roots):
            pids.append(int(proc.name))
    return pids


def _wait_for(what: str, check, timeout: float = 30, logs: tuple[Path, ...] = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    tails = "\n".join(f"--- {p}:\n{p.read_text(errors='replace')[-1500:]}" for p in logs if p.exists())
    raise RuntimeError(f"timed out waiting for {what}\n{tails}")


class Cluster:
    """munged + slurmctld + slurmd on 127.0.0.1, state in `base`; `stop()` kills them by pid."""

    def __init__(self, base: Path):
        self.base = base
        self.host = socket.gethostname().split(".")[0]
        self.daemons: list[tuple[int, str]] = []  # (pid, binary name), in start order
        self.moved: list[tuple[Path, Path]] = []  # (/etc/slurm file, its backup)
        self.written: list[Path] = []
        self.workdirs: list[Path] = []  # workflow directories whose jobs this cluster runs
        self.created_etc = False

    # -- configuration ---------------------------------------------------------------------
    def _node_line(self) -> str:
        """This machine's CPUs from `slurmd -C`; memory large enough for every profile request
        (config_overrides: the node is not drained for having less; memory is not consumable)."""
        out = _run([_which("slurmd"), "-C"]).stdout
        cpus = re.search(r"\bCPUs=(\d+)", out)
        return (f"NodeName={self.host} NodeAddr=127.0.0.1 NodeHostname={self.host} "
                f"CPUs={cpus.group(1) if cpus else os.cpu_count()} RealMemory=262144 Gres=gpu:2 State=UNKNOWN")

    def _write_etc(self, name: str, text: str) -> None:
        target = ETC_SLURM / name
        if not ETC_SLURM.exists():
            ETC_SLURM.mkdir(parents=True)
            self.created_etc = True
        if target.exists() and MARK not in target.read_text(errors="replace"):
            backup = target.with_name(f"{name}.vaeinfer-test-backup")
            target.rename(backup)
            self.moved.append((target, backup))
        target.write_text(f"{MARK}\n{text}")
        self.written.append(target)

    def configure(self) -> None:
        b = self.base
        for d in ("state", "spool", "log", "munge"):
            (b / d).mkdir()
        self.munge_socket = b / "munge" / "munge.socket.2"
        self.slurm_conf = f"""\
ClusterName=vaeinfer-test
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool
SlurmctldPidFile={b}/slurmctld.pid
SlurmdPidFile={b}/slurmd.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
GresTypes=gpu
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
ReturnToService=2
MpiDefault=none
{self._node_line()}
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        self._write_etc("slurm.conf", self.slurm_conf)
        self._write_etc("gres.conf", f"NodeName={self.host} Name=gpu File=/dev/null,/dev/zero\n")

    # -- daemons -----------------------------------------------------------------------------
    def _pid_from(self, pidfile: Path, name: str, log: Path) -> int:
        def read():
            try:
                pid = int(pidfile.read_text().strip())
            except (OSError, ValueError):
                return None
            return pid if _alive(pid, name) else None

        pid = _wait_for(f"{name} to write {pidfile}", read, logs=(log,))
        self.daemons.append((pid, name))
        return pid

    def start(self) -> None:
        b, m = self.base, self.base / "munge"
        shutil.chown(m, "munge", "munge")
        m.chmod(0o755)  # munged: the socket directory must be searchable by all
        key = m / "munge.key"
        key.write_bytes(os.urandom(1024))
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        munge_log = m / "munged.log"
        munged = [_which("munged"), f"--key-file={key}", f"--socket={self.munge_socket}",
                  f"--pid-file={m / 'munged.pid'}", f"--log-file={munge_log}", f"--seed-file={m / 'munged.seed'}"]
        proc = _run([_which("runuser") or "runuser", "-u", "munge", "--", *munged])
        if proc.returncode != 0:
            raise RuntimeError(f"munged failed: {proc.stdout}{proc.stderr}")
        self._pid_from(m / "munged.pid", "munged", munge_log)
        for name in ("slurmctld", "slurmd"):
            log = b / "log" / f"{name}.log"
            proc = _run([_which(name)], env=_clean_env())
            if proc.returncode != 0:
                tail = log.read_text()[-1500:] if log.exists() else ""
                raise RuntimeError(f"{name} failed: {proc.stdout}{proc.stderr}\n{tail}")
            self._pid_from(b / f"{name}.pid", name, log)

        def node_idle():
            out = _run(["sinfo", "-h", "-N", "-o", "%T"], env=_clean_env()).stdout.split()
            return out == ["idle"]

        _wait_for("the node to become idle", node_idle, timeout=60,
                  logs=(b / "log" / "slurmctld.log", b / "log" / "slurmd.log"))

    def stop(self) -> None:
        """Cancel this cluster's unfinished jobs and wait for them, stop the daemons by pid, kill any
        job process left in a workflow directory by pid, and restore /etc/slurm."""
        env = _clean_env()
        if any(name == "slurmctld" and _alive(pid, name) for pid, name in self.daemons):
            try:
                active = ["-h", "-t", "PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING", "-o", "%i"]
                ids = _run(["squeue", *active], env=env, timeout=20).stdout.split()
                if ids:
                    _run(["scancel", *ids], env=env, timeout=20)
                    _wait_for("cancelled jobs to end", lambda: not _run(["squeue", *active], env=env).stdout.split(),
                              timeout=60)
            except (OSError, RuntimeError, subprocess.SubprocessError):
                pass
        for pid, name in reversed(self.daemons):
            _stop(pid, name)
        for pid in _pids_working_in([self.base, *self.workdirs]):
            _stop(pid, "")
        for path in self.written:
            if path.exists() and MARK in path.read_text(errors="replace"):
                path.unlink()
        for target, backup in self.moved:
            backup.rename(target)
        if self.created_etc and not any(ETC_SLURM.iterdir()):
            ETC_SLURM.rmdir()

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (finished ones stay MinJobAge = 1 h), as key -> value."""
        out = _run(["scontrol", "-o", "show", "job"], env=_clean_env()).stdout
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if "JobId=" in line]


@pytest.fixture(scope="module")
def cluster(slurm_packages):
    base = Path(tempfile.mkdtemp(prefix="vaeinfer-slurm-"))
    base.chmod(0o755)  # munged runs as the munge user and must reach its key and socket
    cl = Cluster(base)
    try:
        cl.configure()
        cl.start()
    except (OSError, LookupError, RuntimeError, subprocess.SubprocessError) as err:
        cl.stop()
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start a local SLURM cluster: {err}")
    yield cl
    cl.stop()
    shutil.rmtree(base, ignore_errors=True)


def _test_config() -> dict:
    """tests/workflow/tiny.yaml cut to the toy experiment with two samplers (14 SLURM jobs)."""
    cfg = yaml.safe_load(TINY.read_text())
    for name in ("mnist_gmm", "omniglot", "uci"):
        cfg["experiments"][name]["enabled"] = False
    toy = cfg["experiments"]["toy_pitfalls"]
    toy["samplers"] = {name: toy["samplers"][name] for name in ("mwg", "lair")}
    toy["figures"] = {"pitfalls": ["mwg", "lair", "lair_iterates"], "ablations": {"LAIR": ["lair", "lair_iterates"]}}
    return cfg


def _copy_workflow(dest: Path, cfg: dict) -> Path:
    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "config", "environment.yml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    # --configfile deep-merges into config/config.yaml, so the test config replaces it instead
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


def _start_snakemake(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**_clean_env(), "PYTHONHASHSEED": "0"}
    return subprocess.Popen([*SNAKEMAKE, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    """Wait for a Snakemake run; its stdout + stderr. On timeout, Ctrl-C it (Snakemake then cancels
    its SLURM jobs) and fail."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"{' '.join(proc.args)} timed out after {timeout} s:\n{out[-4000:]}\n"
                             f"{err[-4000:]}") from None
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(proc.args)} failed:\n{out[-4000:]}\n{err[-4000:]}")
    return out + err


def _job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table (rule -> number of jobs) from a run's output."""
    counts = {}
    for line in output.split("Job stats:", 1)[1].splitlines():
        row = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if row and row.group(1) == "total":
            break
        if row:
            counts[row.group(1)] = int(row.group(2))
    return counts


def _slurm_time(minutes: int) -> str:
    """A time limit as SLURM prints it: [days-]hh:mm:ss."""
    days, rest = divmod(minutes, 24 * 60)
    return (f"{days}-" if days else "") + f"{rest // 60:02d}:{rest % 60:02d}:00"


def test_workflow_runs_on_slurm_with_the_same_bytes(cluster, tmp_path):
    cfg = _test_config()
    local = _copy_workflow(tmp_path / "local", cfg)
    work = _copy_workflow(tmp_path / "slurm", {**cfg, "gpus_per_job": 1})
    cluster.workdirs.append(work)
    # fill in the profile's placeholders as a user would; the rest is test-only speed and evidence
    profile = yaml.safe_load((work / PROFILE).read_text())
    profile["default-resources"].update(slurm_partition="debug", slurm_account="root")
    profile.update({
        "jobs": 4,  # more than the node's CPUs: SLURM starts queued jobs without waiting for a poll
        "slurm-status-command": "squeue",  # no slurmdbd here (MinJobAge=3600)
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-keep-successful-logs": True,
    })
    (work / PROFILE).write_text(yaml.safe_dump(profile))
    # the local run overlaps the SLURM run, which mostly waits (job start-ups, status polls)
    started = time.monotonic()
    local_run = _start_snakemake(local, "--cores", "2")  # 2 threads for training, as in the SLURM jobs
    slurm_run = _start_snakemake(work, "--workflow-profile", str(PROFILE.parent))
    try:
        out = _finish(slurm_run, timeout=900)
        elapsed = time.monotonic() - started
        _finish(local_run, timeout=300)
    finally:
        for proc in (local_run, slurm_run):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    # jobs of local rules (`all`) run in Snakemake itself and print as "localrule <name>:"
    local_jobs = Counter(re.findall(r"^localrule (\w+):", out, re.M))
    assert local_jobs["all"] == 1, out[-3000:]
    expected = {rule: n - local_jobs[rule] for rule, n in _job_counts(out).items() if n > local_jobs[rule]}

    # every job but `all` ran as a SLURM job of this run, completed, and left its SLURM log
    jobs = [j for j in cluster.jobs() if j.get("WorkDir") == str(work)]
    ran: dict[str, int] = {}
    for job in jobs:
        rule = re.fullmatch(r"rule_(.+?)(_wildcards_.*)?", job["Comment"]).group(1)
        job["rule"] = rule
        ran[rule] = ran.get(rule, 0) + 1
        assert job["JobState"] == "COMPLETED", job
        logs = list((work / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob(f"{job['JobId']}.log"))
        assert len(logs) == 1, (job, logs)
    assert ran == expected, (ran, expected, out[-3000:])

    # the profile's resources: account, partition, runtime, memory; CPUs from the rules' threads;
    # a GPU for training and sampling jobs (gpus_per_job: 1), none for the others
    limits = profile["set-resources"]
    default = profile["default-resources"]
    for job in jobs:
        rule = job["rule"]
        assert (job["Account"], job["Partition"]) == ("root", "debug"), job
        minutes = limits.get(rule, {}).get("runtime", default["runtime"])
        assert job["TimeLimit"] == _slurm_time(minutes), job
        assert job["MinMemoryNode"] == f"{limits.get(rule, {}).get('mem_mb', default['mem_mb'])}M", job
        assert job.get("TresPerJob", "") == ("gres:gpu:1" if rule in GPU_RULES else ""), job
        assert job["NumCPUs"] == ("2" if rule.startswith("pretrain") else "1"), job

    # the same bytes as the local run
    grids = sorted(p.relative_to(local) for p in (local / "results" / "grids").glob("*.nc"))
    assert [g.name for g in grids] == ["toy_pitfalls.nc"]
    for rel in [*grids, Path("results/checkpoints/toy_grid/vae.pt")]:
        assert (local / rel).read_bytes() == (work / rel).read_bytes(), rel
    print(f"SLURM run: {sum(ran.values())} jobs in {elapsed:.0f} s")
