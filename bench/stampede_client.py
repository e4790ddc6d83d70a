#!/usr/bin/env python3
"""Stampede client for bench/stampede.sh (Python standard library only).

Run mode: open --clients connections to host:port first, and only once all
of them are established send one GET for --path on each, back to back (a
couple of milliseconds for 200). Every client then records, from its own
send time, the time to the first response byte and to the last body byte.
Writes one TSV row per client to --out and prints a one-line summary.

  stampede_client.py --port P --path /key --clients 200 --out run.tsv

--port P1,P2,... spreads the clients over several servers (client i asks
the (i mod n)-th), as a load balancer in front of a fleet would.

Summary mode: pool the rows of several run files and print percentiles as
"name=value" pairs (times in seconds), for the script's summary table.

  stampede_client.py --summarize a.tsv b.tsv ...
"""
import argparse
import asyncio
import math
import sys
import time
from collections import Counter

FIELDS = ["client", "ok", "status", "cache", "bytes", "send_offset_s", "ttfb_s", "total_s", "error"]


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


async def read_response(reader, rec, t_send):
    """Read one response (Content-Length, chunked or until EOF); fill rec.
    t_send() is the client's send time, known only once the request is out."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("connection closed before the response head")
        if rec["ttfb_s"] is None:
            rec["ttfb_s"] = time.perf_counter() - t_send()
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    rec["status"] = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    rec["cache"] = headers.get("x-cache") or headers.get("x-cache-status") or "-"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = 0
        buf = rest
        while True:
            while b"\r\n" not in buf:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("connection closed inside a chunked body")
                buf += data
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("connection closed inside a chunk")
                buf += data
            body += size
            buf = buf[size + 2:]
            if size == 0:
                break
        rec["bytes"] = body
    elif "content-length" in headers:
        want = int(headers["content-length"])
        got = len(rest)
        while got < want:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError(f"connection closed after {got} of {want} body bytes")
            got += len(data)
        rec["bytes"] = got
    else:
        got = len(rest)
        while True:
            data = await reader.read(65536)
            if not data:
                break
            got += len(data)
        rec["bytes"] = got
    rec["total_s"] = time.perf_counter() - t_send()


async def run(opts):
    ports = [int(p) for p in opts.port.split(",")]

    # One site name for the whole fleet, as a load balancer passes it on: the
    # Host is part of the cache key.
    request = (f"GET {opts.path} HTTP/1.1\r\nHost: {opts.host}:{ports[0]}\r\n"
               f"User-Agent: relay-bench-stampede\r\nAccept: */*\r\nConnection: close\r\n\r\n").encode()
    recs = [dict(client=i, ok=0, status=0, cache="-", bytes=0, send_offset_s=None,
                 ttfb_s=None, total_s=None, error="") for i in range(opts.clients)]

    async def connect(rec):
        try:
            port = ports[rec["client"] % len(ports)]
            return await asyncio.wait_for(asyncio.open_connection(opts.host, port), opts.timeout)
        except Exception as e:  # noqa: BLE001 - every failure is a result here
            rec["error"] = f"connect: {type(e).__name__}: {e}".replace("\t", " ")
            return None

    conns = await asyncio.gather(*(connect(r) for r in recs))

    t_send = [0.0] * opts.clients

    async def exchange(i, conn):
        rec = recs[i]
        reader, writer = conn
        try:
            await asyncio.wait_for(read_response(reader, rec, lambda: t_send[i]), opts.timeout)
            rec["ok"] = 1 if rec["status"] == 200 and (opts.expect_bytes < 0 or rec["bytes"] == opts.expect_bytes) else 0
            if not rec["ok"]:
                rec["error"] = f"status {rec['status']}, {rec['bytes']} body bytes"
        except asyncio.TimeoutError:
            rec["error"] = f"timeout after {opts.timeout}s"
        except Exception as e:  # noqa: BLE001
            rec["error"] = f"{type(e).__name__}: {e}".replace("\t", " ")
        finally:
            writer.close()

    # Readers first (they block on the socket), then every request in one
    # synchronous loop: no client gets its request out late because the
    # event loop was busy reading another's response.
    tasks = [asyncio.ensure_future(exchange(i, c)) for i, c in enumerate(conns) if c is not None]
    await asyncio.sleep(0)
    t_first = time.perf_counter()
    for i, c in enumerate(conns):
        if c is None:
            continue
        t_send[i] = time.perf_counter()
        recs[i]["send_offset_s"] = t_send[i] - t_first
        c[1].write(request)
    await asyncio.gather(*tasks)
    return recs


def fmt(v):
    return "" if v is None else (f"{v:.6f}" if isinstance(v, float) else str(v))


def summarize(rows):
    ok = [r for r in rows if r["ok"] == "1"]
    caches = Counter(r["cache"] for r in rows if r["status"] not in ("", "0"))
    out = {"clients": len(rows), "ok": len(ok), "failed": len(rows) - len(ok),
           "cache": ",".join(f"{k}:{v}" for k, v in sorted(caches.items(), key=lambda kv: -kv[1])) or "-"}
    offs = [float(r["send_offset_s"]) for r in rows if r["send_offset_s"]]
    out["send_spread"] = f"{max(offs):.4f}" if offs else "nan"
    for name in ("ttfb", "total"):
        vals = [float(r[f"{name}_s"]) for r in ok]
        for p in (50, 99):
            out[f"{name}_p{p}"] = f"{pct(vals, p):.4f}" if vals else "nan"
        out[f"{name}_max"] = f"{max(vals):.4f}" if vals else "nan"
    return out


def read_rows(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", help="port, or ports separated by commas")
    ap.add_argument("--path")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per client, connect and exchange each [60]")
    ap.add_argument("--expect-bytes", type=int, default=-1, help="body size a client needs to count as ok")
    ap.add_argument("--out", help="per-client TSV")
    ap.add_argument("--summarize", nargs="+", metavar="TSV")
    opts = ap.parse_args()

    if opts.summarize:
        rows = [r for path in opts.summarize for r in read_rows(path)]
        print(" ".join(f"{k}={v}" for k, v in summarize(rows).items()))
        return 0
    if not (opts.port and opts.path and opts.out):
        ap.error("--port, --path and --out are required (or --summarize)")

    recs = asyncio.run(run(opts))
    with open(opts.out, "w") as f:
        f.write("\t".join(FIELDS) + "\n")
        for r in recs:
            f.write("\t".join(fmt(r[k]) for k in FIELDS) + "\n")
    errors = Counter(r["error"] for r in recs if r["error"])
    for e, n in errors.most_common(3):
        print(f"stampede_client: {n} client(s): {e}", file=sys.stderr)
    rows = read_rows(opts.out)
    print("STAMPEDE_RESULT " + " ".join(f"{k}={v}" for k, v in summarize(rows).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
