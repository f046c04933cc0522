"""Pokes vlm-worker's status endpoint while it trains: GET /status and /metrics (fields, the step
advancing), then requests it must refuse (malformed lines, a 1 MiB header, random bytes, a body,
unknown paths and methods, a half request left silent, idle connections held open), each with
its 4xx or a close. Exits non-zero on the first property that does not hold.
Usage: status_probe.py PORT RANKS HOST"""
import json, os, socket, sys, threading, time

port, ranks, host = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def exchange(data, read_timeout=15.0):
    """Sends data (from a thread: the server may answer before it has all of it) and returns
    everything the server sends before closing, and the seconds that took."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    start = time.monotonic()

    def send():
        try:
            sock.sendall(data)
        except OSError:  # closed after answering: what it answered is still readable
            pass

    sender = threading.Thread(target=send)
    sender.start()
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    sender.join()
    sock.close()
    return b"".join(chunks), time.monotonic() - start


def status_code(response):
    line = response.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    assert len(parts) >= 2 and parts[0] == "HTTP/1.1", f"not an HTTP response: {response[:80]!r}"
    return int(parts[1])


def get(path):
    response, _ = exchange(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    assert status_code(response) == 200, f"GET {path}: {response[:200]!r}"
    return response.split(b"\r\n\r\n", 1)[1].decode()


def wait_for_training():
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            status = json.loads(get("/status"))
            if status["state"] == "training" and status["step"] >= 1 and status["ranks"] and \
                    all(r["seen"] for r in status["ranks"]):
                return status
        except (OSError, AssertionError):
            pass
        time.sleep(0.2)
    sys.exit("the endpoint never showed a training step with every rank's heartbeat")


def check_status(status):
    for key in ("run_dir", "job_id", "stage", "step", "total_steps", "loss", "losses",
                "tokens_per_s", "eta_s", "last_checkpoint", "ranks"):
        assert key in status, f"/status has no {key}: {status}"
    assert status["total_steps"] >= status["step"] >= 1, status
    assert "text_ce" in status["losses"] and status["loss"] > 0, status
    assert status["tokens_per_s"] > 0 and status["eta_s"] >= 0, status
    assert [r["rank"] for r in status["ranks"]] == list(range(ranks)), status["ranks"]
    for r in status["ranks"]:
        assert r["host"] == host and 0 <= r["heartbeat_age_s"] < 5 and not r["silent"], r


def check_metrics(text):
    for needle in ("\nvlm_step ", "\nvlm_total_steps ", '\nvlm_loss{term="text_ce"} ',
                   f'\nvlm_heartbeat_age_seconds{{rank="1",host="{host}"}} ',
                   "\nvlm_tokens_per_second ", "# TYPE vlm_step gauge"):
        assert needle in "\n" + text, f"/metrics lacks {needle!r}:\n{text}"


def refused(name, data, want):
    response, seconds = exchange(data)
    code = status_code(response)
    assert code == want, f"{name}: got {code}, want {want}: {response[:200]!r}"
    print(f"  {name}: {code} in {seconds:.2f} s")


first = wait_for_training()
check_status(first)
check_metrics(get("/metrics"))
print(f"/status at step {first['step']}/{first['total_steps']}: fields and heartbeats as expected")

refused("malformed request line", b"GARBAGE\r\n\r\n", 400)
refused("request line without version", b"GET /status\r\n\r\n", 400)
refused("HTTP/1.1 without Host", b"GET /status HTTP/1.1\r\n\r\n", 400)
refused("header line without colon", b"GET /status HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400)
refused("1 MiB header", b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) +
        b"\r\n\r\n", 431)
refused("random bytes", os.urandom(4096), 400)
refused("a request body", b"POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" +
        b"0123456789", 413)
refused("unknown path", b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n", 404)
refused("POST", b"POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405)
refused("DELETE", b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405)

# Half a request, then silence: the server answers 408 and closes on its own.
response, seconds = exchange(b"GET /status HTTP/1.1\r\nHost: x\r\n", read_timeout=30)
assert status_code(response) == 408 and seconds < 15, (response[:100], seconds)
print(f"  half request then silence: {status_code(response)} and closed after {seconds:.1f} s")

# Idle connections held open (more than the server serves at once) do not stop training.
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
time.sleep(3)
for sock in idle:
    sock.close()
time.sleep(0.5)
last = json.loads(get("/status"))
check_status(last)
assert last["stage"] != first["stage"] or last["step"] > first["step"], (first, last)
print(f"after the refusals and 40 idle connections: step {first['step']} -> {last['step']}, "
      f"still answering")
print("PROBE OK")
