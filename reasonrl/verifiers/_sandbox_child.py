"""Untrusted side of the code judge: the only Python that ever runs a candidate program.

Started by reasonrl.verifiers.sandbox inside bubblewrap (or, where the user opted in, as a bare
process) as `python -I -S -c <plaindata.py source + this file>`: it imports nothing from reasonrl and
sees no file of the project. Messages are 4-byte big-endian lengths followed by JSON; the first one
(on the pipe that was stdin) is the job: {code, limits, reply_fd}. It then applies resource limits,
points stdin at /dev/null, runs the code and answers requests until the pipe closes:

    {"id": n, "op": "call", "name": f, "args": tree, "kwargs": tree}  ->  {"id": n, "ok": true, "value": tree}
    {"id": n, "op": "get", "name": x}                                  ->  same, with x's value
    a raised exception -> {"id": n, "ok": false, "kind": "raise", "exc": name, "msg": text}
    a value that is not plain data -> {"id": n, "ok": false, "kind": "unplain", "msg": text}

Nothing here is trusted: the candidate shares this process and may rewrite any of it. The judge
therefore treats every reply as data to check, and runs every comparison itself.
"""
import os
import resource
import struct
import sys


def _read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv(fd):
    head = _read_exact(fd, 4)
    if head is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", head)[0])
    if body is None:
        return None                           # the judge writes JSON of lists, str, int, bool, null only
    return eval(body.decode("ascii"), {"__builtins__": {}}, {"true": True, "false": False, "null": None})


def send(fd, obj):
    data = dumps(obj).encode("ascii")  # noqa: F821 - plaindata.py
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def set_limits(lim):
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] * mb, lim["memory_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["procs"], lim["procs"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["file_mb"] * mb, lim["file_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _raised(i, e):
    try:
        msg = str(e)[:300]
    except BaseException:  # noqa: BLE001 - a candidate's __str__ may itself raise
        msg = "(message unavailable)"
    return {"id": i, "ok": False, "kind": "raise", "exc": str(type(e).__name__)[:60], "msg": msg}


def answer(ns, msg):
    i = msg.get("id")
    try:
        if msg.get("op") == "get":
            value = ns[msg["name"]]
        else:
            args, kwargs = from_tree(msg["args"]), from_tree(msg["kwargs"])  # noqa: F821 - plaindata.py
            value = ns[msg["name"]](*args, **kwargs)
    except BaseException as e:  # noqa: BLE001 - any failure of the candidate is reported as data
        return _raised(i, e)
    try:
        return {"id": i, "ok": True, "value": to_tree(value)}  # noqa: F821 - plaindata.py
    except BaseException as e:  # noqa: BLE001
        return {"id": i, "ok": False, "kind": "unplain", "msg": str(e)[:300]}


def load(code):
    ns = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile(code, "solution.py", "exec"), ns)
    except BaseException as e:  # noqa: BLE001
        return ns, _raised(0, e)
    names = {}
    for k, v in list(ns.items())[:2000]:
        if type(k) is str and not k.startswith("__"):
            if type(v) is type(sys):
                names[k] = "module " + str(getattr(v, "__name__", ""))[:100]
            else:
                names[k] = "call" if callable(v) else "value"
    return ns, {"id": 0, "ok": True, "names": names}


def main():
    rfd = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    job = recv(rfd)
    wfd = job["reply_fd"]
    set_limits(job["limits"])
    send(wfd, {"id": -1, "ok": True})
    ns, reply = load(job["code"])
    send(wfd, reply)
    while True:
        msg = recv(rfd)
        if msg is None:
            break
        send(wfd, answer(ns, msg))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the candidate may have replaced or closed them
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
