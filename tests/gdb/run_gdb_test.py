#!/usr/bin/env python3
"""Test of tools/gdb/fiberjob.py: gdb in batch mode on gdb_target.

gdb runs gdb_target to fj_test_all_waiting(), where 6 jobs wait on counters and
a thread outside the scheduler blocks in fj_wait; then it checks that
  - `fj fibers` lists every waiter: kind, state, job name, counter, value, target;
  - `fj bt N` (N: a waiting fiber's index) shows waiting_job_function and fj_wait,
    and leaves the thread's registers as they were;
  - `fj bt JOB-NAME`, `fj bt` of a running fiber, `fj workers`, `fj counter` work;
  - the program then runs on to a normal exit;
  - on a core file of the stopped program (gcore), `fj fibers` and `fj bt N` work
    too (skipped in sanitizer builds: their shadow memory makes cores huge).
If the library has no debug info (Release), it checks the commands say so.

With --emulator (a cross build: "qemu-aarch64|-L|/usr/aarch64-linux-gnu", the
toolchain's CMAKE_CROSSCOMPILING_EMULATOR with | between words) the program runs
under the emulator's gdb stub and gdb (gdb-multiarch) connects to it; the
core-file part is skipped.

Exit 0: pass; 1: fail; 77: skipped (gdb cannot run here), with the reason.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import time

SKIP = 77
N_GATE = 4

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)
    return cond


PRELUDE = r'''
python
import gdb
for c in ("set pagination off", "set confirm off", "set width 0", "set height 0",
          "set startup-with-shell off", "set debuginfod enabled off", "set print thread-events off"):
    try:
        gdb.execute(c)
    except gdb.error:
        pass

def fjt(label, cmd):
    gdb.write("@@BEGIN %s\n" % label)
    try:
        gdb.execute(cmd)
    except gdb.error as e:
        gdb.write("@@ERROR %s\n" % e)
    gdb.write("@@END %s\n" % label)

def fjt_pick(label, pattern):
    """Run `fj fibers`, set $fj_pick to the index of the first row that matches."""
    import re
    try:
        out = gdb.execute("fj fibers", to_string=True)
    except gdb.error as e:
        out = ""
        gdb.write("@@PICKERROR %s\n" % e)
    m = re.search(pattern, out, re.M)
    gdb.write("@@PICK %s %s\n" % (label, m.group(1) if m else "none"))
    if m:
        gdb.execute("set $fj_pick_%s = %s" % (label, m.group(1)))
end
'''

LIVE = r'''
set environment ASAN_OPTIONS {asan}
python fjt("source", "source {script}")
{start}
python fjt("regs-before", "info registers")
python fjt("fibers", "fj fibers")
python fjt("info-fibers", "info fibers")
python fjt_pick("gate", r"^\s*#(\d+)\s+small\s+waiting\s+\S+\s+waiting_on_gate\s")
python fjt_pick("pair", r"^\s*#(\d+)\s+small\s+waiting\s+\S+\s+waiting_on_pair\s")
python fjt_pick("root", r"^\s*#(\d+)\s+large\s+running\s+w\d+\s+fj_main root\s")
python fjt("bt-gate", "eval \"fj bt %d\", $fj_pick_gate")
python fjt("regs-after", "info registers")
python fjt("bt-pair-full", "eval \"fj bt %d full\", $fj_pick_pair")
python fjt("bt-large", "fj bt waiting_large")
python fjt("bt-root", "eval \"fj bt %d\", $fj_pick_root")
python fjt("bt-calling", "fj bt calling_parent")
python fjt("bt-calling-big", "fj bt calling_parent_big")
python fjt("bt-external", "fj bt '(outside thread)'")
python fjt("workers", "fj workers")
python fjt("counter-gate", "fj counter &gate")
python fjt("counter-pair", "fj counter pair")
python fjt("regs-end", "info registers")
python fjt("frame", "frame")
{gcore}
python fjt("continue", "continue")
'''

CORE = r'''
python fjt("source", "source {script}")
python fjt("fibers", "fj fibers")
python fjt_pick("gate", r"^\s*#(\d+)\s+small\s+waiting\s+\S+\s+waiting_on_gate\s")
python fjt("regs-before", "info registers")
python fjt("bt-gate", "eval \"fj bt %d\", $fj_pick_gate")
python fjt("regs-after", "info registers")
python fjt("bt-external", "fj bt '(outside thread)'")
python fjt("bt-calling", "fj bt calling_parent")
python fjt("bt-calling-big", "fj bt calling_parent_big")
python fjt("counter-gate", "fj counter &gate")
python fjt("workers", "fj workers")
'''

NODEBUG = r'''
set environment ASAN_OPTIONS {asan}
python fjt("source", "source {script}")
{start}
python fjt("fibers", "fj fibers")
python fjt("bt", "fj bt 0")
python fjt("continue", "continue")
'''


def sections(out):
    """{label: text} of the @@BEGIN/@@END blocks."""
    res = {}
    for m in re.finditer(r"^@@BEGIN (\S+)\n(.*?)^@@END \1$", out, re.M | re.S):
        res[m.group(1)] = m.group(2)
    return res


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_command(args, name):
    """gdb commands that start the program and stop it at fj_test_all_waiting;
    with an emulator, also the emulator process (started here)."""
    if not args.emulator:
        return "break fj_test_all_waiting\nrun %d" % args.workers, None
    words = [w for w in args.emulator.split("|") if w]
    port = free_port()
    log = open(os.path.join(args.workdir, name + ".program.out"), "w")
    cmd = words + ["-g", str(port), args.program, str(args.workers)]
    print("$ " + " ".join(cmd) + " &")
    emu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    sysroot = ""
    if "-L" in words and words.index("-L") + 1 < len(words):
        sysroot = "set sysroot %s\n" % words[words.index("-L") + 1]
    # gdb retries the connection until the stub listens (tcp auto-retry).
    return ("%sset tcp auto-retry on\nset tcp connect-timeout 30\ntarget remote 127.0.0.1:%d\n"
            "break fj_test_all_waiting\ncontinue" % (sysroot, port)), emu


def run_gdb(args, commands, workdir, name, extra_args, emu=None):
    path = os.path.join(workdir, name + ".gdb")
    with open(path, "w") as f:
        f.write(PRELUDE + commands)
    cmd = [args.gdb, "-batch", "-nx", "-x", path] + extra_args
    print("$ " + " ".join(cmd))
    try:
        return run_gdb_process(cmd, workdir, name)
    finally:
        if emu is not None:
            try:
                emu.wait(timeout=20)
            except subprocess.TimeoutExpired:
                emu.kill()
                emu.wait()
            with open(os.path.join(workdir, name + ".program.out")) as f:
                prog = f.read()
            print("--- the program's output (under the emulator):\n" + prog)


def run_gdb_process(cmd, workdir, name):
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=100, cwd=workdir)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        print(out)
        check(False, "gdb timed out (%s)" % name)
        return out
    out = p.stdout.decode("utf-8", "replace")
    with open(os.path.join(workdir, name + ".out"), "w") as f:
        f.write(out)
    print(out)
    return out


def has_bt(text, what):
    ok = check(re.search(r"\bwaiting_job_function\b", text) is not None,
               "%s: the backtrace shows waiting_job_function" % what)
    ok &= check(re.search(r"\bfj_wait\b", text) is not None, "%s: the backtrace shows fj_wait" % what)
    return ok


def gp_registers(text):
    """The general-purpose register lines of `info registers` (name -> value)."""
    regs = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)\s+(0x[0-9a-f]+)", line)
        if m:
            regs[m.group(1)] = m.group(2)
    return regs


def check_fibers(sec, gate, pair, workers, where):
    rows = [l for l in sec.splitlines() if re.match(r"^\s*#\d+\s", l)]
    summary = re.search(r"^scheduler 0x[0-9a-f]+: (\d+) workers?, (\d+) fibers in use", sec, re.M)
    if check(summary is not None, "%s: fj fibers prints a summary line per scheduler" % where):
        check(int(summary.group(1)) == workers, "%s: the summary says %d workers" % (where, workers))
    gate_re = r"\s+small\s+waiting\s+-\s+waiting_on_gate\s+counter %s value 1 target 0$" % gate
    n = sum(1 for l in rows if re.search(gate_re, l))
    check(n == N_GATE, "%s: %d small fibers wait in waiting_on_gate on gate (value 1, target 0), found %d"
          % (where, N_GATE, n))
    check(any(re.search(r"\s+small\s+waiting\s+-\s+waiting_on_pair\s+counter %s value 3 target 1$" % pair, l)
              for l in rows), "%s: a small fiber waits in waiting_on_pair on pair (value 3, target 1)" % where)
    check(any(re.search(r"\s+large\s+waiting\s+-\s+waiting_large\s+counter %s value 1 target 0$" % gate, l)
              for l in rows), "%s: a large fiber waits in waiting_large on gate" % where)
    # Outside threads' records are process-wide, listed after the schedulers by waiter id.
    check(re.search(r"^outside threads: 1 waiting in fj_wait \(\d+ records?\)$", sec, re.M) is not None,
          "%s: fj fibers says one outside thread waits" % where)
    check(re.search(r"^\s*id \d+\s+external\s+waiting\s+-\s+\(outside thread\)\s+counter %s value 1 target 0$"
                    % gate, sec, re.M) is not None, "%s: the outside thread's record waits on gate" % where)
    check(any(re.search(r"\s+large\s+running\s+w\d+\s+fj_main root\s", l) for l in rows),
          "%s: the root job runs on a large fiber" % where)
    check_calling(sec, gate, workers, where)
    check(summary is not None and int(summary.group(2)) == len([l for l in rows if not re.search(r"\s+nested\s+", l)]),
          "%s: the summary counts the fibers listed" % where)


def check_bt_calling(bt, where):
    """fj bt calling_parent: its fiber, where called_child runs on the next
    stack segment above it (nested), or its own fiber when the child was
    stolen (waiting); either way its own frames, which in the nested case the
    unwinder reaches through fj__ctx_call_on's call frame information."""
    nested = re.search(r"^fiber #\d+ \(small, waiting, job 'called_child'\).*\n\(nested: 'calling_parent' waits in "
                       r"fj_wait on stack segment 0 under 'called_child'; their frames are below fj__ctx_call_on\)$",
                       bt, re.M)
    # Without stack segments (the ucontext switch, Windows) it calls the
    # child on a fiber of its own instead, as calling_parent_big does.
    own = re.search(r"^fiber #\d+ \(small, (waiting|calling), job 'calling_parent'\)", bt, re.M)
    check(nested is not None or own is not None,
          "%s: fj bt calling_parent finds its fiber (nested under called_child, calling, or waiting)" % where)
    check(re.search(r"\bcalling_job_function\b", bt) is not None and re.search(r"\bfj_wait\b", bt) is not None,
          "%s: fj bt calling_parent shows its own frames (calling_job_function, fj_wait)" % where)
    if nested is not None:
        def frame_at(name):
            m = re.search(r"^#\d+\s.*\b%s\b" % name, bt, re.M)
            return m.start() if m else -1
        # The sanitizer builds show the assembly's fj__ names as fj.ctx_...
        pos = [frame_at(n) for n in ("waiting_job_function", r"fj(?:__|\.)ctx_call_on", "calling_job_function")]
        check(min(pos) >= 0 and pos[0] < pos[1] < pos[2],
              "%s: the nested backtrace runs from called_child's frames through fj__ctx_call_on to "
              "calling_parent's" % where)


def check_bt_calling_big(bt, where):
    m = re.search(r"^fiber #\d+ \(small, (calling|waiting), job 'calling_parent_big'\)", bt, re.M)
    check(m is not None, "%s: fj bt calling_parent_big names the fiber (calling or waiting)" % where)
    if m is not None and m.group(1) == "calling":
        check(re.search(r"^\(calling: in fj_wait, it runs child job 'called_big' on fiber #(\d+); `fj bt \1` "
                        r"shows that one\)$", bt, re.M) is not None,
              "%s: fj bt of a calling fiber names the fiber running its child" % where)
    check(re.search(r"\bcalling_job_function\b", bt) is not None and re.search(r"\bfj_wait\b", bt) is not None,
          "%s: fj bt calling_parent_big shows its own frames (calling_job_function, fj_wait)" % where)


def check_calling(sec, gate, workers, where):
    """calling_parent runs called_child on the next stack segment of its own
    fiber (a "nested" row under the child's), and calling_parent_big runs
    called_big on a large fiber of its own (calling); each waits instead when
    another worker stole its child first (never with one worker)."""
    child = re.search(r"^\s*(#\d+)\s+small\s+waiting\s+-\s+called_child\s+counter %s value 1 target 0$" % gate,
                      sec, re.M)
    check(child is not None, "%s: called_child waits on gate" % where)
    m = re.search(r"^\s*(#\d+)\s+small\s+(nested|calling|waiting)\s+-\s+calling_parent\s+counter 0x[0-9a-f]+ "
                  r"value 1 target 0(?:; in fj_wait under 'called_child' \(stack segment 0\)|; runs a child on #\d+)?$",
                  sec, re.M)
    if check(m is not None, "%s: calling_parent is nested under (or calling, or waiting for) its child" % where):
        if workers == 1:
            # Calling only in a build without stack segments (ucontext, Windows).
            check(m.group(2) in ("nested", "calling"),
                  "%s: with one worker, calling_parent runs its child itself" % where)
        if m.group(2) == "nested":
            check(child is not None and m.group(1) == child.group(1),
                  "%s: the nested row is on called_child's fiber" % where)
        print("(%s: calling_parent is %s)" % (where, m.group(2)))
    big = re.search(r"^\s*#(\d+)\s+large\s+waiting\s+-\s+called_big\s+counter %s value 1 target 0$" % gate,
                    sec, re.M)
    check(big is not None, "%s: called_big waits on gate on a large fiber" % where)
    m = re.search(r"^\s*#\d+\s+small\s+(calling|waiting)\s+-\s+calling_parent_big\s+counter 0x[0-9a-f]+ value 1 "
                  r"target 0(?:; runs a child on #(\d+))?$", sec, re.M)
    if not check(m is not None, "%s: calling_parent_big is calling (or waiting) for its child" % where):
        return
    if workers == 1:
        check(m.group(1) == "calling", "%s: with one worker, calling_parent_big is calling (runs its child itself)"
              % where)
    if m.group(1) == "calling":
        check(big is not None and m.group(2) == big.group(1),
              "%s: the calling fiber names the fiber running its child (called_big's)" % where)
    print("(%s: calling_parent_big is %s)" % (where, m.group(1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gdb", required=True)
    ap.add_argument("--program", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--config", default="")
    ap.add_argument("--sanitize", default="")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--emulator", default="", help="words separated by |")
    args = ap.parse_args()
    args.program = os.path.abspath(args.program)
    args.script = os.path.abspath(args.script)
    args.workdir = os.path.abspath(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)

    # Can gdb run here, with Python?
    try:
        p = subprocess.run([args.gdb, "-batch", "-nx", "-ex", "python print('fj-python-ok')"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("gdb_extension: SKIP: cannot run %s: %s" % (args.gdb, e))
        return SKIP
    if b"fj-python-ok" not in p.stdout:
        print("gdb_extension: SKIP: %s has no Python support:\n%s" % (args.gdb, p.stdout.decode(errors="replace")))
        return SKIP

    # Does the library have debug info? (The program's own debug info does not
    # describe the library's internals: gdb_target_sync.c is built with -g0.)
    p = subprocess.run([args.gdb, "-batch", "-nx", "-ex",
                        "python import gdb; t = gdb.lookup_type('struct fj_scheduler'); "
                        "print('fj-debug-info', len(t.fields()) > 0)", args.program],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    debug_info = b"fj-debug-info True" in p.stdout
    config = args.config
    if not debug_info and config not in ("Release", "MinSizeRel"):
        check(False, "the library of a %s build has no debug info for struct fj_scheduler" % (config or "default"))
        return 1

    asan = os.environ.get("ASAN_OPTIONS", "")
    asan = (asan + ":" if asan else "") + "detect_leaks=0"   # LeakSanitizer cannot run under ptrace
    fmt = dict(script=args.script, workers=args.workers, asan=asan)

    if not debug_info:
        start, emu = start_command(args, "nodebug")
        out = run_gdb(args, NODEBUG.format(start=start, **fmt), args.workdir, "nodebug", [args.program], emu)
        sec = sections(out)
        for label in ("fibers", "bt"):
            check(re.search(r"@@ERROR fiberjob: libfiberjob has no debug info", sec.get(label, "")) is not None
                  or "@@ERROR fiberjob: libfiberjob has no debug info" in out,
                  "without debug info, fj %s says the library has no debug info" % label)
        check("exited normally" in sec.get("continue", ""), "the program exits normally after the commands")
        print("%s (%s build, library without debug info)" % ("FAILED" if failures else "PASSED", config))
        return 1 if failures else 0

    core = os.path.join(args.workdir, "gdb_target.core")
    if os.path.exists(core):
        os.unlink(core)
    want_core = not args.sanitize and not args.emulator
    gcore = ('python fjt("gcore", "gcore %s")' % core) if want_core else ""
    start, emu = start_command(args, "live")
    out = run_gdb(args, LIVE.format(gcore=gcore, start=start, **fmt), args.workdir, "live", [args.program], emu)
    sec = sections(out)
    if emu is not None:
        with open(os.path.join(args.workdir, "live.program.out")) as f:
            out += f.read()   # the program's own lines

    denied = re.search(r"^.*(ptrace: Operation not permitted|Could not trace the inferior process).*$", out, re.M)
    if denied and "gdb_target: all waiting" not in out:
        print("gdb_extension: SKIP: gdb may not trace processes here (%s)" % denied.group(0).strip())
        return SKIP
    m = re.search(r"gdb_target: all waiting, gate=(0x[0-9a-f]+) pair=(0x[0-9a-f]+)", out)
    if not check(m is not None, "the program reached fj_test_all_waiting and printed the counters' addresses"):
        return 1
    gate, pair = m.group(1), m.group(2)
    outside_id = re.search(r"^\s*id (\d+)\s+external\s+waiting\s", sec.get("fibers", ""), re.M)
    for label, text in sec.items():
        check("@@ERROR" not in text, "`%s` ran without error" % label)

    check_fibers(sec.get("fibers", ""), gate, pair, args.workers, "live")
    check(sec.get("fibers") == sec.get("info-fibers"), "`info fibers` prints the same as `fj fibers`")
    check(re.search(r"^@@PICK gate \d+$", out, re.M) is not None, "a waiting_on_gate fiber was found")

    bt = sec.get("bt-gate", "")
    check(re.search(r"^fiber #\d+ \(small, waiting, job 'waiting_on_gate'\)", bt, re.M) is not None,
          "fj bt N names the fiber and its job")
    has_bt(bt, "fj bt N")
    # (The argument may be optimised out, as in the ASan build.)
    check(re.search(r"^#\d+\s.*\bfj_wait \(c=(c@entry=)?(%s <gate>|<optimized out>)" % gate, bt, re.M) is not None,
          "fj bt N: fj_wait's frame shows the counter argument (or that it is optimised out)")
    before, after, end = (gp_registers(sec.get(k, "")) for k in ("regs-before", "regs-after", "regs-end"))
    check(len(before) >= 8 and before == after == end,
          "the thread's registers are the same after fj bt as before")
    check("fj_test_all_waiting" in sec.get("frame", ""), "the selected frame is unchanged after fj bt")

    bt = sec.get("bt-pair-full", "")
    has_bt(bt, "fj bt N full")
    check(re.search(r"^\s+\w+ = ", bt, re.M) is not None, "fj bt N full passes `full` to bt (locals shown)")
    bt = sec.get("bt-large", "")
    check("fiber #" in bt and "(large, waiting, job 'waiting_large')" in bt, "fj bt JOB-NAME finds the large fiber")
    has_bt(bt, "fj bt waiting_large")
    bt = sec.get("bt-root", "")
    check("running, job 'fj_main root'" in bt and "fj_test_all_waiting" in bt and "root_job" in bt,
          "fj bt of the running root fiber shows its thread's backtrace (root_job, fj_test_all_waiting)")
    bt = sec.get("bt-external", "")
    check("outside every scheduler" in bt, "fj bt of the outside record explains itself")
    check(re.search(r"^It is thread \d+ \(LWP \d+\):$", bt, re.M) is not None
          and re.search(r"\bfj_wait\b", bt) is not None and re.search(r"\boutside_thread\b", bt) is not None,
          "fj bt of the outside record finds its thread and shows its backtrace (fj_wait, outside_thread)")

    check_bt_calling(sec.get("bt-calling", ""), "live")
    check_bt_calling_big(sec.get("bt-calling-big", ""), "live")

    wk = sec.get("workers", "")
    rows = [l for l in wk.splitlines() if re.match(r"^\s+\d+\s+\S+\s+\d+ \(LWP \d+\)\s", l)]
    check(len(rows) == args.workers, "fj workers lists %d workers with their threads" % args.workers)
    check(re.search(r"#\d+ fj_main root", wk) is not None, "fj workers shows the worker running the root job")

    cg = sec.get("counter-gate", "")
    check(re.search(r"\blaunch\s+0x[0-9a-f]+\s+record\s+to launch\s+launch_after_gate \(1 jobs\)\s+0$", cg, re.M)
          is not None, "fj counter &gate lists the launch record (fj_run_jobs_after) on the wait list")
    check(re.search(r"^counter %s: value 1, waiters up to target 0" % gate, cg, re.M) is not None,
          "fj counter &gate shows the value and the waiters' largest target")
    check(len(re.findall(r"waiting\s+waiting_on_gate\s+0$", cg, re.M)) == N_GATE
          and re.search(r"waiting_large\s+0$", cg, re.M) and re.search(r"\(outside thread\)\s+0$", cg, re.M)
          and re.search(r"\bcalled_child\s+0$", cg, re.M) and re.search(r"\bcalled_big\s+0$", cg, re.M),
          "fj counter &gate lists its %d waiters" % (N_GATE + 4))
    check(outside_id is not None and re.search(r"^\s*%s\s+outside\s+-\s+external\s+waiting\s+\(outside thread\)\s+0$"
                                               % outside_id.group(1), cg, re.M) is not None,
          "fj counter &gate names the outside record by the waiter id fj fibers shows")
    check(len(re.findall(r"^\s*\d+\s+#\d+\s+0x[0-9a-f]+\s+(small|large)\s+waiting\s", cg, re.M)) == N_GATE + 3,
          "fj counter &gate shows the fibers' ids, indices and scheduler")
    check(re.search(r"^counter %s: value 3, waiters up to target 1" % pair, sec.get("counter-pair", ""), re.M)
          is not None, "fj counter pair (a struct, not a pointer) works")

    check("exited normally" in sec.get("continue", ""),
          "after the commands, the program runs on to a normal exit")

    if want_core:
        if check(os.path.exists(core), "gcore wrote a core file"):
            out = run_gdb(args, CORE.format(**fmt), args.workdir, "core", [args.program, core])
            sec = sections(out)
            for label, text in sec.items():
                check("@@ERROR" not in text, "core: `%s` ran without error" % label)
            check_fibers(sec.get("fibers", ""), gate, pair, args.workers, "core")
            bt = sec.get("bt-gate", "")
            check("the fiber's frames start at #1" in bt, "core: fj bt falls back to the unwinder")
            has_bt(bt, "core: fj bt N")
            before, after = gp_registers(sec.get("regs-before", "")), gp_registers(sec.get("regs-after", ""))
            check(len(before) >= 8 and before == after, "core: the thread's registers are unchanged after fj bt")
            check(re.search(r"^It is thread \d+ \(LWP \d+\):$", sec.get("bt-external", ""), re.M) is not None
                  and "outside_thread" in sec.get("bt-external", ""),
                  "core: fj bt of the outside record finds its thread")
            check(len(re.findall(r"^\s*\d+\s+(#\d+|outside)\s", sec.get("counter-gate", ""), re.M)) == N_GATE + 4,
                  "core: fj counter &gate lists its %d waiters" % (N_GATE + 4))
            check_bt_calling(sec.get("bt-calling", ""), "core")
            check_bt_calling_big(sec.get("bt-calling-big", ""), "core")
            check(len([l for l in sec.get("workers", "").splitlines() if re.match(r"^\s+\d+\s+\S+\s+\d+ \(LWP", l)])
                  == args.workers, "core: fj workers lists the workers")
            if not failures:
                os.unlink(core)
    else:
        print("(core-file part skipped in a %s build)" % ("sanitizer" if args.sanitize else "cross"))

    print("%s: %d workers, %s" % ("FAILED" if failures else "PASSED", args.workers,
                                  "%d failure(s)" % len(failures) if failures else "all checks"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
