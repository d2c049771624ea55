# gdb extension for fiberjob: list fibers, show a suspended fiber's backtrace.
#
# Load it with
#     (gdb) source /path/to/fiberjob/tools/gdb/fiberjob.py
# Commands (see `help fj` and docs/gdb.md):
#     fj fibers [all]          every fiber in use, and the outside threads blocked
#                              in fj_wait (alias: info fibers)
#     fj bt [OPTIONS] WHICH [BT-ARGS...]
#                              backtrace of a fiber: WHICH is an index, a job name
#                              or `all`
#     fj workers               every worker: CPU, thread, current fiber, queues, stats
#     fj counter EXPR          a counter's value and the fibers on its wait list
# Settings: set fiberjob save-fpu auto|on|off, set fiberjob bt-method
#     auto|registers|unwinder.
#
# The extension reads the library's own structures (src/internal.h), so the
# library must have debug info (-g: the RelWithDebInfo and Debug builds have it).
# It knows the layout of a suspended context from src/arch/ctx.h: keep the two in
# step.

import re
import struct

import gdb

try:
    import gdb.unwinder as _gdb_unwinder
except ImportError:  # very old gdb: core files then have no `fj bt`
    _gdb_unwinder = None

# fj__fiber_state and the fiber kinds (src/internal.h). Read from the debug info
# when the enum is there; these are the fallback.
# "external" is the state of an outside thread's record while it does not wait
# (shown as "idle"); "calling" a job in fj_wait that runs one of its children on
# another fiber (its own registers are saved, as a parked waiter's are).
_STATE_NAMES = {0: "free", 1: "running", 2: "waiting", 3: "ready", 4: "yielded", 5: "external", 6: "calling"}
_STATE_ENUM = {"FJ_FIBER_FREE": "free", "FJ_FIBER_RUNNING": "running", "FJ_FIBER_WAITING": "waiting",
               "FJ_FIBER_READY": "ready", "FJ_FIBER_YIELDED": "yielded", "FJ_FIBER_EXTERNAL": "external",
               "FJ_FIBER_CALLING": "calling"}
_KIND_NAMES = {0: "small", 1: "large", 2: "external"}
_SUSPENDED = ("waiting", "ready", "yielded", "calling")
_NO_INDEX = 0xffffffff      # fj__fiber.index of an outside record

# Suspended frame layouts (src/arch/ctx.h).
_X86_SAVED = ("r15", "r14", "r13", "r12", "rbx", "rbp")      # then the resume address
_X86_WORDS = 7
_A64_BYTES = 160                                              # x19..x28, x29, x30, d8..d15
_A64_FPU_EXTRA = 16
# ucontext_t register slots (glibc <sys/ucontext.h>, x86-64 gregs[]).
_X86_UC_GREGS = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11, "rsp": 15, "rip": 16}


class FjError(gdb.GdbError):
    pass


def _err(msg):
    raise FjError("fiberjob: " + msg)


# ---------------------------------------------------------------- parameters

class _FjSetPrefix(gdb.Command):
    """Settings of the fiberjob gdb extension: save-fpu, bt-method."""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)
        self.name = name

    def invoke(self, arg, from_tty):
        if self.name.startswith("show"):
            for p in ("save-fpu", "bt-method"):
                gdb.execute("show fiberjob " + p)
        else:
            gdb.execute("help set fiberjob")


_FjSetPrefix("set fiberjob")
_FjSetPrefix("show fiberjob")


class _SaveFpuParam(gdb.Parameter):
    """Whether libfiberjob saves the FP control word in every switch (FIBERJOB_SAVE_FPU).
auto (default) looks for the instruction in fj__ctx_switch; on or off overrides it."""

    set_doc = "Set whether fiber contexts carry the FP control word (FIBERJOB_SAVE_FPU)."
    show_doc = "Show whether fiber contexts carry the FP control word (FIBERJOB_SAVE_FPU)."

    def __init__(self):
        super().__init__("fiberjob save-fpu", gdb.COMMAND_DATA, gdb.PARAM_ENUM, ["auto", "on", "off"])
        self.value = "auto"

    def get_show_string(self, svalue):
        return "fiberjob save-fpu is %s." % svalue


class _BtMethodParam(gdb.Parameter):
    """How `fj bt` shows a suspended fiber.
registers: load the fiber's saved registers into the selected thread, run `bt`,
  put the thread's registers back (a live process only).
unwinder: a Python unwinder makes the fiber the caller of the selected thread's
  frame #0 (works on core files; the fiber's frames start at #1).
auto (default): registers, or the unwinder when registers cannot be written."""

    set_doc = "Set how `fj bt` reaches a suspended fiber's frames."
    show_doc = "Show how `fj bt` reaches a suspended fiber's frames."

    def __init__(self):
        super().__init__("fiberjob bt-method", gdb.COMMAND_DATA, gdb.PARAM_ENUM,
                         ["auto", "registers", "unwinder"])
        self.value = "auto"

    def get_show_string(self, svalue):
        return "fiberjob bt-method is %s." % svalue


_save_fpu_param = _SaveFpuParam()
_bt_method_param = _BtMethodParam()


# ---------------------------------------------------------------- types and symbols

def _lookup_type(*names):
    """The first complete type of these names (an opaque declaration does not count)."""
    for n in names:
        try:
            t = gdb.lookup_type(n)
        except gdb.error:
            continue
        try:
            st = t.strip_typedefs()
            if st.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION) and not st.fields():
                continue
        except (gdb.error, TypeError):
            continue
        return t
    return None


def _has_minsym(name):
    try:
        gdb.parse_and_eval("(long)&%s" % name)
        return True
    except gdb.error:
        return False


class _Types(object):
    """The library's types, from its debug info."""

    def __init__(self):
        self.sched = _lookup_type("struct fj_scheduler")
        self.fiber = _lookup_type("fj__fiber", "struct fj__fiber")
        self.worker = _lookup_type("fj__worker", "struct fj__worker")
        if self.sched is None or self.fiber is None or self.worker is None:
            if _has_minsym("fj_create") or _has_minsym("fj_wait"):
                _err("libfiberjob has no debug info (struct fj_scheduler is unknown to gdb). "
                     "Build it with -g (CMAKE_BUILD_TYPE=RelWithDebInfo or Debug) and do not strip it; "
                     "with a separate debug file, point `set debug-file-directory` at it.")
            _err("this program does not contain fiberjob (no symbol fj_create); if it loads "
                 "libfiberjob.so, start it first")
        self.fiber = self.fiber.strip_typedefs()
        self.worker = self.worker.strip_typedefs()
        self.ptr_size = gdb.lookup_type("void").pointer().sizeof
        if self.ptr_size != 8:
            _err("only 64-bit targets (x86-64, AArch64) are supported")
        ctx = self.fiber["ctx"].type.strip_typedefs()
        self.ucontext = any(f.name == "uc" for f in ctx.fields())
        # Where state sits in a record: free fibers are skipped before
        # a gdb.Value is made for them.
        fields = dict((f.name, f) for f in self.fiber.fields())
        self.state_off = fields["state"].bitpos // 8
        self.state_size = fields["state"].type.sizeof
        self.state_names = dict(_STATE_NAMES)
        for tname in ("fj__fiber_state", "enum fj__fiber_state"):
            t = _lookup_type(tname)
            if t is not None:
                try:
                    for f in t.strip_typedefs().fields():
                        if f.name in _STATE_ENUM:
                            self.state_names[int(f.enumval)] = _STATE_ENUM[f.name]
                except (gdb.error, TypeError, AttributeError):
                    pass
                break


def _types():
    return _Types()


def _static_symbols(name):
    """Every file-level static variable called name, in every objfile (no file name needed)."""
    syms = []
    if hasattr(gdb, "lookup_static_symbols"):
        try:
            syms = [s for s in gdb.lookup_static_symbols(name, gdb.SYMBOL_VAR_DOMAIN) if s is not None]
        except (gdb.error, TypeError):
            syms = []
    if not syms and hasattr(gdb, "lookup_static_symbol"):
        try:
            s = gdb.lookup_static_symbol(name, gdb.SYMBOL_VAR_DOMAIN)
        except (gdb.error, TypeError):
            s = None
        if s is not None:
            syms = [s]
    return syms


def _points_to(sym_type, pred):
    """Whether sym_type is a pointer whose target type satisfies pred."""
    try:
        t = sym_type.strip_typedefs()
        return t.code == gdb.TYPE_CODE_PTR and pred(t.target().strip_typedefs())
    except (gdb.error, TypeError, AttributeError):
        return False


def _is_sched_type(t):
    return t.tag == "fj_scheduler"


def _statics(name, pred, what):
    """The values of the statics called name whose type is a pointer to a type
    satisfying pred (one per copy of the library); without lookup_static_symbol
    (gdb < 9), the one `name` finds from the selected scope."""
    values = []
    syms = _static_symbols(name)
    for sym in syms:
        if not _points_to(sym.type, pred):
            continue
        try:
            frame = gdb.newest_frame() if sym.needs_frame else None
            values.append(sym.value(frame) if frame is not None else sym.value())
        except gdb.error as e:
            _err("cannot read %s: %s" % (what, e))
    if not values and not hasattr(gdb, "lookup_static_symbol"):
        try:
            v = gdb.parse_and_eval(name)
            if _points_to(v.type, pred):
                values.append(v)
        except gdb.error:
            pass
    return values


def _registry_heads(types):
    """The heads of the registries of live schedulers (one per copy of the library)."""
    heads = _statics("registry", _is_sched_type, "the scheduler registry")
    if not heads:
        _err("cannot find the registry of schedulers (static `registry` of libfiberjob); "
             "is the library built with debug info?")
    return heads


def _schedulers(types):
    """Every live scheduler, newest first."""
    out = []
    seen = set()
    for head in _registry_heads(types):
        s = head
        while True:
            try:
                addr = int(s)
            except gdb.MemoryError as e:
                _err("cannot read the scheduler registry: %s" % e)
            if addr == 0 or addr in seen or len(seen) > 4096:
                break
            seen.add(addr)
            out.append(s)
            try:
                s = s["older"]
            except gdb.MemoryError as e:
                _err("scheduler 0x%x is unreadable: %s" % (addr, e))
    return out


def _no_schedulers_message():
    if gdb.selected_inferior().pid == 0:
        return "no live scheduler (the program is not running)"
    return "no live scheduler (none created yet, or all destroyed)"


# ---------------------------------------------------------------- reading fibers

def _cstr(v, limit=200):
    """The C string at pointer v (None for NULL), at most limit bytes."""
    try:
        p = int(v)
    except gdb.error:
        return "<unreadable>"
    if p == 0:
        return None
    inf = gdb.selected_inferior()
    data = b""
    while len(data) < limit:
        # Read up to the end of the page, so a short string near the end of a
        # mapping is still read.
        n = min(limit - len(data), 4096 - ((p + len(data)) % 4096))
        try:
            part = bytes(inf.read_memory(p + len(data), n))
        except gdb.MemoryError:
            if not data:
                return "<bad pointer 0x%x>" % p
            break
        nul = part.find(b"\0")
        if nul >= 0:
            data += part[:nul]
            break
        data += part
    return data.decode("utf-8", "replace")


class Fiber(object):
    """What the commands need of one fj__fiber record."""

    def __init__(self, types, sched, value, addr):
        self.sched = sched      # None for an outside record
        self.value = value
        self.addr = addr
        self.index = int(value["index"])
        self.id = int(value["id"])                  # waiter id (fj__waiter_table)
        self.outside = sched is None or self.index == _NO_INDEX
        self.call_parent = int(value["call_parent"])
        self.call_child = None  # the fiber running this calling fiber's child job
        self.kind = _KIND_NAMES.get(int(value["kind"]), "kind%d" % int(value["kind"]))
        st = int(value["state"])
        self.state = types.state_names.get(st, "state%d" % st)
        self.stack_lo = int(value["stack_lo"])
        self.stack_size = int(value["stack_size"])
        self.job_name_ptr = value["job_name"]
        self.wait_counter = int(value["wait_counter"])
        self.wait_target = int(value["wait_target"])
        self.sp = int(value["ctx"]["sp"])
        # Stack segments (src/segment.c): the jobs waiting in fj_wait on the lower
        # segments of this fiber's stack, under the job named above, lowest
        # first, as (job name pointer, counter, target).
        self.callers = []
        self.span_lo = self.stack_lo
        if not self.outside and self.kind == "small":
            try:
                nseg = int(sched["nseg"])
                seg = int(value["seg"])
                if nseg > 1:
                    self.span_lo = self.stack_lo - (nseg - 1) * int(sched["seg_stride"])
                for k in range(1, min(seg, nseg - 1) + 1):
                    c = value["seg_caller"][k]
                    self.callers.append((c["job"], int(c["counter"]), int(c["target"])))
            except gdb.error:
                pass            # a library without stack segments
        self.worker = None      # index of the worker whose current fiber this is
        self.thread = None      # gdb thread running on its stack
        self._name = False

    @property
    def label(self):
        """How `fj fibers` names it: #index, or the waiter id of an outside record."""
        return "id %d" % self.id if self.outside else "#%d" % self.index

    @property
    def job_name(self):
        if self._name is False:
            self._name = _cstr(self.job_name_ptr)
        return self._name

    def in_stack(self, addr):
        return self.stack_size > 0 and self.span_lo <= addr < self.stack_lo + self.stack_size

    def caller_names(self):
        """Names of the jobs waiting under this fiber's job, on its lower stack segments."""
        return [_cstr(c[0]) for c in self.callers]


def _read_fibers(types, s, include_free=False):
    n = int(s["nfibers"])
    base = s["fibers"]
    base_addr = int(base)
    if base_addr == 0 or n == 0:
        return []
    size = types.fiber.sizeof
    inf = gdb.selected_inferior()
    out = []
    chunk = 256
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        try:
            raw = bytes(inf.read_memory(base_addr + start * size, count * size))
        except gdb.MemoryError as e:
            _err("cannot read the fiber table at 0x%x: %s" % (base_addr, e))
        for i in range(count):
            rec = raw[i * size:(i + 1) * size]
            if not include_free:
                state = int.from_bytes(rec[types.state_off:types.state_off + types.state_size], "little",
                                       signed=True)
                if types.state_names.get(state) == "free":
                    continue   # in the pool
            v = gdb.Value(rec, types.fiber)
            out.append(Fiber(types, s, v, base_addr + (start + i) * size))
    return out


def _is_outside_group(t):
    names = [f.name for f in t.fields()] if t.code == gdb.TYPE_CODE_STRUCT else []
    return "next" in names and "recs" in names


def _read_outside(types, include_idle=False):
    """(records, total) of threads outside every scheduler: the process-wide
    groups of records (static `outside_groups` of libfiberjob, never freed).
    Only the waiting ones unless include_idle."""
    out = []
    total = 0
    size = types.fiber.sizeof
    inf = gdb.selected_inferior()
    seen = set()
    for head in _statics("outside_groups", _is_outside_group, "the outside threads' records"):
        gtype = head.type.strip_typedefs().target().strip_typedefs()
        fields = dict((f.name, f) for f in gtype.fields())
        next_off = fields["next"].bitpos // 8
        recs_off = fields["recs"].bitpos // 8
        lo, hi = fields["recs"].type.strip_typedefs().range()
        nrecs = hi - lo + 1
        g = int(head)
        while g and g not in seen and len(seen) < 65536:
            seen.add(g)
            try:
                raw = bytes(inf.read_memory(g, gtype.sizeof))
            except gdb.MemoryError as e:
                _err("cannot read a group of outside records at 0x%x: %s" % (g, e))
            for i in range(nrecs):
                rec = raw[recs_off + i * size:recs_off + (i + 1) * size]
                total += 1
                if not include_idle:
                    state = int.from_bytes(rec[types.state_off:types.state_off + types.state_size], "little",
                                           signed=True)
                    if types.state_names.get(state) != "waiting":
                        continue   # free for the next outside wait
                out.append(Fiber(types, None, gdb.Value(rec, types.fiber), g + recs_off + i * size))
            g = struct.unpack("<Q", raw[next_off:next_off + 8])[0]
    out.sort(key=lambda f: f.id)
    return out, total


def _counter_word(addr):
    """(value, max_target, head) of the counter at addr, or None when unreadable."""
    try:
        raw = bytes(gdb.selected_inferior().read_memory(addr, 8))
    except gdb.MemoryError:
        return None
    w = struct.unpack("<Q", raw)[0]
    value = (w >> 32) & 0xffffffff
    if value >= 1 << 31:
        value -= 1 << 32
    return value, (w >> 16) & 0xffff, w & 0xffff


def _worker_values(types, s):
    n = int(s["nworkers"])
    ws = s["workers"]
    if int(ws) == 0:
        return []
    return [ws[i] for i in range(n)]


# ---------------------------------------------------------------- threads

def _is_worker_type(t):
    return t.tag == "fj__worker"


def _tls_worker_symbols():
    """The thread-local `tls_worker` statics of libfiberjob (one per copy)."""
    return [s for s in _static_symbols("tls_worker") if _points_to(s.type, _is_worker_type)]


def _tls_worker(syms):
    """The selected thread's worker (address), or None."""
    for sym in syms:
        try:
            v = int(sym.value(gdb.newest_frame()) if sym.needs_frame else sym.value())
        except (gdb.error, RuntimeError, ValueError):
            continue   # no thread-local storage access (no libthread_db)
        if v:
            return v
    if not syms and not hasattr(gdb, "lookup_static_symbol"):
        try:
            return int(gdb.parse_and_eval("tls_worker")) or None
        except (gdb.error, RuntimeError, ValueError):
            pass
    return None


def _scan_threads():
    """[(gdb thread, sp, tls_worker address or None)] for every stopped thread."""
    inf = gdb.selected_inferior()
    if inf.pid == 0:
        return []
    try:
        orig_thread = gdb.selected_thread()
    except gdb.error:
        orig_thread = None
    if orig_thread is None:
        return []
    try:
        orig_frame = gdb.selected_frame()
    except gdb.error:
        orig_frame = None
    out = []
    tls_syms = _tls_worker_symbols()
    try:
        for t in inf.threads():
            if not t.is_valid() or t.is_running() or t.is_exited():
                continue
            t.switch()
            try:
                sp = int(gdb.newest_frame().read_register("sp"))
            except gdb.error:
                continue
            # None without thread-local storage access (no libthread_db): then
            # workers are matched by stack.
            out.append((t, sp, _tls_worker(tls_syms)))
    finally:
        orig_thread.switch()
        if orig_frame is not None:
            try:
                orig_frame.select()
            except gdb.error:
                pass
    return out


def _thread_label(t):
    if t is None:
        return "-"
    return "%d (LWP %d)" % (t.num, t.ptid[1])


class _View(object):
    """Schedulers, their fibers and workers, and which thread runs what."""

    def __init__(self, include_free=False, scan=True):
        self.types = _types()
        self.scheds = _schedulers(self.types)
        self.threads = _scan_threads() if scan and self.scheds else []
        self.fibers = {}
        self.workers = {}
        self.worker_thread = {}
        for s in self.scheds:
            sa = int(s)
            fibers = _read_fibers(self.types, s, include_free)
            workers = _worker_values(self.types, s)
            by_addr = dict((f.addr, f) for f in fibers)
            wthreads = []
            for i, w in enumerate(workers):
                th = None
                waddr = int(w.address)
                for (t, sp, tw) in self.threads:
                    if tw is not None and tw == waddr:
                        th = t
                cur = int(w["current"])
                if th is None and cur in by_addr:
                    for (t, sp, tw) in self.threads:
                        if by_addr[cur].in_stack(sp):
                            th = t
                if th is None and i > 0:
                    pt = int(w["thread"])
                    for (t, sp, tw) in self.threads:
                        try:
                            h = t.handle()
                        except (gdb.error, AttributeError, RuntimeError, ValueError):
                            h = None   # e.g. a remote target without libthread_db
                        if h is not None and int.from_bytes(h, "little") == pt:
                            th = t
                wthreads.append(th)
                if cur in by_addr:
                    by_addr[cur].worker = i
            for f in fibers:
                for (t, sp, tw) in self.threads:
                    if f.in_stack(sp):
                        f.thread = t
                if f.worker is not None and f.thread is None:
                    f.thread = wthreads[f.worker]
            self.fibers[sa] = fibers
            self.workers[sa] = workers
            self.worker_thread[sa] = wthreads
        # A calling fiber's child: the fiber whose call_parent it is (any scheduler's).
        by_addr = dict((f.addr, f) for fs in self.fibers.values() for f in fs)
        for fs in self.fibers.values():
            for f in fs:
                if f.call_parent and f.state != "free" and f.call_parent in by_addr:
                    by_addr[f.call_parent].call_child = f
        # Records of threads outside every scheduler blocked in fj_wait.
        self.outside, self.outside_total = _read_outside(self.types, include_free)


# ---------------------------------------------------------------- fj fibers

def _wait_text(f):
    text = ""
    if f.state in ("waiting", "calling") and f.wait_counter:
        cw = _counter_word(f.wait_counter)
        if cw is None:
            text = "counter 0x%x (unreadable) target %d" % (f.wait_counter, f.wait_target)
        else:
            value = cw[0]
            text = "counter 0x%x value %d target %d" % (f.wait_counter, value, f.wait_target)
            if f.state == "waiting" and (value <= f.wait_target or (f.outside and int(f.value["wake"]))):
                text += " (reached: being woken)"
    if f.state == "calling":
        child = ("runs a child on %s" % f.call_child.label) if f.call_child is not None \
            else "runs a child on another fiber"
        text = (text + "; " + child) if text else child
    return text


def _fiber_rows(view, s):
    rows = []
    for f in view.fibers[int(s)]:
        state = f.state
        note = ""
        if state in _SUSPENDED and f.thread is not None:
            note = " (switching: a thread is on its stack)"
        where = "-"
        if f.worker is not None:
            where = "w%d" % f.worker
        name = f.job_name
        if name is None:
            name = "(idle loop)" if state == "running" else "-"
        detail = _wait_text(f)
        if state == "running" and f.thread is not None:
            detail = "thread %s" % _thread_label(f.thread)
        rows.append((f.label, f.kind, state + note, where, name, detail))
        # Jobs waiting under it on lower stack segments of the same fiber: a
        # row each, nearest first, in the state "nested".
        above = name
        for k in range(len(f.callers), 0, -1):
            job, counter, target = f.callers[k - 1]
            cname = _cstr(job) or "-"
            text = "in fj_wait under '%s' (stack segment %d)" % (above, k - 1)
            if counter:
                cw = _counter_word(counter)
                text = ("counter 0x%x value %s target %d; " % (counter, "?" if cw is None else cw[0], target)) + text
            rows.append((f.label, f.kind, "nested", where, cname, text))
            above = cname
    return rows


def _outside_rows(view):
    rows = []
    for f in view.outside:
        state = "idle" if f.state == "external" else f.state
        rows.append((f.label, f.kind, state, "-", f.job_name or "-", _wait_text(f)))
    return rows


def _print_table(header, rows, indent="  "):
    widths = [len(h) for h in header]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    fmt = indent + "  ".join("%%-%ds" % w for w in widths[:-1]) + "  %s"
    gdb.write((fmt % tuple(header)).rstrip() + "\n")
    for r in rows:
        gdb.write((fmt % tuple(r)).rstrip() + "\n")


def _sched_summary(view, s):
    sa = int(s)
    nsmall, nlarge = int(s["nsmall"]), int(s["nlarge"])
    fibers = view.fibers[sa]
    used = {"small": 0, "large": 0}
    states = {}
    for f in fibers:
        if f.state == "free":
            continue
        used[f.kind] = used.get(f.kind, 0) + 1
        states[f.state] = states.get(f.state, 0) + 1
    total = used["small"] + used["large"]
    flags = []
    if int(s["main_running"]):
        flags.append("in fj_main" if not int(s["shutdown"]) else "in fj_destroy")
    if int(s["deadlock_reported"]):
        flags.append("deadlock reported")
    if int(s["destroying"]):
        flags.append("being destroyed")
    state_text = ", ".join("%d %s" % (states[k], k) for k in ("running", "waiting", "calling", "ready", "yielded")
                           if states.get(k))
    nw = int(s["nworkers"])
    return ("scheduler 0x%x: %d worker%s, %d fibers in use (small %d/%d, large %d/%d)%s%s"
            % (sa, nw, "" if nw == 1 else "s", total, used["small"], nsmall, used["large"], nlarge,
               (": " + state_text) if state_text else "",
               (" [" + ", ".join(flags) + "]") if flags else ""))


def fibers_command(arg):
    include_free = arg.strip() == "all"
    if arg.strip() not in ("", "all"):
        _err("usage: fj fibers [all]")
    view = _View(include_free=include_free)
    if not view.scheds:
        gdb.write("fiberjob: %s\n" % _no_schedulers_message())
        return
    for s in view.scheds:
        gdb.write(_sched_summary(view, s) + "\n")
        _print_table(("fiber", "kind", "state", "worker", "job", "waits on / runs on"), _fiber_rows(view, s))
    # Process-wide, not any scheduler's: threads outside every scheduler
    # blocked in fj_wait, named by their waiter id.
    nwait = sum(1 for f in view.outside if f.state == "waiting")
    gdb.write("outside threads: %d waiting in fj_wait (%d record%s)\n"
              % (nwait, view.outside_total, "" if view.outside_total == 1 else "s"))
    if view.outside:
        _print_table(("record", "kind", "state", "worker", "job", "waits on"), _outside_rows(view))


# ---------------------------------------------------------------- fj workers

def _deque_size(d):
    try:
        return max(0, int(d["bottom"]) - int(d["top"]))   # racy: the owner may be mid-take
    except gdb.error:
        return 0


def workers_command(arg):
    if arg.strip():
        _err("usage: fj workers")
    view = _View()
    if not view.scheds:
        gdb.write("fiberjob: %s\n" % _no_schedulers_message())
        return
    for s in view.scheds:
        sa = int(s)
        nw = int(s["nworkers"])
        gdb.write("scheduler 0x%x: %d worker%s, %d active, %d sleeping, %d spinning\n"
                  % (sa, nw, "" if nw == 1 else "s", int(s["active"]), int(s["sleepers"]), int(s["spinning"])))
        by_addr = dict((f.addr, f) for f in view.fibers[sa])
        rows = []
        for i, w in enumerate(view.workers[sa]):
            cur = int(w["current"])
            if cur == 0:
                fib = "-"
            elif cur in by_addr:
                f = by_addr[cur]
                fib = "#%d %s" % (f.index, f.job_name if f.job_name is not None else "(idle loop)")
            else:
                fib = "0x%x" % cur
            q = w["q"]
            # A woken fiber in the mailbox (wake.c) counts as ready too.
            mail = 1 if int(w["mailbox"]) else 0
            queued = "%d/%d/%d/%d" % (_deque_size(w["ready"]) + mail, _deque_size(q[0]), _deque_size(q[1]),
                                      _deque_size(q[2]))
            # Jobs of a batch taken by this worker and not started yet.
            held = int(w["chunk_hi"]) - int(w["chunk_lo"]) if int(w["chunk"]) else 0
            st = w["stats"]
            cpu = int(w["cpu"])
            rows.append(("%d" % i, "-" if cpu < 0 else "%d" % cpu, _thread_label(view.worker_thread[sa][i]),
                         fib, queued, "%d" % held, "%d" % int(st["jobs"]), "%d" % int(st["steals"]),
                         "%d" % int(st["steal_failures"]), "%d" % int(st["switches"]),
                         "%d" % int(st["sleeps"]), "%d" % int(st["wakes"])))
        # Queue sizes count entries: a batch entry (fj_run_jobs of many jobs)
        # stands for up to 256 jobs; "held" is a worker's private chunk.
        _print_table(("worker", "cpu", "thread", "fiber", "ready/hi/norm/lo", "held", "jobs", "steals",
                      "steal-fail", "switches", "sleeps", "wakes"), rows)


# ---------------------------------------------------------------- fj counter

def counter_command(arg):
    if not arg.strip():
        _err("usage: fj counter EXPRESSION (a fj_counter or a pointer to one)")
    types = _types()
    v = gdb.parse_and_eval(arg)
    t = v.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        addr = int(v)
    elif t.code == gdb.TYPE_CODE_INT:
        addr = int(v)
    else:
        addr = int(v.address)
    cw = _counter_word(addr)
    if cw is None:
        _err("cannot read a counter at 0x%x" % addr)
    value, maxt, head = cw
    try:
        raw = bytes(gdb.selected_inferior().read_memory(addr + 8, 4))
        panics = struct.unpack("<I", raw)[0]
    except gdb.MemoryError:
        panics = 0
    gdb.write("counter 0x%x: value %d, %s, panics %d\n"
              % (addr, value, ("waiters up to target %d" % maxt) if head else "no waiters", panics))
    if not head:
        return
    table = _waiter_table()
    inf = gdb.selected_inferior()
    rows = []
    seen = set()
    wid = head
    while wid and wid not in seen:
        seen.add(wid)
        try:
            p = struct.unpack("<Q", bytes(inf.read_memory(table + 8 * wid, 8)))[0]
        except gdb.MemoryError as e:
            _err("cannot read fj__waiter_table[%d]: %s" % (wid, e))
        if p == 0:
            rec = _launch_record(inf, wid)
            if rec is None:
                rows.append(("%d" % wid, "?", "-", "-", "-", "(no record: id not in use)", "-"))
                break
            # A launch record (fj_run_jobs_after): jobs that start when the
            # counter is reached, with no fiber waiting.
            try:
                name = rec["job_name"].string() if int(rec["job_name"]) else "-"
            except (gdb.error, gdb.MemoryError):
                name = "?"
            if int(rec["state"]) == 2:
                # A timed wait's proxy (fj_wait_until): its waiter is the job
                # (or thread) named; a claimed one is dead, left to be dropped.
                claim = int(rec["claim"])
                rows.append(("%d" % wid, "proxy", "0x%x" % int(rec["s"]), "timed",
                             ("waiting", "reached", "timed out")[claim] if claim < 3 else "?",
                             name, "%d" % int(rec["wait_target"])))
            else:
                rows.append(("%d" % wid, "launch", "0x%x" % int(rec["s"]), "record", "to launch",
                             "%s (%d jobs)" % (name, int(rec["ntasks"])), "%d" % int(rec["wait_target"])))
            wid = int(rec["wait_next"])
            continue
        try:
            v = gdb.Value(bytes(inf.read_memory(p, types.fiber.sizeof)), types.fiber)
        except gdb.MemoryError as e:
            _err("cannot read waiter %d's record at 0x%x: %s" % (wid, p, e))
        sched = int(v["s"])
        f = Fiber(types, v["s"] if sched else None, v, p)
        state = "idle" if f.state == "external" else f.state
        rows.append(("%d" % wid, "outside" if f.outside else "#%d" % f.index,
                     "-" if f.outside else "0x%x" % sched, f.kind, state,
                     f.job_name if f.job_name else "-", "%d" % f.wait_target))
        wid = int(v["wait_next"])
    if wid and wid in seen:
        gdb.write("  (the wait list loops back to id %d)\n" % wid)
    _print_table(("id", "fiber", "scheduler", "kind", "state", "job", "target"), rows)


def _launch_record(inf, wid):
    """fj__record_table[wid] read as an fj__record (a launch record), or None."""
    try:
        table = int(gdb.parse_and_eval("(unsigned long)&fj__record_table"))
        rtype = gdb.lookup_type("fj__record")
        p = struct.unpack("<Q", bytes(inf.read_memory(table + 8 * wid, 8)))[0]
        if p == 0:
            return None
        return gdb.Value(bytes(inf.read_memory(p, rtype.sizeof)), rtype)
    except (gdb.error, gdb.MemoryError):
        return None


def _waiter_table():
    """The address of fj__waiter_table (waiter id -> fj__fiber *), a global of libfiberjob."""
    sym = None
    try:
        sym = gdb.lookup_global_symbol("fj__waiter_table", gdb.SYMBOL_VAR_DOMAIN)
    except (gdb.error, TypeError):
        sym = None
    try:
        if sym is not None:
            return int(sym.value().address)
        return int(gdb.parse_and_eval("(unsigned long)&fj__waiter_table"))
    except gdb.error:
        _err("cannot find fj__waiter_table (the waiter ids' records); is the library built with debug info?")


# ---------------------------------------------------------------- saved registers

def _arch_name():
    try:
        return gdb.selected_inferior().architecture().name()
    except (gdb.error, AttributeError):
        pass
    try:
        return gdb.selected_frame().architecture().name()
    except gdb.error:
        pass
    out = gdb.execute("show architecture", to_string=True)
    m = re.search(r"\(currently \"?([^)\"]+)\"?\)", out) or re.search(r"is \"?([^\s\".]+)", out)
    return m.group(1) if m else out


def _arch():
    name = _arch_name()
    if "x86-64" in name or "x86_64" in name:
        return "x86-64"
    if "aarch64" in name:
        return "aarch64"
    _err("unsupported architecture %s (x86-64 and AArch64 only)" % name)


_fpu_cache = {}


def _save_fpu(arch):
    v = _save_fpu_param.value
    if v == "on":
        return True
    if v == "off":
        return False
    try:
        addr = int(gdb.parse_and_eval("(unsigned long)&fj__ctx_switch"))
    except gdb.error:
        _err("no symbol fj__ctx_switch: is this the ucontext build? Say `set fiberjob save-fpu on|off`")
    if addr in _fpu_cache:
        return _fpu_cache[addr]
    try:
        asm = gdb.execute("x/24i 0x%x" % addr, to_string=True)
    except gdb.error as e:
        _err("cannot disassemble fj__ctx_switch (%s); say `set fiberjob save-fpu on|off`" % e)
    if arch == "x86-64":
        fpu = "stmxcsr" in asm
    else:
        fpu = "fpcr" in asm
    _fpu_cache[addr] = fpu
    return fpu


def _is_code(addr):
    try:
        if gdb.block_for_pc(addr) is not None:
            return True
    except (gdb.error, RuntimeError):
        pass
    try:
        out = gdb.execute("info symbol 0x%x" % addr, to_string=True)
        return not out.startswith("No symbol")
    except gdb.error:
        return False


def _read_u64s(addr, n):
    raw = bytes(gdb.selected_inferior().read_memory(addr, 8 * n))
    return struct.unpack("<%dQ" % n, raw)


def fiber_registers(types, f):
    """{register: value} of suspended fiber f, as they will be when it resumes."""
    arch = _arch()
    if types.ucontext:
        mc = f.value["ctx"]["uc"]["uc_mcontext"]
        if arch == "x86-64":
            g = mc["gregs"]
            return dict((r, int(g[i]) & 0xffffffffffffffff) for r, i in _X86_UC_GREGS.items())
        regs = dict(("x%d" % i, int(mc["regs"][i])) for i in range(19, 31))
        regs["sp"] = int(mc["sp"])
        regs["pc"] = int(mc["pc"])
        return regs
    sp = f.sp
    if not f.in_stack(sp):
        _err("fiber #%d: its saved sp 0x%x is outside its stack [0x%x, 0x%x)"
             % (f.index, sp, f.stack_lo, f.stack_lo + f.stack_size))
    fpu = _save_fpu(arch)
    try:
        if arch == "x86-64":
            skip = 1 if fpu else 0
            words = _read_u64s(sp, _X86_WORDS + skip)[skip:]
            regs = dict(zip(_X86_SAVED, words[:6]))
            regs["rip"] = words[6]
            regs["rsp"] = sp + 8 * (_X86_WORDS + skip)
            return regs
        words = _read_u64s(sp, 12)
        regs = dict(("x%d" % (19 + i), words[i]) for i in range(12))
        regs["pc"] = regs["x30"]
        regs["sp"] = sp + _A64_BYTES + (_A64_FPU_EXTRA if fpu else 0)
        return regs
    except gdb.MemoryError as e:
        _err("fiber #%d: cannot read its saved registers at 0x%x: %s" % (f.index, sp, e))


def _pc_reg(arch):
    return "rip" if arch == "x86-64" else "pc"


def _sp_reg(arch):
    return "rsp" if arch == "x86-64" else "sp"


def _frame_level(frame):
    level = 0
    try:
        return frame.level()
    except AttributeError:
        pass
    f = frame
    while f is not None and f.newer() is not None:
        f = f.newer()
        level += 1
    return level


def _select_level(level):
    f = gdb.newest_frame()
    for _ in range(level):
        older = f.older()
        if older is None:
            break
        f = older
    f.select()


def _bt_with_registers(regs, bt_args):
    """Load regs into the selected thread, run bt, put the registers back."""
    thread = gdb.selected_thread()
    if thread is None:
        _err("no thread selected (is the program running?)")
    if thread.is_running():
        _err("the selected thread is running (non-stop mode): interrupt it first")
    try:
        level = _frame_level(gdb.selected_frame())
    except gdb.error:
        level = 0
    frame0 = gdb.newest_frame()
    saved = [(r, int(frame0.read_register(r)) & 0xffffffffffffffff) for r in regs]
    frame0.select()
    written = []
    try:
        try:
            for r, v in regs.items():
                gdb.execute("set $%s = 0x%x" % (r, v), to_string=True)
                written.append(r)
        except gdb.error as e:
            # A core file, or a target that cannot write registers. (Writes of
            # a register's own value succeed even there: gdb skips them.)
            raise _CannotWrite(str(e))
        gdb.execute(("bt " + bt_args).strip())
    finally:
        gdb.newest_frame().select()
        failed = []
        for r, v in (saved if written else []):
            try:
                gdb.execute("set $%s = 0x%x" % (r, v), to_string=True)
            except gdb.error:
                failed.append(r)
        if failed:
            gdb.write("fiberjob: WARNING: could not restore %s of thread %d\n" % (", ".join(failed), thread.num))
        try:
            _select_level(level)
        except gdb.error:
            pass


class _CannotWrite(Exception):
    pass


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


if _gdb_unwinder is not None:
    class _FiberUnwinder(_gdb_unwinder.Unwinder):
        """Makes a suspended fiber the caller of the selected thread's frame #0, while on."""

        def __init__(self):
            super().__init__("fiberjob")
            self.regs = None
            self.thread = None

        def __call__(self, pending_frame):
            if self.regs is None:
                return None
            try:
                if pending_frame.level() != 0:
                    return None
            except AttributeError:
                return None   # gdb < 11 cannot tell frame #0: do nothing
            if gdb.selected_thread() != self.thread:
                return None
            arch = _arch()
            sp = pending_frame.read_register(_sp_reg(arch))
            pc = pending_frame.read_register(_pc_reg(arch))
            info = pending_frame.create_unwind_info(_FrameId(sp, pc))
            for r, v in self.regs.items():
                rtype = pending_frame.read_register(r).type
                info.add_saved_register(r, gdb.Value(v).cast(rtype))
            return info

    _unwinder = _FiberUnwinder()
    _gdb_unwinder.register_unwinder(None, _unwinder, replace=True)
else:
    _unwinder = None


def _bt_with_unwinder(regs, bt_args):
    if _unwinder is None:
        _err("this gdb has no Python unwinder API: `fj bt` works only on a live process here")
    thread = gdb.selected_thread()
    if thread is None:
        _err("no thread selected")
    try:
        level = _frame_level(gdb.selected_frame())
    except gdb.error:
        level = 0
    gdb.write("(frame #0 is the selected thread's own frame; the fiber's frames start at #1)\n")
    # `bt N` counts frame #0 too: show N of the fiber's frames.
    words = bt_args.split()
    words = [str(int(w) + 1) if re.match(r"^\d+$", w) else w for w in words]
    _unwinder.regs = regs
    _unwinder.thread = thread
    try:
        gdb.invalidate_cached_frames()
        gdb.execute(("bt " + " ".join(words)).strip())
    finally:
        _unwinder.regs = None
        _unwinder.thread = None
        gdb.invalidate_cached_frames()
        try:
            _select_level(level)
        except gdb.error:
            pass


def _describe_pc(pc):
    """function+offset of a code address, or '??'."""
    try:
        # The outermost function block (not an inlined function's).
        block, outer = gdb.block_for_pc(pc), None
        while block is not None:
            if block.function is not None:
                outer = block
            block = block.superblock
        if outer is not None:
            return "%s+%d" % (outer.function.print_name, pc - outer.start)
    except (gdb.error, RuntimeError):
        pass
    try:
        out = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
        m = re.match(r"^(\S+)(?: \+ (\d+))? in section", out)
        if m:
            return m.group(1) + ("+" + m.group(2) if m.group(2) else "")
    except gdb.error:
        pass
    return "??"


def _fiber_header(f, regs, arch):
    pc = regs[_pc_reg(arch)]
    name = f.job_name if f.job_name is not None else "-"
    return ("fiber #%d (%s, %s, job '%s') of scheduler 0x%x: sp 0x%x, resumes at 0x%x <%s>\n"
            % (f.index, f.kind, f.state, name, int(f.sched), regs[_sp_reg(arch)], pc, _describe_pc(pc)))


def _thread_bt(thread, bt_args):
    """`bt` of another thread, then back to the selected thread and frame."""
    orig = gdb.selected_thread()
    try:
        frame = gdb.selected_frame()
    except gdb.error:
        frame = None
    try:
        thread.switch()
        gdb.execute(("bt " + bt_args).strip())
    finally:
        orig.switch()
        if frame is not None:
            try:
                frame.select()
            except gdb.error:
                pass


def _outside_thread(rec, wake):
    """The stopped thread blocked in fj_wait on outside record rec (futex word
    wake): its wait_external frame holds rec, or a futex wait frame wake."""
    inf = gdb.selected_inferior()
    try:
        orig = gdb.selected_thread()
    except gdb.error:
        return None
    if orig is None:
        return None
    try:
        orig_frame = gdb.selected_frame()
    except gdb.error:
        orig_frame = None
    found = None
    try:
        for t in inf.threads():
            if found is not None:
                break
            if not t.is_valid() or t.is_running() or t.is_exited():
                continue
            t.switch()
            try:
                fr = gdb.newest_frame()
            except gdb.error:
                continue
            for _ in range(16):
                if fr is None:
                    break
                try:
                    name = fr.name()
                    if name == "wait_external" and int(fr.read_var("rec")) == rec:
                        found = t
                    elif name in ("fj__os_futex_wait_ns", "fj__os_futex_wait") and int(fr.read_var("addr")) == wake:
                        found = t
                except (gdb.error, ValueError, RuntimeError):
                    pass   # optimised out
                if found is not None:
                    break
                try:
                    fr = fr.older()
                except gdb.error:
                    break
    finally:
        orig.switch()
        if orig_frame is not None:
            try:
                orig_frame.select()
            except gdb.error:
                pass
    return found


def _field_offset(t, name):
    for fld in t.strip_typedefs().fields():
        if fld.name == name:
            return fld.bitpos // 8
    return 0


def _backtrace(view, f, bt_args):
    types = view.types
    if f.state == "free":
        _err("fiber #%d is free (no job)" % f.index)
    if f.outside:
        wake = f.addr + _field_offset(f.value.type, "wake")
        gdb.write("record id %d is that of a thread outside every scheduler blocked in fj_wait (%s); it has "
                  "no fiber and no saved registers: the thread sleeps on the record's futex word 0x%x.\n"
                  % (f.id, _wait_text(f) or f.state, wake))
        thread = _outside_thread(f.addr, wake)
        if thread is None:
            gdb.write("(no stopped thread is found waiting on it: see `thread apply all bt`)\n")
            return
        gdb.write("It is thread %s:\n" % _thread_label(thread))
        _thread_bt(thread, bt_args)
        return
    if f.state == "running":
        if f.thread is None:
            _err("fiber #%d is running, but no stopped thread is on its stack" % f.index)
        gdb.write("fiber #%d (%s, running, job '%s') runs on thread %s:\n"
                  % (f.index, f.kind, f.job_name or "(idle loop)", _thread_label(f.thread)))
        _thread_bt(f.thread, bt_args)
        return
    if f.thread is not None:
        gdb.write("fiberjob: WARNING: thread %s is on fiber #%d's stack: it is switching and its saved "
                  "registers may be stale\n" % (_thread_label(f.thread), f.index))
    arch = _arch()
    regs = fiber_registers(types, f)
    pc = regs[_pc_reg(arch)]
    if not _is_code(pc):
        fpu = types.ucontext is False and _save_fpu(arch)
        gdb.write("fiberjob: WARNING: the resume address 0x%x is not in any function: the backtrace below "
                  "is likely garbage. If the library was built with%s FIBERJOB_SAVE_FPU, say `set fiberjob "
                  "save-fpu %s`\n" % (pc, "out" if fpu else "", "off" if fpu else "on"))
    gdb.write(_fiber_header(f, regs, arch))
    names = f.caller_names()
    if names:
        # Jobs under it on lower stack segments: their frames follow the top
        # job's, past fj__ctx_call_on.
        chain = []
        above = f.job_name or "-"
        for k in range(len(names), 0, -1):
            chain.append("'%s' waits in fj_wait on stack segment %d under '%s'" % (names[k - 1] or "-", k - 1, above))
            above = names[k - 1] or "-"
        gdb.write("(nested: %s; their frames are below fj__ctx_call_on)\n" % "; ".join(chain))
    if f.state == "calling":
        # Suspended in fj_wait while one of its children runs on another fiber,
        # which switches straight back to it when the child returns.
        if f.call_child is not None:
            gdb.write("(calling: in fj_wait, it runs child job '%s' on fiber %s; `fj bt %d` shows that one)\n"
                      % (f.call_child.job_name or "-", f.call_child.label, f.call_child.index))
        else:
            gdb.write("(calling: in fj_wait, it runs a child job on another fiber)\n")
    method = _bt_method_param.value
    if method == "unwinder":
        _bt_with_unwinder(regs, bt_args)
        return
    try:
        _bt_with_registers(regs, bt_args)
    except _CannotWrite as e:
        if method == "registers":
            _err("cannot write registers (%s); on a core file say `set fiberjob bt-method unwinder`" % e)
        _bt_with_unwinder(regs, bt_args)


def _parse_bt_args(arg):
    argv = gdb.string_to_argv(arg)
    sched = None
    which = None
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if which is None and a in ("-s", "--scheduler"):
            if i + 1 >= len(argv):
                _err("-s needs a scheduler address")
            sched = int(gdb.parse_and_eval(argv[i + 1]))
            i += 2
            continue
        if which is None and a == "--fpu":
            _save_fpu_param.value = "on"
        elif which is None and a == "--no-fpu":
            _save_fpu_param.value = "off"
        elif which is None:
            which = a
        else:
            rest.append(a)
        i += 1
    if which is None:
        _err("usage: fj bt [-s SCHEDULER] [--fpu|--no-fpu] N|JOB-NAME|all [BT-ARGS...]")
    return sched, which, " ".join(rest)


def bt_command(arg):
    saved_fpu = _save_fpu_param.value
    try:
        sched, which, bt_args = _parse_bt_args(arg)
        view = _View()
        if not view.scheds:
            _err(_no_schedulers_message())
        scheds = view.scheds
        if sched is not None:
            scheds = [s for s in scheds if int(s) == sched]
            if not scheds:
                _err("0x%x is not a live scheduler" % sched)
        if re.match(r"^#?\d+$", which):
            idx = int(which.lstrip("#"))
            s = scheds[0]
            if len(scheds) > 1 and sched is None:
                gdb.write("fiberjob: %d live schedulers; showing fiber #%d of the newest, 0x%x (choose with -s)\n"
                          % (len(scheds), idx, int(s)))
            matches = [f for f in view.fibers[int(s)] if f.index == idx]
            if not matches:
                n = int(s["nfibers"])
                if idx >= n:
                    _err("no fiber #%d (scheduler 0x%x has %d)" % (idx, int(s), n))
                _err("fiber #%d is free (no job)" % idx)
            _backtrace(view, matches[0], bt_args)
            return
        if which == "all":
            chosen = [f for s in scheds for f in view.fibers[int(s)]]
        else:
            chosen = [f for s in scheds for f in view.fibers[int(s)]
                      if f.job_name == which or which in f.caller_names()]
            chosen += [f for f in view.outside if f.job_name == which]
            if not chosen:
                _err("no fiber runs or waits in a job named '%s'" % which)
        for k, f in enumerate(chosen):
            if k:
                gdb.write("\n")
            try:
                _backtrace(view, f, bt_args)
            except gdb.GdbError as e:
                gdb.write("%s\n" % e)
    finally:
        _save_fpu_param.value = saved_fpu


# ---------------------------------------------------------------- commands

class _FjPrefix(gdb.Command):
    """fiberjob: fibers, workers and suspended fibers' backtraces.

fj fibers [all]      every fiber in use, per live scheduler: index, kind, state,
                     worker, job name, and the counter (value, target) a waiting
                     fiber waits on; then the threads outside every scheduler
                     blocked in fj_wait; `all` lists free fibers and idle records too
fj bt [-s SCHED] [--fpu|--no-fpu] N|JOB|all [BT-ARGS]
                     backtrace of fiber N (or of every fiber running or waiting in
                     job JOB, or of all of them) from its saved registers
fj workers           per worker: CPU, thread, current fiber, queued tasks, statistics
fj counter EXPR      a counter's value and its wait list

Settings: set fiberjob save-fpu auto|on|off, set fiberjob bt-method auto|registers|unwinder.
The library needs debug info (-g)."""

    def __init__(self):
        super().__init__("fj", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)

    def invoke(self, arg, from_tty):
        gdb.execute("help fj")


class _Cmd(gdb.Command):
    def __init__(self, name, fn, doc, cls=gdb.COMMAND_STACK):
        self.__doc__ = doc
        super().__init__(name, cls)
        self.fn = fn

    def invoke(self, arg, from_tty):
        self.dont_repeat()
        self.fn(arg)


_FjPrefix()
_Cmd("fj fibers", fibers_command,
     """List every fiber in use: fj fibers [all]
Per live scheduler a summary line (workers, fibers in use), then per fiber its
index, kind (small/large), state (running/waiting/calling/ready/yielded), the
worker it runs on, its job's name, and for a waiting fiber the counter's address,
current value and the target it waits for (a calling fiber: also the fiber that
runs its child). Under a fiber's row, a `nested` row for each job waiting in
fj_wait on a lower stack segment of that fiber, under the job above it (`fj bt
NAME` finds those too). Then the process-wide records of threads outside every
scheduler blocked in fj_wait, by waiter id. `all` lists free fibers and idle
outside records too.""")
_Cmd("info fibers", fibers_command, """List every fiber in use (same as `fj fibers`).""", gdb.COMMAND_STATUS)
_Cmd("fj bt", bt_command,
     """Backtrace of a fiber: fj bt [-s SCHEDULER] [--fpu|--no-fpu] N|JOB-NAME|all [BT-ARGS...]
N is a fiber index from `fj fibers` (of the newest scheduler unless -s gives one's
address); JOB-NAME shows every fiber running or waiting in a job of that name (and
the thread of an outside record of that name, e.g. '(outside thread)'); all
shows every fiber in use. BT-ARGS go to `bt` (e.g. full, 10, -frame-arguments all).
A suspended fiber's saved registers are loaded into the selected thread for the
`bt` and put back afterwards; a running fiber's backtrace is its thread's.
--fpu/--no-fpu override the detection of FIBERJOB_SAVE_FPU for this command.""")
_Cmd("fj workers", workers_command,
     """List the workers: index, pinned CPU, gdb thread, current fiber and its job,
tasks queued (ready fibers / high / normal / low jobs) and statistics (jobs,
steals, failed steals, fiber switches, sleeps, wakes).""")
_Cmd("fj counter", counter_command,
     """Show a counter: fj counter EXPR (an fj_counter, a pointer to one, or an address).
Its value, panics and its wait list (through fj__waiter_table): per waiter its
id, fiber index and scheduler (or `outside`), state, job and target.""", gdb.COMMAND_DATA)
