#!/usr/bin/env python3
"""The measurements of issue #9, started by bench/run.sh (which installs, builds and starts the
servers, and passes their ports in the environment). Every workload runs BENCH_RUNS times per
tool, the tools' order rotating from run to run, each run to a fresh prefix; after each run (not
timed) the objects and bytes that landed are checked and then removed. Wall time comes from the
monotonic clock around the process(es); client CPU (user+sys) and peak RSS from the rusage
of the measured process (its children included), read through /usr/bin/time. Results go to
bench/results/results.json (BENCH_RESULTS names another file).
"""

import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = 1 if QUICK else int(os.environ.get("BENCH_RUNS", "5"))
BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/longshore-bench"))
RUN_DIR = BENCH_DIR / "run"
VENV = Path(os.environ.get("VENV", "/opt/longshore-venv"))
S3_PORT = int(os.environ["S3_PORT"])
ANON_PORT = int(os.environ["ANON_PORT"])
GCS_PORT = int(os.environ["GCS_PORT"])
REG_PORT = int(os.environ["REG_PORT"])
SINK_PORT = int(os.environ["SINK_PORT"])
ACCESS_KEY = os.environ["BENCH_ACCESS_KEY"]
SECRET_KEY = os.environ["BENCH_SECRET_KEY"]
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
BIN = Path(os.environ.get("BENCH_BIN", REPO / "target" / "release"))
OUT = REPO / "bench" / "results"

MIB = 1 << 20
SIZES = {  # dataset: (files, bytes each)
    "A": (50, 4096) if QUICK else (1000, 4096),
    "B": (10, MIB) if QUICK else (100, MIB),
    "C": (1, 64 * MIB) if QUICK else (1, 1024 * MIB),
    "G": (1, 16 * MIB) if QUICK else (1, 256 * MIB),
    "M": (1, 16 * MIB) if QUICK else (1, 200 * MIB),
}
PART = 8 * MIB
DATA = BENCH_DIR / ("data-quick" if QUICK else "data")

results = []
meta = {"quick": QUICK, "runs": RUNS, "commands": {}, "notes": []}


def log(msg):
    print(f"bench.py: {msg}", file=sys.stderr, flush=True)


def services_env():
    """The shared services' env file: only DOCKER_HOST and the base image are read from it."""
    env = {}
    p = Path("/tmp/longshore-services/env")
    if p.exists():
        for line in p.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip("'")
    return env


SVC = services_env()
DOCKER_HOST = SVC.get("DOCKER_HOST", "unix:///var/run/docker.sock")
BASE_IMAGE = SVC.get("LONGSHORE_BASE_IMAGE", "longshore-test/busybox:latest")


# ------------------------------------------------------------------------------ measuring
class Measure:
    """Wall, CPU and peak RSS of one or more processes run one after another."""

    def __init__(self):
        self.wall = 0.0
        self.user = 0.0
        self.sys = 0.0
        self.rss_kib = 0
        self.rc = 0
        self.stderr = ""

    def run(self, argv, env=None, cwd=None, stdin=None):
        # /usr/bin/time, not wait4() here: Linux carries the forking Python's peak RSS over exec
        # into the child's ru_maxrss, which would hide any client smaller than ~40 MiB.
        tf = RUN_DIR / "time.out"
        t0 = time.monotonic()
        p = subprocess.run(
            ["/usr/bin/time", "-q", "-f", "%U %S %M", "-o", str(tf), *argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.wall += time.monotonic() - t0
        try:
            u, s, rss = tf.read_text().split()[-3:]
            self.user += float(u)
            self.sys += float(s)
            self.rss_kib = max(self.rss_kib, int(rss))
        except (OSError, ValueError):
            pass
        self.stderr += p.stderr.decode(errors="replace")[-4000:]
        if p.returncode != 0 and self.rc == 0:
            self.rc = p.returncode
        return p.returncode


def proc_cpu(pid):
    """CPU seconds (user+sys) a server process used so far."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def listen_overflows():
    """The kernel's count of connections dropped because a listen backlog was full (the GCS
    emulator's backlog is 5)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
        for head, vals in zip(lines[::2], lines[1::2]):
            if head.startswith("TcpExt:"):
                return dict(zip(head.split()[1:], map(int, vals.split()[1:]))).get("ListenOverflows")
    except (OSError, ValueError):
        return None
    return None


def server_pid(name):
    try:
        return int((RUN_DIR / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None


def record(group, workload, tool, run, m, ok, cmd, server=None, server_cpu=None, extra=None):
    r = {
        "group": group,
        "workload": workload,
        "tool": tool,
        "run": run,
        "wall": round(m.wall, 4),
        "cpu": round(m.user + m.sys, 3),
        "user": round(m.user, 3),
        "sys": round(m.sys, 3),
        "rss_mib": round(m.rss_kib / 1024, 1),
        "rc": m.rc,
        "ok": ok,
        "server_cpu": None if server_cpu is None else round(server_cpu, 3),
    }
    if extra:
        r.update(extra)
    results.append(r)
    meta["commands"].setdefault(f"{group}/{workload}/{tool}", cmd)
    flag = "ok" if ok else "FAILED"
    log(f"{group} {workload} {tool} run {run}: {m.wall:.3f}s cpu {m.user + m.sys:.2f}s "
        f"rss {m.rss_kib / 1024:.0f}MiB {flag}")
    if not ok:
        log(f"  stderr tail: {m.stderr[-1500:]}")
    save()


def save():
    OUT.mkdir(parents=True, exist_ok=True)
    name = "results-quick.json" if QUICK else os.environ.get("BENCH_RESULTS", "results.json")
    (OUT / name).write_text(json.dumps({"meta": meta, "results": results}, indent=1))


def rotate(tools, run):
    k = run % len(tools)
    return tools[k:] + tools[:k]


def fresh(tool):
    return f"{tool}-{uuid.uuid4().hex[:8]}"


def shown(env_extra, argv, cwd=None):
    """The exact command as a shell line (secrets are bench-only dummies)."""
    pre = " ".join(f"{k}={shlex.quote(v)}" for k, v in env_extra.items())
    line = " ".join(shlex.quote(str(a)) for a in argv)
    where = f"(cd {cwd} && " if cwd else ""
    return f"{where}{pre + ' ' if pre else ''}{line}{')' if cwd else ''}"


# ---------------------------------------------------------------------------------- data
def make_data():
    for name, (count, size) in SIZES.items():
        d = DATA / name
        want = [d / (f"f{i:04d}.bin" if count > 1 else f"{name.lower()}.bin") for i in range(count)]
        if all(p.exists() and p.stat().st_size == size for p in want) and len(list(d.iterdir())) == count:
            continue
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        log(f"making dataset {name}: {count} x {size} bytes")
        for p in want:
            with open(p, "wb") as f:
                left = size
                while left:
                    n = min(left, 8 * MIB)
                    f.write(os.urandom(n))
                    left -= n
    parts = DATA / "parts"
    big = DATA / "C" / "c.bin"
    nparts = -(-SIZES["C"][1] // PART)
    md5s = parts / "md5.json"
    if not md5s.exists() or len(json.loads(md5s.read_text())) != nparts:
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir()
        sums = []
        with open(big, "rb") as f:
            for i in range(nparts):
                chunk = f.read(PART)
                (parts / f"p{i + 1:04d}").write_bytes(chunk)
                sums.append(hashlib.md5(chunk).hexdigest())
        md5s.write_text(json.dumps(sums))
    return json.loads(md5s.read_text())


def tree_stats(d):
    n = size = 0
    if d.exists():
        for root, _, files in os.walk(d):
            for f in files:
                n += 1
                size += (Path(root) / f).stat().st_size
    return n, size


# -------------------------------------------------------------------------------------- S3
def s3_group(part_md5):
    ep = f"http://127.0.0.1:{S3_PORT}"
    anon = f"http://127.0.0.1:{ANON_PORT}"
    cfg = RUN_DIR / "cfg"
    cfg.mkdir(exist_ok=True)
    (cfg / "aws-default").write_text("[default]\nregion = us-east-1\n")
    (cfg / "aws-c32").write_text("[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = 32\n")
    (cfg / "rclone.conf").write_text(
        "[s3b]\ntype = s3\nprovider = Other\nenv_auth = false\n"
        f"access_key_id = {ACCESS_KEY}\nsecret_access_key = {SECRET_KEY}\n"
        f"endpoint = {ep}\nforce_path_style = true\nregion = us-east-1\n"
    )
    base = dict(os.environ)
    aws_env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_DEFAULT_REGION": "us-east-1"}
    s3pid, anonpid = server_pid("s3keys"), server_pid("s3anon")

    def ours(ds, prefix):
        extra = {"PLUGIN_ENDPOINT": ep, "PLUGIN_PATH_STYLE": "true", "PLUGIN_BUCKET": "bench",
                 "PLUGIN_ACCESS_KEY": ACCESS_KEY, "PLUGIN_SECRET_KEY": SECRET_KEY,
                 "PLUGIN_SOURCE": ds, "PLUGIN_TARGET": prefix}
        return extra, [str(BIN / "longshore-s3")]

    def ours_crc32c(ds, prefix):
        # The same, with the hardware CRC32C instead of the default Content-MD5 (PLUGIN_CHECKSUM).
        extra, argv = ours(ds, prefix)
        return dict(extra, PLUGIN_CHECKSUM="crc32c"), argv

    def aws(conf):
        def f(ds, prefix):
            extra = dict(aws_env, AWS_CONFIG_FILE=str(cfg / conf))
            return extra, [str(VENV / "bin" / "aws"), "--endpoint-url", ep, "s3", "cp", "--recursive",
                           "--only-show-errors", ds, f"s3://bench/{prefix}/"]
        return f

    def rclone(*flags):
        def f(ds, prefix):
            extra = {"RCLONE_CONFIG": str(cfg / "rclone.conf")}
            return extra, ["rclone", "copy", *flags, ds, f"s3b:bench/{prefix}"]
        return f

    tools = {
        "longshore": ours,
        "longshore-crc32c": ours_crc32c,
        "aws-default": aws("aws-default"),
        "aws-c32": aws("aws-c32"),
        "rclone-default": rclone(),
        "rclone-t16": rclone("--transfers", "16"),
        "ceiling": None,
    }
    for ds in ["A", "B", "C"]:
        count, size = SIZES[ds]
        for run in range(RUNS):
            for tool in rotate(list(tools), run):
                prefix = fresh(tool)
                m = Measure()
                if tool == "ceiling":
                    root, pid = RUN_DIR / "s3anon" / "bench" / prefix, anonpid
                    c0 = proc_cpu(pid)
                    cmd = ceiling(m, anon, ds, prefix, part_md5)
                else:
                    root, pid = RUN_DIR / "s3keys" / "bench" / prefix, s3pid
                    extra, argv = tools[tool](ds, prefix)
                    env = dict(base, **extra)
                    if tool.startswith("rclone"):
                        env.pop("AWS_CA_BUNDLE", None)  # rclone 1.60 fails with it set
                    if tool.startswith("rclone"):
                        cmd = shown(extra, ["env", "-u", "AWS_CA_BUNDLE", *argv], cwd=DATA)
                    else:
                        cmd = shown(extra, argv, cwd=DATA)
                    c0 = proc_cpu(pid)
                    m.run(argv, env=env, cwd=DATA)
                c1 = proc_cpu(pid)
                n, b = tree_stats(root)
                ok = m.rc == 0 and n == count and b == count * size
                if not ok:
                    m.stderr += f"\nverify: {n} objects {b} bytes, want {count} x {size}"
                record("s3", ds, tool, run, m, ok, cmd,
                       server_cpu=None if c0 is None or c1 is None else c1 - c0)
                shutil.rmtree(root, ignore_errors=True)


def ceiling(m, ep, ds, prefix, part_md5):
    """Unsigned parallel curl PUTs to the anonymous s3s-fs: what the server alone ingests."""
    cfgf = RUN_DIR / f"curl-{prefix}.cfg"
    src = DATA / ds
    if ds in ("A", "B"):
        lines = ['silent', 'show-error', 'fail', 'header = "Expect:"']
        for f in sorted(src.iterdir()):
            lines += [f'upload-file = "{f}"', f'url = "{ep}/bench/{prefix}/{f.name}"', 'output = "/dev/null"']
        cfgf.write_text("\n".join(lines) + "\n")
        argv = ["curl", "-Z", "--parallel-max", "32", "-K", str(cfgf)]
        m.run(argv)
        return " ".join(argv) + f"   # {cfgf.name}: one upload-file/url/output triple per file"
    # C: CreateMultipartUpload, the parts 16 at a time, CompleteMultipartUpload.
    url = f"{ep}/bench/{prefix}/c.bin"
    out = RUN_DIR / f"create-{prefix}.xml"
    t0 = time.monotonic()
    m.run(["curl", "-sSf", "-X", "POST", "-o", str(out), f"{url}?uploads"])
    mm = re.search(r"<UploadId>([^<]+)</UploadId>", out.read_text()) if out.exists() else None
    if not mm:
        m.rc = m.rc or 1
        return "curl multipart (create failed)"
    uid = mm.group(1)
    lines = ['silent', 'show-error', 'fail', 'header = "Expect:"']
    for i in range(len(part_md5)):
        lines += [f'upload-file = "{DATA}/parts/p{i + 1:04d}"',
                  f'url = "{url}?partNumber={i + 1}&uploadId={uid}"', 'output = "/dev/null"']
    cfgf.write_text("\n".join(lines) + "\n")
    m.run(["curl", "-Z", "--parallel-max", "16", "-K", str(cfgf)])
    xml = RUN_DIR / f"complete-{prefix}.xml"
    xml.write_text("<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{i + 1}</PartNumber><ETag>\"{s}\"</ETag></Part>" for i, s in enumerate(part_md5)
    ) + "</CompleteMultipartUpload>")
    m.run(["curl", "-sSf", "-X", "POST", "-H", "Content-Type: application/xml", "--data-binary",
           f"@{xml}", "-o", "/dev/null", f"{url}?uploadId={uid}"])
    m.wall = time.monotonic() - t0  # includes the Python between the three curls (< 1 ms)
    return (f"curl -X POST '{url}?uploads'; curl -Z --parallel-max 16 -K parts.cfg  # {len(part_md5)} x 8 MiB "
            f"parts, -H 'Expect:'; curl -X POST -H 'Content-Type: application/xml' --data-binary @complete.xml "
            f"'{url}?uploadId=ID'")


# ------------------------------------------------------------------------------------- GCS
def gcs_list(prefix):
    url = f"http://127.0.0.1:{GCS_PORT}/storage/v1/b/gbench/o?prefix={prefix}/&maxResults=5000"
    with urllib.request.urlopen(url, timeout=60) as r:
        items = json.load(r).get("items", [])
    return items


def gcs_clean(items):
    for it in items:
        name = urllib.request.quote(it["name"], safe="")
        req = urllib.request.Request(
            f"http://127.0.0.1:{GCS_PORT}/storage/v1/b/gbench/o/{name}", method="DELETE")
        try:
            urllib.request.urlopen(req, timeout=60).read()
        except OSError:
            pass


def gcs_group():
    emu = f"127.0.0.1:{GCS_PORT}"
    base = dict(os.environ)
    pid = server_pid("gcs")

    def ours(ds, prefix):
        extra = {"STORAGE_EMULATOR_HOST": emu, "PLUGIN_SOURCE": ds, "PLUGIN_TARGET": f"gbench/{prefix}/"}
        return extra, [str(BIN / "longshore-gcs")]

    def curl(par):
        def f(ds, prefix):
            cfgf = RUN_DIR / f"gcurl-{prefix}.cfg"
            lines = ['silent', 'show-error', 'fail', 'request = "POST"', 'header = "Expect:"',
                     'header = "Content-Type: application/octet-stream"']
            for p in sorted((DATA / ds).iterdir()):
                lines += [f'upload-file = "{p}"', 'output = "/dev/null"',
                          f'url = "http://{emu}/upload/storage/v1/b/gbench/o?uploadType=media&name={prefix}/{p.name}"']
            cfgf.write_text("\n".join(lines) + "\n")
            argv = ["curl", *(["-Z", "--parallel-max", str(par)] if par > 1 else []), "-K", str(cfgf)]
            return {}, argv
        return f

    def curl_multipart(ds, prefix):
        # What a client that sends metadata with the bytes in one request (uploadType=multipart,
        # as longshore and rclone do for small files) gets from the emulator: its multipart parser
        # is the bound. The bodies are written before the timed run.
        bodies = RUN_DIR / f"mp-{prefix}"
        bodies.mkdir()
        cfgf = RUN_DIR / f"gcurl-{prefix}.cfg"
        common = ['silent', 'show-error', 'fail', 'request = "POST"', 'header = "Expect:"',
                  'header = "Content-Type: multipart/related; boundary=bench_boundary"']
        lines = []
        for p in sorted((DATA / ds).iterdir()):
            # --data-binary is one per transfer: `next` starts the next one (and resets options).
            lines += (["next"] if lines else []) + common
            meta_json = json.dumps({"name": f"{prefix}/{p.name}", "contentType": "application/octet-stream"})
            body = (f"--bench_boundary\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta_json}\r\n"
                    "--bench_boundary\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + \
                p.read_bytes() + b"\r\n--bench_boundary--\r\n"
            (bodies / p.name).write_bytes(body)
            lines += [f'data-binary = "@{bodies / p.name}"', 'output = "/dev/null"',
                      f'url = "http://{emu}/upload/storage/v1/b/gbench/o?uploadType=multipart"']
        cfgf.write_text("\n".join(lines) + "\n")
        return {}, ["curl", "-K", str(cfgf)]

    def ours_c4(ds, prefix):
        extra, argv = ours(ds, prefix)
        return dict(extra, PLUGIN_CONCURRENCY="4"), argv

    plan = [("B", {"longshore": ours, "longshore-c4": ours_c4, "curl-seq": curl(1), "curl-par8": curl(8),
                   "curl-multipart-seq": curl_multipart}, RUNS),
            ("G", {"longshore": ours, "curl": curl(1)}, RUNS),
            ("C", {"longshore": ours}, min(RUNS, 3))]
    for ds, tools, runs in plan:
        count, size = SIZES[ds]
        for run in range(runs):
            for tool in rotate(list(tools), run):
                prefix = fresh(tool)
                extra, argv = tools[tool](ds, prefix)
                m = Measure()
                c0, o0 = proc_cpu(pid), listen_overflows()
                m.run(argv, env=dict(base, **extra), cwd=DATA)
                c1, o1 = proc_cpu(pid), listen_overflows()
                try:
                    items = gcs_list(prefix)
                except OSError as e:
                    items = []
                    m.stderr += f"\nlist failed: {e}"
                n, b = len(items), sum(int(i.get("size", 0)) for i in items)
                ok = m.rc == 0 and n == count and b == count * size
                if not ok:
                    m.stderr += f"\nverify: {n} objects {b} bytes, want {count} x {size}"
                cmd = shown(extra, argv, cwd=DATA)
                if tool in ("curl-seq", "curl-par8", "curl"):
                    cmd += "   # config: -X POST, -H 'Expect:', one upload-file/url per file, uploadType=media"
                if tool == "curl-multipart-seq":
                    cmd += "   # multipart/related bodies (JSON metadata + bytes) prepared before the run"
                    shutil.rmtree(RUN_DIR / f"mp-{prefix}", ignore_errors=True)
                record("gcs", ds, tool, run, m, ok, cmd,
                       server_cpu=None if c0 is None or c1 is None else c1 - c0,
                       extra={"listen_overflows": None if o0 is None or o1 is None else o1 - o0})
                gcs_clean(items)


# ------------------------------------------------------------------------- jfrog / nexus
def memory_group():
    base = dict(os.environ)
    size = SIZES["M"][1]
    sink = f"http://127.0.0.1:{SINK_PORT}"
    tools = {
        "jfrog": {"PLUGIN_URL": f"{sink}/artifactory/", "PLUGIN_USERNAME": "bench-user",
                  "PLUGIN_PASSWORD": "bench-dummy-pw", "PLUGIN_SOURCE": "M/m.bin", "PLUGIN_TARGET": "repo/bench/"},
        "nexus": {"PLUGIN_SERVER_URL": sink, "PLUGIN_USERNAME": "bench-user", "PLUGIN_PASSWORD": "bench-dummy-pw",
                  "PLUGIN_REPOSITORY": "raw", "PLUGIN_FORMAT": "raw", "PLUGIN_API": "put",
                  "PLUGIN_SOURCE": "M/m.bin", "PLUGIN_TARGET": "bench"},
    }
    for run in range(RUNS):
        for tool in rotate(list(tools), run):
            outf = RUN_DIR / f"out-{tool}-{run}.env"
            extra = dict(tools[tool], DRONE_OUTPUT=str(outf))
            argv = [str(BIN / f"longshore-{tool}")]
            m = Measure()
            m.run(argv, env=dict(base, **extra), cwd=DATA)
            text = outf.read_text() if outf.exists() else ""
            mm = re.search(r'uploaded_bytes="?(\d+)', text)
            ok = m.rc == 0 and mm is not None and int(mm.group(1)) == size
            if not ok:
                m.stderr += f"\nverify: DRONE_OUTPUT {text!r}, want uploaded_bytes={size}"
            record("memory", "M", tool, run, m, ok, shown(extra, argv, cwd=DATA))


# ------------------------------------------------------------------------------ start-up
def startup_group():
    base = dict(os.environ)
    sink = f"http://127.0.0.1:{SINK_PORT}"
    cases = {
        "s3": {"PLUGIN_ENDPOINT": f"http://127.0.0.1:{S3_PORT}", "PLUGIN_PATH_STYLE": "true",
               "PLUGIN_BUCKET": "bench", "PLUGIN_ACCESS_KEY": ACCESS_KEY, "PLUGIN_SECRET_KEY": SECRET_KEY,
               "PLUGIN_SOURCE": "B", "PLUGIN_TARGET": "dry", "PLUGIN_DRY_RUN": "true"},
        "gcs": {"STORAGE_EMULATOR_HOST": f"127.0.0.1:{GCS_PORT}", "PLUGIN_SOURCE": "B",
                "PLUGIN_TARGET": "gbench/dry/", "PLUGIN_DRY_RUN": "true"},
        "jfrog": {"PLUGIN_URL": f"{sink}/artifactory/", "PLUGIN_USERNAME": "bench-user", "PLUGIN_PASSWORD": "bench-dummy-pw",
                  "PLUGIN_SOURCE": "B/", "PLUGIN_TARGET": "repo/dry/", "PLUGIN_DRY_RUN": "true"},
        "nexus": {"PLUGIN_SERVER_URL": sink, "PLUGIN_USERNAME": "bench-user", "PLUGIN_PASSWORD": "bench-dummy-pw",
                  "PLUGIN_REPOSITORY": "raw", "PLUGIN_FORMAT": "raw", "PLUGIN_API": "put",
                  "PLUGIN_SOURCE": "B", "PLUGIN_TARGET": "dry", "PLUGIN_DRY_RUN": "true"},
        # No dry run reaches the daemon-less start of the docker plugin: a refused daemon
        # connection is its first request, and it exits right after.
        "docker": {"PLUGIN_DAEMON_OFF": "true", "DOCKER_HOST": "tcp://127.0.0.1:1", "PLUGIN_REPO": "x/y"},
    }
    startup = {}
    for name, extra in cases.items():
        argv = str(BIN / f"longshore-{name}")
        out = RUN_DIR / f"hf-{name}.json"
        hf = ["hyperfine", "-N", "-i", "--warmup", "3", "--runs", "5" if QUICK else "30",
              "--export-json", str(out), argv]
        subprocess.run(hf, env=dict(base, **extra), cwd=DATA, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        m = Measure()
        rc = m.run([argv], env=dict(base, **extra), cwd=DATA)
        try:
            r = json.loads(out.read_text())["results"][0]
            startup[name] = {"mean": r["mean"], "stddev": r["stddev"], "median": r["median"],
                             "min": r["min"], "max": r["max"], "rss_mib": round(m.rss_kib / 1024, 1),
                             "rc": rc, "cmd": shown(extra, ["hyperfine", "-N", "-i", "--warmup", "3",
                                                            "--runs", "30", argv], cwd=DATA)}
            log(f"startup {name}: median {r['median'] * 1000:.1f} ms (rc {rc})")
        except (OSError, KeyError, IndexError, ValueError) as e:
            log(f"startup {name}: hyperfine failed: {e}")
    meta["startup"] = startup
    sizes = {}
    for p in ["docker", "ecr", "gcr", "gar", "acr", "s3", "gcs", "jfrog", "nexus"]:
        row = {}
        for label, d in [("release", BIN), ("static", REPO / "target" / "x86_64-unknown-linux-gnu" / "release")]:
            f = d / f"longshore-{p}"
            if f.exists():
                row[label] = f.stat().st_size
        r = subprocess.run(["docker", "-H", DOCKER_HOST, "image", "inspect", f"longshore/{p}:latest",
                            "--format", "{{.Size}} {{.Created}}"], capture_output=True, text=True)
        if r.returncode == 0:
            s, created = r.stdout.split(None, 1)
            row["image"] = int(s)
            row["image_created"] = created.strip()
        sizes[p] = row
    meta["sizes"] = sizes
    save()


# -------------------------------------------------------------------------------- docker
class Registry:
    def __init__(self):
        self.proc = None

    def start(self, wipe):
        self.stop()
        d = RUN_DIR / "registry"
        if wipe:
            shutil.rmtree(d / "data", ignore_errors=True)
        (d / "data").mkdir(parents=True, exist_ok=True)
        (d / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {d / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{REG_PORT}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(d / "config.yml")],
                                     stdout=open(RUN_DIR / "logs" / "registry.log", "ab"),
                                     stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{REG_PORT}/v2/", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    @staticmethod
    def has(repo, tag):
        req = urllib.request.Request(
            f"http://127.0.0.1:{REG_PORT}/v2/{repo}/manifests/{tag}", method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                               "application/vnd.oci.image.manifest.v1+json"})
        try:
            return urllib.request.urlopen(req, timeout=10).status == 200
        except OSError:
            return False


def docker_group():
    base = dict(os.environ, DOCKER_HOST=DOCKER_HOST)
    ctx = BENCH_DIR / "docker-ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    blob = ctx / "blob.bin"
    bsize = (5 if QUICK else 50) * MIB
    if not blob.exists() or blob.stat().st_size != bsize:
        blob.write_bytes(os.urandom(bsize))
    (ctx / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN echo hello > /hello.txt && mkdir -p /data && cat /hello.txt\n"
        "COPY blob.bin /data/blob.bin\nCMD [\"/bin/cat\", \"/hello.txt\"]\n")
    reg = Registry()
    host = f"127.0.0.1:{REG_PORT}"
    dk = ["docker"]  # the CLI first in PATH (28.x: legacy builder, no buildx here)

    def ours(cold):
        extra = {"PLUGIN_DAEMON_OFF": "true", "PLUGIN_REPO": f"{host}/bench/ours", "PLUGIN_TAGS": "1",
                 "PLUGIN_PULL_IMAGE": "false", "PLUGIN_CONTEXT": str(ctx),
                 "PLUGIN_DOCKERFILE": str(ctx / "Dockerfile")}
        if cold:
            extra["PLUGIN_NO_CACHE"] = "true"
        return extra, [str(BIN / "longshore-docker")], "bench/ours"

    def cli(cold):
        nc = "--no-cache " if cold else ""
        # The same two labels the plugin adds by default (auto_label), as drone-docker passes them.
        labels = ("--label org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ) "
                  "--label org.opencontainers.image.revision=00000000 ")
        script = (f"docker build {nc}{labels}-q -t bench-cli:build . && docker tag bench-cli:build {host}/bench/cli:1"
                  f" && docker push -q {host}/bench/cli:1")
        return {}, ["sh", "-c", script], "bench/cli"

    def one(workload, tool, run, fn, cold, wipe):
        if wipe:
            reg.start(wipe=True)
        extra, argv, repo = fn(cold)
        m = Measure()
        m.run(argv, env=dict(base, **extra), cwd=ctx)
        ok = m.rc == 0 and reg.has(repo, "1")
        record("docker", workload, tool, run, m, ok, shown(extra, argv, cwd=ctx))

    def ours_legacy(cold):
        extra, argv, _ = ours(cold)
        return dict(extra, DOCKER_BUILDKIT="0", PLUGIN_REPO=f"{host}/bench/legacy"), argv, "bench/legacy"

    # longshore builds with BuildKit by default; the legacy builder is DOCKER_BUILDKIT=0.
    tools = {"longshore": ours, "longshore-legacy": ours_legacy, "docker-cli": cli}
    for run in range(RUNS):
        for tool in rotate(list(tools), run):
            one("build-push-cold", tool, run, tools[tool], cold=True, wipe=True)
    reg.start(wipe=True)
    for tool, fn in tools.items():  # prime: cache and registry hold everything
        extra, argv, _ = fn(False)
        Measure().run(argv, env=dict(base, **extra), cwd=ctx)
    for run in range(RUNS):
        for tool in rotate(list(tools), run):
            one("build-push-warm", tool, run, tools[tool], cold=False, wipe=False)

    cache_round_trip(reg, base, host)

    # Push-only from a tarball (daemonless) against docker push and skopeo copy, all cold.
    tar = BENCH_DIR / "image.tar"
    subprocess.run(dk + ["-H", DOCKER_HOST, "save", "-o", str(tar), "bench-cli:build"], check=True)
    subprocess.run(dk + ["-H", DOCKER_HOST, "tag", "bench-cli:build", f"{host}/bench/push:1"], check=True)
    push_tools = {
        "longshore-tar": ({"PLUGIN_PUSH_ONLY": "true", "PLUGIN_SOURCE_TAR_PATH": str(tar),
                           "PLUGIN_REPO": f"{host}/bench/tar", "PLUGIN_TAGS": "1", "PLUGIN_DAEMON_OFF": "true",
                           "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
                          [str(BIN / "longshore-docker")], "bench/tar"),
        "docker-push": ({}, ["docker", "push", "-q", f"{host}/bench/push:1"], "bench/push"),
        "skopeo-daemon": ({}, ["skopeo", "copy", "-q", "--dest-tls-verify=false", "docker-daemon:bench-cli:build",
                               f"docker://{host}/bench/skopeo:1"], "bench/skopeo"),
        "skopeo-archive": ({}, ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{tar}",
                                f"docker://{host}/bench/skopeoa:1"], "bench/skopeoa"),
    }
    for run in range(RUNS):
        for tool in rotate(list(push_tools), run):
            reg.start(wipe=True)
            extra, argv, repo = push_tools[tool]
            m = Measure()
            m.run(argv, env=dict(base, **extra), cwd=BENCH_DIR)
            ok = m.rc == 0 and reg.has(repo, "1")
            record("docker", "push-cold", tool, run, m, ok, shown(extra, argv))

    # The same push to a registry that already holds the image (a re-run of the step, or a
    # tarball whose layers the registry has). skopeo learns a layer's compressed digest only by
    # compressing it while uploading, and skips the upload only when its local blob-info cache
    # (/var/lib/containers/cache) remembers the digest; a fresh CI container has no such cache,
    # which skopeo-archive-nocache reproduces with a tmpfs over /var/lib/containers.
    os.makedirs("/var/lib/containers", exist_ok=True)
    nocache = ["unshare", "--mount", "--", "sh", "-c",
               'mount -t tmpfs tmpfs /var/lib/containers && exec "$@"', "sh"]
    warm_tools = {
        "longshore-tar": push_tools["longshore-tar"],
        "docker-push": push_tools["docker-push"],
        "skopeo-archive": push_tools["skopeo-archive"],
        "skopeo-archive-nocache": ({}, nocache + push_tools["skopeo-archive"][1], "bench/skopeoa"),
    }
    reg.start(wipe=True)
    for tool in ("longshore-tar", "docker-push", "skopeo-archive"):  # prime (not timed)
        extra, argv, _ = push_tools[tool]
        Measure().run(argv, env=dict(base, **extra), cwd=BENCH_DIR)
    for run in range(RUNS):
        for tool in rotate(list(warm_tools), run):
            extra, argv, repo = warm_tools[tool]
            m = Measure()
            m.run(argv, env=dict(base, **extra), cwd=BENCH_DIR)
            ok = m.rc == 0 and reg.has(repo, "1")
            record("docker", "push-warm", tool, run, m, ok, shown(extra, argv))
    reg.stop()


def cache_round_trip(reg, base, host):
    """BuildKit's registry cache between two CI runs of a DinD step: each build starts on a daemon
    whose build cache was emptied (the regular records; no image of ours is left either, purge
    removes them). cache-cold builds without a cache to import (and exports one); cache-registry
    imports the one the cold build pushed. The RUN steps take most of the build."""
    ctx = BENCH_DIR / "docker-cache-ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN sleep {2 if QUICK else 6} && cat /proc/sys/kernel/random/uuid > /slow\n"
        "RUN sleep 1 && echo second > /second\nCOPY Dockerfile /Dockerfile.copy\n")
    cache = f"{host}/bench/cache:buildcache"
    reg.start(wipe=True)

    def one(workload, run, import_cache):
        subprocess.run(["docker", "-H", DOCKER_HOST, "builder", "prune", "-af", "--filter", "type=regular"],
                       check=True, stdout=subprocess.DEVNULL)
        extra = {"PLUGIN_DAEMON_OFF": "true", "PLUGIN_REPO": f"{host}/bench/cache", "PLUGIN_TAGS": "1",
                 "PLUGIN_PULL_IMAGE": "false", "PLUGIN_CONTEXT": str(ctx), "PLUGIN_CACHE_TO": cache}
        if import_cache:
            extra["PLUGIN_CACHE_FROM"] = cache
        m = Measure()
        m.run([str(BIN / "longshore-docker")], env=dict(base, **extra), cwd=ctx)
        ok = m.rc == 0 and reg.has("bench/cache", "1") and (not import_cache or " CACHED" in m.stderr)
        record("docker", workload, "longshore", run, m, ok, shown(extra, [str(BIN / "longshore-docker")], cwd=ctx))

    for run in range(RUNS):
        one("cache-cold", run, import_cache=False)
        one("cache-registry", run, import_cache=True)


# ---------------------------------------------------------------------- dind readiness
DIND_PROBE = r"""
import os, socket, subprocess, sys, time
args = sys.argv[1:]
t0 = time.monotonic()
p = subprocess.Popen(["dockerd", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect("/var/run/docker.sock")
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        if data.startswith(b"HTTP/1.0 200") and data.endswith(b"OK"):
            break
    except OSError:
        pass
    time.sleep(0.005)
print(f"READY {time.monotonic() - t0:.4f}")
p.terminate()
p.wait()
"""


def dind_group():
    """dockerd started by the plugin, inside a private net+mount+pid namespace: /run is a tmpfs
    there (so the shared daemon's socket, pid file and containerd are invisible), the data root
    is a scratch directory, and every process dies with the namespace."""
    ctx = BENCH_DIR / "dind-ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "a").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    data = BENCH_DIR / "dind-data"
    (BENCH_DIR / "dind-probe.py").write_text(DIND_PROBE)
    wrap = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--",
            "sh", "-c", 'ip link set lo up && mount -t tmpfs tmpfs /run && exec "$@"', "sh"]
    base = dict(os.environ)
    base.pop("DOCKER_HOST", None)
    extra = {"PLUGIN_STORAGE_PATH": str(data), "PLUGIN_REPO": "bench/dind", "PLUGIN_DRY_RUN": "true",
             "PLUGIN_CONTEXT": str(ctx), "PLUGIN_DOCKERFILE": str(ctx / "Dockerfile"),
             "PLUGIN_PULL_IMAGE": "false", "RUST_LOG": "info", "NO_COLOR": "1"}
    dargs = None
    for run in range(RUNS):
        for tool in rotate(["longshore", "probe-5ms"], run):
            m = Measure()
            if tool == "longshore":
                argv = wrap + [str(BIN / "longshore-docker")]
                m.run(argv, env=dict(base, **extra), cwd=ctx)
                mm = re.search(r"elapsed=([0-9.]+)(ms|s|µs)\S*\s+ready", m.stderr) or \
                    re.search(r"ready.*elapsed=([0-9.]+)(ms|s|µs)", m.stderr)
                ready = None
                if mm:
                    ready = float(mm.group(1)) * {"s": 1, "ms": 1e-3, "µs": 1e-6}[mm.group(2)]
                a = re.search(r'args="?([^"\n]*?)"?\s+starting dockerd', m.stderr) or \
                    re.search(r"starting dockerd.*args=\"?([^\"\n]*)", m.stderr)
                if a and dargs is None:
                    dargs = a.group(1).split()
                ok = m.rc == 0 and ready is not None
                record("dind", "ready", tool, run, m, ok, shown(extra, argv, cwd=ctx),
                       extra={"ready": ready})
            else:
                args = dargs or [f"--data-root={data}", "--host=unix:///var/run/docker.sock"]
                argv = wrap + [sys.executable, str(BENCH_DIR / "dind-probe.py"), *args]
                t0 = time.monotonic()
                p = subprocess.run(argv, capture_output=True, text=True, env=base)
                m.wall = time.monotonic() - t0
                mm = re.search(r"READY ([0-9.]+)", p.stdout)
                m.rc = p.returncode
                ready = float(mm.group(1)) if mm else None
                record("dind", "ready", tool, run, m, ready is not None, shown({}, argv),
                       extra={"ready": ready})


# ------------------------------------------------------------------------------- main
def version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def wait_for_quiet():
    if QUICK or os.environ.get("BENCH_NO_WAIT") == "1":
        return
    limit = float(os.environ.get("BENCH_MAX_LOAD", "1.5"))
    for _ in range(int(os.environ.get("BENCH_WAIT_MINUTES", "15"))):
        if os.getloadavg()[0] < limit:
            return
        log(f"load average {os.getloadavg()[0]:.2f} >= {limit}: waiting a minute for a quieter machine")
        time.sleep(60)


def main():
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    part_md5 = make_data()
    wait_for_quiet()
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    meta.update({
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_start": os.getloadavg(),
        "machine": f"{os.cpu_count()} vCPU {cpu}, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') >> 30} GiB RAM, "
                   f"{platform.system()} {platform.release()}",
        "versions": {
            "longshore": version(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
            "rustc": version(["rustc", "--version"]),
            "s3s-fs": version([os.environ.get("S3SFS", "s3s-fs"), "--version"]),
            "awscli": version([str(VENV / "bin" / "aws"), "--version"]),
            "rclone": version(["rclone", "version"]),
            "curl": version(["curl", "--version"]),
            "gcp-storage-emulator": version([str(VENV / "bin" / "python"), "-c",
                                             "from importlib.metadata import version as v; print(v('gcp-storage-emulator'))"]),
            "docker CLI": version(["docker", "--version"]),
            "dockerd": version(["dockerd", "--version"]),
            "docker-registry": version(["docker-registry", "--version"]),
            "skopeo": version(["skopeo", "--version"]),
            "hyperfine": version(["hyperfine", "--version"]),
        },
        "sizes_bytes": {k: v[0] * v[1] for k, v in SIZES.items()},
        "counts": {k: v[0] for k, v in SIZES.items()},
    })
    groups = [("startup", startup_group), ("s3", lambda: s3_group(part_md5)), ("gcs", gcs_group),
              ("memory", memory_group), ("docker", docker_group), ("dind", dind_group)]
    failed = []
    for name, fn in groups:
        if ONLY and name not in ONLY:
            continue
        log(f"group {name}: load {os.getloadavg()[0]:.2f}")
        try:
            fn()
        except Exception as e:  # one broken group must not lose the others' results
            log(f"group {name} failed: {e!r}")
            meta["notes"].append(f"group {name} failed: {e!r}")
            failed.append(name)
    meta["load_end"] = os.getloadavg()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    save()
    bad = [r for r in results if not r["ok"]]
    log(f"{len(results)} runs, {len(bad)} failed verification; groups failed: {failed or 'none'}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
