#!/usr/bin/env python3
"""Drives a command on a fresh pseudo-terminal, expect-style, for integration tests.

    pty_drive.py [--rows N] [--cols N] [--timeout S] -- CMD [ARGS...] ::: STEP...

CMD runs as the session leader of a new pty (its controlling terminal), sized ROWSxCOLS.
Each STEP, in order:

    expect=REGEX   wait until the output since the last match matches REGEX (Python re,
                   DOTALL); the match and what came before it are consumed
    send=TEXT      type TEXT (Python escapes: \\r Enter, \\x03 Ctrl-C, \\x1a Ctrl-Z)
    resize=RxC     set the terminal's size (the kernel sends SIGWINCH to its foreground)
    cooked         the terminal is in canonical mode with echo (as a shell leaves it)
    raw            the terminal has neither canonical mode nor echo (as ssi-run makes it)
    sleep=S        wait S seconds
    exit=N         wait for CMD to end with shell status N (128 + signal when killed)

Exits 0 when every step passed, 1 with the step and the output seen so far when one
failed or the whole run exceeded --timeout (CMD is then killed). Never waits forever.
"""
import argparse
import codecs
import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time


class Drive:
    def __init__(self, argv, rows, cols, deadline):
        self.deadline = deadline
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        self.resize(rows, cols)
        self.seen = b""      # everything, for the failure report
        self.pending = b""   # not yet consumed by an expect
        self.status = None

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def left(self):
        return self.deadline - time.monotonic()

    def pump(self, timeout):
        """Reads what output there is within `timeout` s; False once the terminal closed."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            return False
        self.seen += data
        self.pending += data
        return True

    def expect(self, pattern):
        rx = re.compile(pattern.encode(), re.DOTALL)
        while True:
            m = rx.search(self.pending)
            if m:
                self.pending = self.pending[m.end():]
                return
            if self.left() <= 0:
                raise Failure("timed out waiting for " + repr(pattern))
            if not self.pump(min(0.1, self.left())):
                m = rx.search(self.pending)
                if m:
                    self.pending = self.pending[m.end():]
                    return
                raise Failure("the terminal closed before " + repr(pattern))

    def send(self, text):
        os.write(self.fd, codecs.decode(text, "unicode_escape").encode("latin-1"))

    def modes(self):
        lflag = termios.tcgetattr(self.fd)[3]
        return bool(lflag & termios.ICANON), bool(lflag & termios.ECHO)

    def wait_exit(self):
        while self.status is None:
            pid, raw = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
                break
            if self.left() <= 0:
                raise Failure("timed out waiting for the command to end")
            self.pump(min(0.05, self.left()))
        while self.pump(0.05):  # what it wrote last
            if self.left() <= 0:
                break
        return self.status

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass


class Failure(Exception):
    pass


def run_step(d, step):
    name, _, arg = step.partition("=")
    if name == "expect":
        d.expect(arg)
    elif name == "send":
        d.send(arg)
    elif name == "resize":
        rows, cols = arg.split("x")
        d.resize(int(rows), int(cols))
    elif name == "sleep":
        time.sleep(float(arg))
    elif name in ("cooked", "raw"):
        d.pump(0.05)
        icanon, echo = d.modes()
        want = (True, True) if name == "cooked" else (False, False)
        if (icanon, echo) != want:
            raise Failure("terminal not %s: icanon=%s echo=%s" % (name, icanon, echo))
    elif name == "exit":
        got = d.wait_exit()
        if got != int(arg):
            raise Failure("exit status %d, expected %s" % (got, arg))
    else:
        raise Failure("unknown step " + repr(step))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--cols", type=int, default=80)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if ":::" not in rest:
        parser.error("CMD ::: STEP... expected")
    at = rest.index(":::")
    argv, steps = rest[:at], rest[at + 1:]
    d = Drive(argv, args.rows, args.cols, time.monotonic() + args.timeout)
    try:
        for i, step in enumerate(steps, 1):
            run_step(d, step)
    except Failure as e:
        d.kill()
        sys.stderr.write("pty_drive: step %d (%s): %s\n--- terminal output ---\n%s\n--- end ---\n"
                         % (i, step, e, d.seen.decode("utf-8", "replace")))
        return 1
    finally:
        d.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
