"""Child side of the code sandbox: isolate this process tree, then run a candidate program's tests.

Run only by reasonrl.verifiers.sandbox as `python -I -S _sandbox_child.py` in a fresh temporary
directory with a scrubbed environment and its own session; the job (JSON) arrives on stdin and
results leave through the pipe fd named in the job. It imports nothing from reasonrl.

Process tree:  P (this script) --unshare--> C (pid 1 of a new pid namespace: mounts, reaps) --> H
(limits, dropped privileges, runs the candidate and its tests). When C exits the kernel kills
everything left in its pid namespace; the trainer kills P's process group on a deadline.

Isolation, each step best effort and reported in the READY line:
  root:      new mount, network and pid namespaces; private /proc, /tmp, /var/tmp, /dev/shm;
             runs as a fresh unprivileged uid (so it cannot signal, read or write the trainer's things)
  non-root:  the same through a user namespace; the file system is remounted read-only except the
             work directory, and all capabilities are dropped
  neither:   only resource limits (the READY line says `isolated: false`)
Resource limits (setrlimit): CPU seconds, address space, processes, file size, open files, no core.
"""
import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name, *args):
    if getattr(_libc, name)(*args) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{name}: {os.strerror(e)}")


def _mount(src, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _call("mount", enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def enter_namespaces(root: bool, notes: dict) -> bool:
    """unshare mount+net+pid (and user when not root). True if a pid namespace was created."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | (0 if root else CLONE_NEWUSER)
    try:
        _call("unshare", flags)
    except OSError as e:
        notes["namespaces"] = f"unavailable ({e.strerror if hasattr(e, 'strerror') else e})"
        return False
    if not root:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    notes["namespaces"] = "mount,net,pid" + ("" if root else ",user")
    notes["network"] = "none (empty network namespace)"
    return True


def _readonly_all(except_path: str, notes: dict) -> None:
    """Remount every mount read-only (keeping its other flags) except the bind-mounted work dir."""
    failed = 0
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].encode().decode("unicode_escape") for line in f]
    for mp in points:
        if mp == except_path or not os.path.isdir(mp):
            continue
        try:
            flag = os.statvfs(mp).f_flag
            keep = flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC | 1024 | 2048) | (1 << 21 if flag & 4096 else 0)
            _mount(None, mp, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
        except OSError:
            failed += 1
    notes["filesystem"] = "read-only" + (f" ({failed} mounts left writable)" if failed else "")


def setup_mounts(root: bool, work: str, notes: dict) -> None:
    """In the new mount namespace (as pid 1): private propagation, own /proc, empty /tmp-like dirs."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)         # nothing below propagates to the host
    if not root:
        _mount(work, work, None, MS_BIND | MS_REC)
        os.chdir(work)                                    # onto the writable bind mount
        _readonly_all(work, notes)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(d):
            try:
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")
            except OSError:
                notes.setdefault("tmpfs_failed", []).append(d)
    if root:
        expose_python(notes)


def closed_python_dir() -> tuple:
    """(Python installation, the first directory above it that others cannot enter, or None)."""
    prefix = os.path.realpath(sys.base_prefix)
    parts = prefix.strip("/").split("/")
    return prefix, next((d for d in ("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
                         if not os.stat(d).st_mode & 0o001), None)


def expose_python(notes: dict) -> None:
    """Root path: the sandbox uid must read the standard library. If a directory above it is closed
    to others (e.g. /root with pyenv), cover that directory with an empty tmpfs and mount just the
    Python installation back, read-only, at its own path (which also hides the rest of it)."""
    prefix, blocked = closed_python_dir()
    if blocked is None or blocked in ("/tmp", "/var/tmp", "/dev/shm"):
        return
    os.umask(0o022)
    stage = "/tmp/.reasonrl-python"
    os.mkdir(stage)
    _mount(prefix, stage, None, MS_BIND | MS_REC)
    _mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    os.makedirs(prefix, exist_ok=True)
    _mount(stage, prefix, None, MS_BIND | MS_REC)
    _mount(None, prefix, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    _call("umount2", stage.encode(), 2)                    # MNT_DETACH
    os.rmdir(stage)
    notes["python"] = f"{blocked} hidden except {prefix} (read-only)"


def drop_capabilities() -> None:
    """Non-root path: no capabilities left in the user namespace, and none can be regained."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]
    _call("prctl", 38, 1, 0, 0, 0)                         # PR_SET_NO_NEW_PRIVS
    for cap in range(64):                                  # PR_CAPBSET_DROP, until EINVAL (no such cap)
        if _libc.prctl(24, cap, 0, 0, 0) != 0:
            break
    data = (Data * 2)()
    _call("capset", ctypes.byref(Header(0x20080522, 0)), data)


def set_limits(lim: dict, extra_procs: int) -> None:
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] * mb, lim["memory_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["procs"] + extra_procs, lim["procs"] + extra_procs))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["file_mb"] * mb, lim["file_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _user_processes(uid: int) -> int:
    n = 0
    for p in os.listdir("/proc"):
        try:
            n += p.isdigit() and os.stat(f"/proc/{p}").st_uid == uid
        except OSError:
            pass
    return n


def become_sandbox_user(job: dict, root: bool, isolated: bool, notes: dict) -> int:
    """Drop privileges; returns the number of processes the limit must allow besides the program."""
    if root:
        prefix, blocked = closed_python_dir()
        if not isolated and blocked:
            raise RuntimeError(f"the sandbox user cannot read Python at {prefix} ({blocked} is closed to others) "
                               "and no mount namespace is available to expose it; install Python elsewhere")
        uid = job["uid"]
        os.chown(".", uid, uid)
        os.chmod(".", 0o700)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        notes["user"] = f"uid {uid} (unprivileged, used by no one else)"
        return 0
    if isolated:
        drop_capabilities()
        notes["user"] = "own user namespace, no capabilities"
        return 0
    notes["user"] = f"the trainer's own uid {os.getuid()}"
    return _user_processes(os.getuid())


def run_tests(job: dict, out) -> None:
    """Run the candidate, the setup, then each test statement; one result line per test."""
    def send(*parts):
        out.write(" ".join(str(p).replace("\n", " ") for p in parts)[:2000] + "\n")
        out.flush()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    tests = job["tests"]
    steps = (("candidate", job["code"], "solution.py"), ("setup", job.get("setup") or "", "tests.py"))
    for what, src, fname in steps:
        try:
            exec(compile(src, fname, "exec"), ns)
        except BaseException as e:  # noqa: BLE001 - any failure of the candidate is a failed test
            for i in range(len(tests)):
                send("T", i, "fail", f"{what} raised {type(e).__name__}: {e}")
            send("DONE")
            return
    entry = job.get("entry_point")
    if entry:
        if not callable(ns.get(entry)):
            for i in range(len(tests)):
                send("T", i, "fail", f"entry point {entry!r} is not defined")
            send("DONE")
            return
        ns["candidate"] = ns[entry]
    for i, t in enumerate(tests):
        try:
            exec(compile(t, f"test_{i}.py", "exec"), ns)
            send("T", i, "pass", "")
        except BaseException as e:  # noqa: BLE001
            send("T", i, "fail", f"{type(e).__name__}: {e}")
    send("DONE")


def child(job: dict, root: bool, isolated: bool, notes: dict) -> None:
    """H: limits, privileges, READY, tests. Never returns."""
    code = 0
    try:
        extra = become_sandbox_user(job, root, isolated, notes)
        set_limits(job["limits"], extra)
        out = os.fdopen(job["result_fd"], "w", buffering=1)
        out.write("READY " + json.dumps({"isolated": isolated, **notes}) + "\n")
        out.flush()
        run_tests(job, out)
    except BaseException as e:  # noqa: BLE001 - reported as an infrastructure error by the parent
        try:
            os.write(job["result_fd"], f"INFRA {type(e).__name__}: {e}\n".encode())
        except OSError:
            pass
        code = 3
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the candidate may have replaced or closed them
            pass
    os._exit(code)


def _wait_exit(pid: int) -> None:
    """Wait for pid (reaping any orphans meanwhile, as pid 1 must) and exit with its status."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(3)
        if got == pid:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)
    root = os.geteuid() == 0
    notes: dict = {"network": "NOT isolated (no network namespace)"}
    isolated = job.get("isolate", True) and enter_namespaces(root, notes)
    pid = os.fork()
    if pid:
        _wait_exit(pid)
    if isolated:                                          # C: pid 1 of the new namespace
        try:
            setup_mounts(root, job["work"], notes)
        except OSError as e:
            os.write(job["result_fd"], f"INFRA mount setup failed: {e}\n".encode())
            os._exit(3)
        pid = os.fork()
        if pid:
            _wait_exit(pid)
    child(job, root, isolated, notes)


if __name__ == "__main__":
    main()
