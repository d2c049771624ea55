#!/usr/bin/env python3
"""Run test_trace_write (or the demo) and check what it wrote.

    check_trace.py TEST_TRACE_WRITE WORKERS [--cut]
    check_trace.py --demo FIBERJOB_DEMO WORKERS

The Chrome trace JSON (json module): every event has the fields its phase
needs; X events have ph/ts/dur >= 0/tid/name; there is a thread name per
worker (worker i is tid i + 1); on each worker lane the slices nest or are disjoint, never partially
overlap; every job name of the program appears, escaped and decoded right;
the slices that start at a job's begin are as many as the jobs that ran; a
panicked job is marked. Queueing delay: every slice that starts at a job's begin
has a queue_delay_us arg, and (but for --cut) a flow arrow (ph s -> f, cat
queue) that starts inside the slice that queued it (or at a "queued from
outside" slice on the lane after the workers) and ends at the job's start,
as long as the delay (to 64 ns); otherData.queue_delay counts every job. The SVG (xml.etree): one lane group per worker, job
rectangles with <title> tooltips, an axis and a legend; `xmllint --noout` and
a PNG rendering by `rsvg-convert` when those tools are installed (skipped with
a message otherwise). With --cut the rings were far too small: the files must
still be valid and balanced, but the job count is not checked. With --demo,
one frame of fiberjob-demo is traced (--trace, --svg) and checked the same way.
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAILED: " + msg, file=sys.stderr)


def read_expect(path):
    exp = {"names": []}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            if key == "name":
                exp["names"].append(bytes.fromhex(value).decode("utf-8", "replace"))
            else:
                exp[key] = int(value)
    return exp


def ns(us):
    """A timestamp in µs (three decimals) as integer ns."""
    return int(round(us * 1000))


def check_json(path, exp, cut, empty=False):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("displayTimeUnit") != "ns":
        fail(f"{path}: displayTimeUnit is {doc.get('displayTimeUnit')!r}")
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        fail(f"{path}: no traceEvents list")
        return
    lanes = collections.defaultdict(list)
    thread_names = {}
    heads = 0
    names = set()
    panicked = 0
    flow_s, flow_f, heads_at = {}, {}, {}
    delays = []
    for e in events:
        ph = e.get("ph")
        if ph == "M":
            if e.get("name") == "thread_name":
                thread_names[e.get("tid")] = e["args"]["name"]
            continue
        for field in ("name", "ts", "pid", "tid"):
            if field not in e:
                fail(f"{path}: event without {field}: {e}")
                return
        if not isinstance(e["ts"], (int, float)) or e["ts"] < 0:
            fail(f"{path}: bad ts in {e}")
        # The lane after the workers holds what was queued from outside them.
        last_tid = exp["workers"] + (1 if e.get("cat") == "queue" else 0)
        if not 1 <= e["tid"] <= last_tid:
            fail(f"{path}: tid outside the workers (worker i is tid i + 1) in {e}")
        if ph == "X":
            if not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0:
                fail(f"{path}: X event without dur >= 0: {e}")
                continue
            lanes[e["tid"]].append((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]), e["name"]))
            if e.get("cat") == "job":
                names.add(e["name"])
                part = e.get("args", {}).get("part")
                if part not in ("whole", "begin", "middle", "end"):
                    fail(f"{path}: job slice with part {part!r}: {e}")
                if part in ("whole", "begin"):
                    heads += 1
                    delay = e.get("args", {}).get("queue_delay_us")
                    if not isinstance(delay, (int, float)) or delay < 0:
                        fail(f"{path}: a job's first slice without queue_delay_us >= 0: {e}")
                    else:
                        delays.append(delay)
                        heads_at[(e["tid"], ns(e["ts"]))] = delay
                if e.get("args", {}).get("panicked"):
                    panicked += 1
            elif e.get("cat") == "queue":
                if e["tid"] != exp["workers"] + 1 or e["name"] != "queued from outside" or e["dur"] != 0:
                    fail(f"{path}: a queue slice that is not a zero-length one on the outside lane: {e}")
            elif e.get("cat") != "sleep":
                fail(f"{path}: X event of unknown category: {e}")
        elif ph == "i":
            if e.get("s") != "t" or e.get("cat") not in ("wait", "yield", "steal"):
                fail(f"{path}: unexpected instant event {e}")
        elif ph in ("s", "f") and e.get("cat") == "queue":
            table = flow_s if ph == "s" else flow_f
            if e.get("id") in table:
                fail(f"{path}: two flow events {ph!r} with id {e.get('id')}")
            if ph == "f" and e.get("bp") != "e":
                fail(f"{path}: a flow end not bound to the enclosing slice: {e}")
            table[e.get("id")] = e
        else:
            fail(f"{path}: unexpected phase {ph!r} in {e}")

    for i in range(exp["workers"]):
        if thread_names.get(i + 1) != f"worker {i}":
            fail(f"{path}: thread name of tid {i + 1} is {thread_names.get(i + 1)!r}")

    # On a lane, slices nest or are disjoint: walk them by start (longer
    # first) keeping the stack of slices that contain the current one.
    nslices = 0
    for tid, slices in lanes.items():
        slices.sort(key=lambda s: (s[0], -s[1]))
        stack = []
        for s in slices:
            nslices += 1
            while stack and stack[-1][1] <= s[0]:
                stack.pop()
            if stack and s[1] > stack[-1][1]:
                fail(f"{path}: on worker {tid - 1}, {s} overlaps {stack[-1]} partially")
                break
            stack.append(s)

    check_flows(path, flow_s, flow_f, heads_at, lanes, exp)
    if empty:
        # Idle workers may still record that they sleep; no job ran.
        if heads or names:
            fail(f"{path}: job slices after fj_trace_clear")
        return
    if not nslices:
        fail(f"{path}: no slices")
    if not cut:
        missing = [n for n in exp["names"] if n not in names]
        if missing:
            fail(f"{path}: job names missing: {missing!r}")
        if heads != exp["jobs"]:
            fail(f"{path}: {heads} slices start at a job's begin; {exp['jobs']} jobs ran")
        if panicked != exp["panics"]:
            fail(f"{path}: {panicked} slices are marked as panicked, not {exp['panics']}")
        if len(flow_f) != heads:
            fail(f"{path}: {len(flow_f)} queueing arrows for {heads} jobs")
        qd = doc.get("otherData", {}).get("queue_delay", {})
        if qd.get("jobs") != heads:
            fail(f"{path}: otherData.queue_delay counts {qd.get('jobs')} jobs, not {heads}")
        if delays and qd.get("max_us") != max(delays):
            fail(f"{path}: otherData.queue_delay.max_us {qd.get('max_us')} is not the largest arg {max(delays)}")
    print(f"{os.path.basename(path)}: {len(events)} events, {nslices} slices on {len(lanes)} lanes, "
          f"{heads} jobs begun, {len(names)} names, {len(flow_f)} queueing arrows, "
          f"queue delay max {max(delays) if delays else 0} us")


def check_flows(path, flow_s, flow_f, heads_at, lanes, exp):
    """Each arrow: a start and an end of one id; the end at a job's first
    slice, the start inside a slice of its lane (a job on a worker lane, a
    "queued from outside" slice on the outside lane), as long before the end
    as the job's queue_delay_us says (which is rounded up to 64 ns)."""
    if set(flow_s) != set(flow_f):
        fail(f"{path}: flow ids without both ends: {sorted(set(flow_s) ^ set(flow_f))[:10]}")
        return
    for fid, end in flow_f.items():
        start = flow_s[fid]
        t0, t1 = ns(start["ts"]), ns(end["ts"])
        delay = heads_at.get((end["tid"], t1))
        if delay is None:
            fail(f"{path}: a flow end at no job's first slice: {end}")
            continue
        if not 0 <= ns(delay) - (t1 - t0) <= 66:
            fail(f"{path}: the arrow {start} -> {end} spans {t1 - t0} ns, the job's delay is {delay} us")
        if start["tid"] <= exp["workers"]:
            inside = [s for s in lanes.get(start["tid"], []) if s[0] <= t0 <= s[1]]
            if not inside:
                fail(f"{path}: the arrow {start} starts in no slice of its lane")
        elif (t0, t0, "queued from outside") not in lanes.get(start["tid"], []):
            fail(f"{path}: the arrow {start} starts at no 'queued from outside' slice")


def check_svg(path, exp, empty=False):
    root = ET.parse(path).getroot()
    if root.tag != SVG_NS + "svg":
        fail(f"{path}: the root element is {root.tag}")
        return
    for attr in ("width", "height", "viewBox"):
        if attr not in root.attrib:
            fail(f"{path}: <svg> without {attr}")
    lanes = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "lane"]
    if len(lanes) != exp["workers"]:
        fail(f"{path}: {len(lanes)} lane groups for {exp['workers']} workers")
    ids = [g.get("id") for g in lanes]
    if ids != [f"worker-{i}" for i in range(exp["workers"])]:
        fail(f"{path}: lane ids {ids}")
    rects = sum(1 for g in lanes for r in g.iter(SVG_NS + "rect") if r.find(SVG_NS + "title") is not None)
    if not empty and rects == 0:
        fail(f"{path}: no rectangles with a <title> in the lanes")
    if root.find(f".//{SVG_NS}g[@id='axis']") is None:
        fail(f"{path}: no axis")
    if root.find(f".//{SVG_NS}g[@id='legend']") is None:
        fail(f"{path}: no legend")
    print(f"{os.path.basename(path)}: {len(lanes)} lanes, {rects} shapes with tooltips, "
          f"{os.path.getsize(path)} bytes")

    if shutil.which("xmllint"):
        r = subprocess.run(["xmllint", "--noout", path], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"xmllint --noout {path}: {r.stderr.strip()}")
    else:
        print("xmllint not installed: skipped")
    if shutil.which("rsvg-convert"):
        png = path + ".png"
        r = subprocess.run(["rsvg-convert", "-o", png, path], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"rsvg-convert {path}: {r.stderr.strip()}")
        else:
            with open(png, "rb") as f:
                head = f.read(24)
            if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
                fail(f"{png}: not a PNG")
            else:
                width = int.from_bytes(head[16:20], "big")
                height = int.from_bytes(head[20:24], "big")
                if width < 100 or height < 50:
                    fail(f"{png}: {width}x{height}")
                print(f"rsvg-convert: {os.path.basename(png)} {width}x{height}, {os.path.getsize(png)} bytes")
    else:
        print("rsvg-convert not installed (Debian: librsvg2-bin): PNG rendering skipped")


# One frame of the demo: 4,000 + 64 x (1 + 40) + 2,000 + 1,400 jobs, and the root.
DEMO_JOBS = 4000 + 64 * 41 + 2000 + 1400 + 1
DEMO_NAMES = ["animate", "physics_island", "solve_constraint", "cull", "render_batch", "fj_main root"]


def run(args):
    r = subprocess.run(args, timeout=120)
    if r.returncode != 0:
        print(f"FAILED: {' '.join(args)} exited with {r.returncode}", file=sys.stderr)
    return r.returncode == 0


def main():
    args = sys.argv[1:]
    demo = bool(args) and args[0] == "--demo"
    if demo:
        args = args[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    exe, workers = args[0], args[1]
    cut = "--cut" in args[2:]
    with tempfile.TemporaryDirectory(prefix="fj_trace_check_") as tmp:
        prefix = os.path.join(tmp, "trace")
        if demo:
            if not run([exe, "--frames", "1", "--trace-frames", "1", "--workers", workers, "--quiet",
                        "--trace", prefix + ".json", "--svg", prefix + ".svg"]):
                return 1
            exp = {"workers": int(workers), "jobs": DEMO_JOBS, "names": DEMO_NAMES, "panics": 0}
        else:
            if not run([exe, workers, prefix] + (["--cut"] if cut else [])):
                return 1
            exp = read_expect(prefix + ".expect")
            exp["panics"] = 1
        check_json(prefix + ".json", exp, cut)
        check_svg(prefix + ".svg", exp)
        if not demo:
            check_json(prefix + ".empty.json", exp, cut, empty=True)
            check_svg(prefix + ".empty.svg", exp, empty=True)
        if os.environ.get("FJ_TRACE_KEEP"):
            for name in os.listdir(tmp):
                shutil.copy(os.path.join(tmp, name), os.environ["FJ_TRACE_KEEP"])
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
