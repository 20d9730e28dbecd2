"""Handler of Relay's Python runner function (python3.13 managed runtime).

It starts the relay-runner binary shipped beside it once per execution
environment and hands it each invocation as one JSON line; the binary runs
the script task attempt with this runtime's python3 and answers with one
line. Standard library only.
"""
import json
import os
import subprocess
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_BIN = os.environ.get("RELAY_RUNNER_BIN", os.path.join(_HERE, "relay-runner"))
_lock = threading.Lock()
_proc = None


class RunnerError(Exception):
    """The runner could not serve the invocation (not a failed attempt:
    those are answers)."""


def _start():
    global _proc
    _proc = subprocess.Popen([_BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)


def _call(line):
    _proc.stdin.write(line)
    _proc.stdin.flush()
    answer = _proc.stdout.readline()
    if not answer:
        raise RunnerError("relay-runner exited (status %s)" % _proc.poll())
    return json.loads(answer)


# Started at init: a binary that cannot start is an init error.
_start()


def handler(event, context):
    deadline = int(time.time() * 1000) + context.get_remaining_time_in_millis()
    line = (json.dumps({"event": event, "deadlineMs": deadline}) + "\n").encode()
    with _lock:
        if _proc.poll() is not None:
            _start()
        answer = _call(line)
    if "result" in answer:
        return answer["result"]
    raise RunnerError("%s: %s" % (answer.get("errorType"), answer.get("errorMessage")))
