#!/usr/bin/python3
"""sd-harness.py -- plays systemd's side for timerd (tests/regress/systemd.sh).

It owns a NOTIFY_SOCKET (an AF_UNIX datagram socket it reads), can bind the
listening sockets itself and pass them as LISTEN_FDS/LISTEN_PID/
LISTEN_FDNAMES the way systemd does (dup'ed to fd 3, 4, ... in the child
just before exec), sets WATCHDOG_USEC/WATCHDOG_PID, and checks what timerd
sends: READY=1 only once it listens, STATUS= lines, WATCHDOG=1 at the
interval, none while the dispatcher is stuck (the TIMERD_TEST_STALL_TOPIC
hook), RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 at SIGTERM.

usage: sd-harness.py SCENARIO TIMERD TIMERCTL TMPDIR
  scenarios: notify (timerd binds its own socket), activate (sockets passed
  in), mismatch (a passed socket timerd was not configured for).
Exit 0 pass, 1 fail (the reason on stderr).
"""
import os
import signal
import socket
import subprocess
import sys
import time

WATCHDOG_USEC = 400000          # timerd pings every 200 ms
DEADLINE = 10.0                 # seconds any single expected event may take


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


class Harness:
    def __init__(self, timerd, timerctl, tmp):
        self.timerd, self.timerctl, self.tmp = timerd, timerctl, tmp
        self.sock = os.path.join(tmp, "timerd.sock")
        self.log = os.path.join(tmp, "timerd.log")
        self.notify_path = os.path.join(tmp, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.pid, self.rc = None, None
        self.seen = []            # (monotonic time, line)

    def start(self, extra=(), listen_socks=(), env_extra=None):
        """Forks and execs timerd as systemd would; listen_socks become fds 3, 4, ..."""
        env = dict(os.environ)
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_PID"):
            env.pop(k, None)
        env.update({"NOTIFY_SOCKET": self.notify_path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
        env.update(env_extra or {})
        argv = [self.timerd, "--foreground", "--socket", self.sock, "--state-dir",
                os.path.join(self.tmp, "state"), "--log", self.log] + list(extra)
        fds = [s.fileno() for s in listen_socks]
        if fds:
            env["LISTEN_FDS"] = str(len(fds))
            env["LISTEN_FDNAMES"] = ":".join("timerd.socket" for _ in fds)
        err = os.open(self.log + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(err, 2)
                high = [os.dup(fd) for fd in fds]      # out of the way of 3, 4, ...
                for i, fd in enumerate(high):
                    os.dup2(fd, 3 + i, inheritable=True)
                env["WATCHDOG_PID"] = str(os.getpid())
                if fds:
                    env["LISTEN_PID"] = str(os.getpid())
                os.closerange(3 + len(fds), 1024)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        os.close(err)
        self.pid, self.rc = pid, None

    def poll(self):
        """timerd's exit status, or None while it runs."""
        if self.rc is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.rc = os.waitstatus_to_exitcode(status)
        return self.rc

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        return self.rc

    def recv(self, timeout):
        """The next notify datagram's lines, or None after timeout seconds."""
        self.notify.settimeout(timeout)
        try:
            data = self.notify.recv(4096)
        except socket.timeout:
            return None
        t = time.monotonic()
        lines = data.decode().split("\n")
        for ln in lines:
            self.seen.append((t, ln))
        return lines

    def wait_line(self, prefix, what, on_each=None):
        """Waits for a line starting with prefix; fails after DEADLINE."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if self.poll() is not None:
                fail("timerd exited (%s) while waiting for %s; log:\n%s" % (self.rc, what, self.logtext()))
            lines = self.recv(0.2)
            for ln in lines or []:
                if on_each:
                    on_each(ln)
                if ln.startswith(prefix):
                    return ln
        fail("no %s within %ss (seen: %s)" % (what, DEADLINE, [ln for _, ln in self.seen][-20:]))

    def logtext(self):
        out = ""
        for p in (self.log, self.log + ".err"):
            if os.path.exists(p):
                out += open(p).read()
        return out

    def ctl(self, *args, connect=None):
        where = ["--connect", connect] if connect else ["--socket", self.sock]
        return subprocess.run([self.timerctl] + where + list(args), capture_output=True, text=True, timeout=20)

    def watchdog_gaps(self, seconds):
        """WATCHDOG=1 arrival times over the next seconds."""
        times, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            lines = self.recv(max(0.01, end - time.monotonic()))
            if lines and "WATCHDOG=1" in lines:
                times.append(time.monotonic())
        return times

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        self.wait_line("STOPPING=1", "STOPPING=1 after SIGTERM")
        if self.wait(DEADLINE) is None:
            os.kill(self.pid, signal.SIGKILL)
            fail("timerd did not exit within %ss of SIGTERM" % DEADLINE)
        if self.rc != 0:
            fail("timerd exited %d after SIGTERM; log:\n%s" % (self.rc, self.logtext()))

    def kill(self):
        if self.rc is None and self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.rc = -9


def check_watchdog(h, what):
    """WATCHDOG=1 keeps coming, never more than WATCHDOG_USEC apart."""
    times = h.watchdog_gaps(1.2)
    if len(times) < 3:
        fail("%s: %d WATCHDOG=1 in 1.2s with WatchdogSec=%dms (want >= 3)" % (what, len(times), WATCHDOG_USEC // 1000))
    gaps = [b - a for a, b in zip(times, times[1:])]
    if max(gaps) > WATCHDOG_USEC / 1e6:
        fail("%s: WATCHDOG=1 gaps %s exceed %dms" % (what, ["%.3f" % g for g in gaps], WATCHDOG_USEC // 1000))


def scenario_notify(h):
    """timerd binds its socket: READY=1 once it listens, STATUS=, watchdog, stall, reload, stop."""
    conf = os.path.join(h.tmp, "timerd.conf")
    with open(conf, "w") as f:
        f.write("max-inflight = 4096\n")
    h.start(["--engine-workers", "0", "--config", conf], env_extra={"TIMERD_TEST_STALL_TOPIC": "stall"})
    h.wait_line("READY=1", "READY=1")
    # READY=1 must mean "listening": the socket answers at once, without retrying
    r = h.ctl("ping")
    if r.returncode != 0:
        fail("READY=1 came but timerctl ping failed at once: %s" % (r.stderr or r.stdout))
    h.wait_line("STATUS=", "STATUS= line")
    st = [ln for _, ln in h.seen if ln.startswith("STATUS=")]
    if not any("pending timers" in ln and "connections" in ln for ln in st):
        fail("STATUS= lines do not give pending timers and connections: %s" % st)
    h.ctl("arm", "st-1", "--in", "1h")
    h.wait_line("STATUS=", "a STATUS= refresh")
    end = time.monotonic() + DEADLINE
    while not any(ln.startswith("STATUS=") and "1 pending timers" in ln for _, ln in h.seen):
        if time.monotonic() > end:
            fail("no STATUS= line with the armed timer (1 pending timers): %s" % st)
        h.recv(0.5)
    check_watchdog(h, "idle")
    # a stuck dispatcher: the stall hook holds it for 1.5s (engine-workers 0: fires run on it)
    r = h.ctl("arm", "stall-1", "--in", "10ms", "--topic", "stall", "--payload", "1500")
    if r.returncode != 0:
        fail("arm of the stall timer: %s" % r.stderr)
    t0 = time.monotonic()
    times = h.watchdog_gaps(2.5)
    gaps = [b - a for a, b in zip([t0] + times, times)]
    if not gaps or max(gaps) < 0.9:
        fail("the dispatcher stalled 1.5s but WATCHDOG=1 never paused for 0.9s: gaps %s" %
             ["%.3f" % g for g in gaps])
    if not times or times[-1] < t0 + 1.5:
        fail("WATCHDOG=1 did not resume after the dispatcher came back: %s" % ["%.3f" % (t - t0) for t in times])
    if "not feeding the systemd watchdog" not in h.logtext():
        fail("the log does not say the watchdog went unfed")
    check_watchdog(h, "after the stall")
    # reload: RELOADING=1 then READY=1, and STATUS= says what changed
    with open(conf, "w") as f:
        f.write("max-inflight = 100\n")
    os.kill(h.pid, signal.SIGHUP)
    h.wait_line("RELOADING=1", "RELOADING=1 after SIGHUP")
    h.wait_line("READY=1", "READY=1 after the reload")
    ln = h.wait_line("STATUS=", "STATUS= after the reload")
    if "reloaded: 1 changed" not in ln:
        fail("STATUS= after the reload says %r, not 'reloaded: 1 changed'" % ln)
    h.stop()


def bind_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(128)
    return s


def bind_tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


def scenario_activate(h):
    """Sockets passed in (LISTEN_FDS=2): timerd adopts both, ping works over each, the file stays."""
    u, t = bind_unix(h.sock), bind_tcp()
    port = t.getsockname()[1]
    h.start(["--listen", "127.0.0.1:%d" % port], listen_socks=[t, u])   # order: matched by address, not position
    u.close()
    t.close()
    h.wait_line("READY=1", "READY=1")
    for where in (None, "127.0.0.1:%d" % port):
        r = h.ctl("ping", connect=where)
        if r.returncode != 0:
            fail("timerctl ping over the passed %s socket: %s" % (where or "unix", r.stderr or r.stdout))
    if "socket activation: 2 sockets from systemd (unix adopted, tcp adopted)" not in h.logtext():
        fail("the log does not say both sockets were adopted:\n" + h.logtext())
    check_watchdog(h, "socket-activated")
    h.stop()
    if not os.path.exists(h.sock):
        fail("timerd removed the socket file systemd owns")


def scenario_mismatch(h):
    """A passed TCP socket that no setting names: timerd refuses to start, naming it."""
    u, t = bind_unix(h.sock), bind_tcp()
    port = t.getsockname()[1]
    h.start([], listen_socks=[u, t])
    u.close()
    t.close()
    if h.wait(DEADLINE) is None:
        h.kill()
        fail("timerd started with a socket it was not configured for")
    msg = h.logtext()
    if h.rc == 0 or ("127.0.0.1:%d" % port) not in msg or "ListenStream=" not in msg:
        fail("exit %s; the error should name 127.0.0.1:%d and ListenStream=:\n%s" % (h.rc, port, msg))


def main():
    scenario, timerd, timerctl, tmp = sys.argv[1:5]
    h = Harness(timerd, timerctl, tmp)
    try:
        {"notify": scenario_notify, "activate": scenario_activate, "mismatch": scenario_mismatch}[scenario](h)
    finally:
        h.kill()
    print("ok: %s" % scenario)


if __name__ == "__main__":
    main()
