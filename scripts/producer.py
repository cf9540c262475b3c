#!/usr/bin/env python3
"""Send events to an eddy cluster's ingest endpoint, as schema/WIRE.md describes.

Synthetic events (deterministic from --seed) or canonical JSON Lines from --input are
packed into wire frames (version byte 0x01 + one MessagePack batch map) and sent over a
ZeroMQ DEALER socket as [correlation id, batch frame] (the id is the seq as 8 bytes,
big-endian; WIRE.md §9). Up to --window batches stay unacked; a batch is resent with the
SAME bytes on timeout or, after a back-off, on an "unavailable" ack.
Needs only Debian's python3-zmq and python3-msgpack.
"""
import argparse, bisect, itertools, json, os, random, struct, sys, time

import msgpack
import zmq

WIRE_VERSION = b"\x01"
# Frozen interaction type ids (schema/WIRE.md §4, configs/interactions.toml).
TYPE_IDS = {"view": 1, "cart": 2, "purchase": 3, "like": 4, "share": 5, "rate": 6,
            "click": 7, "remove_from_cart": 8, "search": 9, "other": 255}
# Frozen ack status values (key 2 of the ack map, WIRE.md §8).
STATUS = {0: "ok", 1: "duplicate", 2: "refused", 3: "unavailable"}
TS_END = 4102444800000  # first invalid ts (2100-01-01)
DEFAULT_MAX_FRAME = 4 * 1024 * 1024  # limits.max_frame_bytes of configs/cluster-*.toml


class InputError(Exception):
    pass


def make_event(user, item, type_id, ts, value=1.0):
    ev = {0: user, 1: item, 2: type_id, 3: ts}  # ascending keys (WIRE.md §2)
    if value != 1.0:
        ev[4] = float(value)  # float 32 on the wire, omitted when exactly 1.0
    return ev


def encode_frame(producer, seq, events):
    body = {0: producer, 1: seq, 2: events}
    return WIRE_VERSION + msgpack.packb(body, use_bin_type=True, use_single_float=True)


def synthetic_events(a, type_ids):
    rng = random.Random(a.seed)
    cum = list(itertools.accumulate(1.0 / (k + 1) ** a.skew for k in range(a.items)))
    ts = a.start_ms
    for _ in range(a.events):
        item = bisect.bisect_left(cum, rng.random() * cum[-1]) + 1
        type_id = rng.choice(type_ids)
        value = float(rng.randint(1, 5)) if type_id == TYPE_IDS["rate"] else 1.0
        yield make_event("u%d" % rng.randint(1, a.users), "i%d" % min(item, a.items),
                         type_id, ts, value)
        ts += rng.randint(1, 1000)


def input_events(path, limit):
    try:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as e:
        raise InputError("cannot read --input %s: %s" % (path, e.strerror))
    n = 0
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if limit is not None and n >= limit:
                return
            where = "%s:%d" % (path, lineno)
            try:
                o = json.loads(line)
            except ValueError as e:
                raise InputError("%s: not JSON (%s)" % (where, e))
            if not isinstance(o, dict) or not all(k in o for k in ("user", "item", "type", "ts")):
                raise InputError('%s: need an object with "user", "item", "type", "ts"' % where)
            t = o["type"]
            type_id = t if isinstance(t, int) else TYPE_IDS.get(t)
            if type_id is None:
                raise InputError("%s: unknown type %r (known: %s)" % (where, t, ", ".join(TYPE_IDS)))
            if not isinstance(o["ts"], int) or isinstance(o["ts"], bool):
                raise InputError("%s: ts must be an integer (ms since the epoch)" % where)
            value = o.get("value", 1.0)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise InputError("%s: value must be a number" % where)
            yield make_event(str(o["user"]), str(o["item"]), type_id, o["ts"], float(value))
            n += 1


def spoil(ev, nth):
    """Make an event invalid in a way WIRE.md §7 calls a per-event reject."""
    if nth % 2:
        ev[1] = ""      # empty item -> empty_id
    else:
        ev[2] = 0       # type outside 1..255 -> unknown_type


class Batch:
    def __init__(self, seq, corr, events, frame, bad):
        self.seq, self.corr, self.events, self.frame, self.bad = seq, corr, events, frame, bad
        self.attempts, self.deadline, self.unavailable = 0, 0.0, 0


def batches(a, producer, events):
    seq, n, it = a.first_seq, 0, iter(events)
    while True:
        chunk, bad = list(itertools.islice(it, a.batch)), set()
        if not chunk:
            return
        for i, ev in enumerate(chunk):
            n += 1
            if a.bad_every and n % a.bad_every == 0:
                spoil(ev, n // a.bad_every)
                bad.add(i)
        frame = encode_frame(producer, seq, chunk)
        if len(frame) > DEFAULT_MAX_FRAME and not a.warned_size:
            a.warned_size = True
            print("producer: warning: batch seq %d is a %d-byte frame, over the cluster default "
                  "limits.max_frame_bytes of %d: a node with that limit refuses it; use a smaller --batch"
                  % (seq, len(frame), DEFAULT_MAX_FRAME), file=sys.stderr)
        yield Batch(seq, struct.pack(">Q", seq), chunk, frame, bad)
        seq += 1


def parse_ack(data):
    if data[:1] != WIRE_VERSION:
        raise ValueError("ack does not start with version byte 0x01")
    ack = msgpack.unpackb(data[1:], raw=False, strict_map_key=False)
    if not isinstance(ack, dict) or ack.get(2) not in STATUS or not isinstance(ack.get(3), int):
        raise ValueError("not an ack map with a known status (key 2) and stored (key 3): %.200r"
                         % (ack,))
    rejects = []
    for index, reason in ack.get(4) or []:  # [index, reason] pairs; unknown reasons count too
        rejects.append((int(index), str(reason)))
    return STATUS[ack[2]], ack[3], rejects, ack.get(5, ""), ack


def run(a, producer, events):
    s = {"producer": producer, "batches": 0, "events_sent": 0, "stored": 0, "duplicates": 0,
         "refused": 0, "rejects": {}, "resends": 0, "seconds": 0.0, "acked_items": {}}
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(a.connect)
    pending, source, exhausted, done = {}, batches(a, producer, events), False, set()
    t0, ok = time.monotonic(), True

    def send(b):
        if b.attempts:
            s["resends"] += 1
        b.attempts += 1
        b.deadline = time.monotonic() + a.timeout_ms / 1000.0
        sock.send_multipart([b.corr, b.frame])

    try:
        while True:
            while not exhausted and len(pending) < a.window:
                b = next(source, None)
                if b is None:
                    exhausted = True
                    break
                pending[b.corr] = b
                s["batches"] += 1
                s["events_sent"] += len(b.events)
                send(b)
            if exhausted and not pending:
                break
            wait = min(b.deadline for b in pending.values()) - time.monotonic()
            if sock.poll(max(0, int(wait * 1000) + 1)):
                handle(sock.recv_multipart(), pending, done, s, a)
            now = time.monotonic()
            for b in [b for b in pending.values() if b.deadline <= now]:
                if b.attempts >= a.max_attempts:
                    print("producer: giving up on batch seq %d after %d attempts (%d batches "
                          "unacked)" % (b.seq, b.attempts, len(pending)), file=sys.stderr)
                    ok = False
                    break
                send(b)
            if not ok:
                break
    except KeyboardInterrupt:
        print("producer: interrupted with %d batches unacked" % len(pending), file=sys.stderr)
        ok = False
    finally:
        sock.close()
        ctx.term()
    s["seconds"] = round(time.monotonic() - t0, 3)
    return s, ok


def handle(parts, pending, done, s, a):
    if len(parts) != 2:
        print("producer: ignoring a reply of %d frames (expected 2)" % len(parts), file=sys.stderr)
        return
    corr, data = parts
    try:
        status, stored, rejects, message, ack = parse_ack(data)
    except Exception as e:  # noqa: BLE001 - like a lost reply: resent after the timeout
        print("producer: ignoring an undecodable ack: %s" % e, file=sys.stderr)
        return
    s["stored"] += stored  # partial "unavailable" acks count too: those events are stored
    b = pending.get(corr)
    if b is None:
        if corr not in done:
            print("producer: ack for unknown correlation id %s" % corr.hex(), file=sys.stderr)
        return
    if status in ("ok", "duplicate") and ack.get(1) != b.seq:
        print("producer: warning: ack for seq %r on the correlation of seq %d"
              % (ack.get(1), b.seq), file=sys.stderr)
    if status == "unavailable":  # resend the same bytes after 0.1 s, doubling up to 5 s
        b.deadline = time.monotonic() + min(0.1 * 2 ** b.unavailable, 5.0)
        b.unavailable += 1
        if a.verbose:
            print("producer: seq %d unavailable: %.200s" % (b.seq, message), file=sys.stderr)
        return
    del pending[corr]
    done.add(corr)
    if status == "refused":
        s["refused"] += 1
        print("producer: batch seq %d refused: %s" % (b.seq, message), file=sys.stderr)
        return
    if status == "duplicate":
        s["duplicates"] += 1
    bad = set(b.bad)
    for index, reason in rejects:
        s["rejects"][reason] = s["rejects"].get(reason, 0) + 1
        bad.add(index)
    items = s["acked_items"]
    for i, ev in enumerate(b.events):
        if i not in bad:
            items[ev[1]] = items.get(ev[1], 0) + 1


def positive(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1, got %s" % text)
    return v


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action):  # no "(default: None)" noise
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


EPILOG = """\
acks: ok (stored; per-event rejects are named), duplicate (the cluster already held this
(producer, seq); counted as stored earlier), refused (whole frame invalid or over the
node's max_frame_bytes; final, never resent: fix the producer or use a smaller --batch),
unavailable (an owner could not store its part; the same bytes are resent after a
back-off of 0.1 s doubling up to 5 s). An undecodable ack counts as no ack.

--summary json prints {"producer", "batches", "events_sent", "stored" (events the acks
report as newly stored), "duplicates" (batches), "refused" (batches), "rejects"
{reason: n}, "resends", "seconds", "acked_items" {item: events of that item in ok or
duplicate batches minus rejected ones}}.

exit status: 0 = every batch got a final ack (ok, duplicate or refused), 1 = gave up
(or interrupted), 2 = bad arguments or bad --input."""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] + "\n\n" +
                                __doc__.split("\n\n")[1], epilog=EPILOG,
                                formatter_class=HelpFormatter)
    p.add_argument("--connect", metavar="ENDPOINT", required=True, help="a node's ingest endpoint, e.g. tcp://127.0.0.1:5551")
    p.add_argument("--producer", metavar="ID", help="producer name (wire key 0, 1..256 UTF-8 bytes); reuse it "
                   "with the same seqs to resend (the cluster drops known (producer, seq) pairs). "
                   "Default: py-PID-MS, unique per run")
    p.add_argument("--events", metavar="N", type=int, help="events to generate (default 10000); with --input, "
                   "send at most this many")
    p.add_argument("--batch", metavar="B", type=positive, default=1000, help="events per batch (1..65536)")
    p.add_argument("--window", metavar="W", type=positive, default=16, help="most batches sent but not yet acked")
    p.add_argument("--timeout-ms", metavar="T", type=positive, default=5000, help="resend a batch unacked this long")
    p.add_argument("--max-attempts", metavar="N", type=positive, default=20, help="sends of one batch before giving up")
    p.add_argument("--first-seq", metavar="SEQ", type=int, default=1, help="seq (wire key 1) of the first batch; "
                   "later batches count up by one")
    p.add_argument("--seed", metavar="S", type=int, default=42, help="random seed: same seed, same events")
    p.add_argument("--items", metavar="K", type=positive, default=1000, help="synthetic items i1..iK")
    p.add_argument("--users", metavar="U", type=positive, default=500, help="synthetic users u1..uU")
    p.add_argument("--skew", metavar="SKEW", type=float, default=0.0, help="item popularity weight 1/rank^SKEW "
                   "(0 = uniform, 0.5..1 = mildly skewed)")
    p.add_argument("--types", metavar="NAMES", default="view,cart,purchase", help="comma-separated type names "
                   "picked uniformly; known: " + ",".join(TYPE_IDS) + " (rate gets value 1..5)")
    p.add_argument("--start-ms", metavar="MS", type=int, default=1700000000000, help="ts of the first synthetic "
                   "event (ms since the epoch); each next one is 1..1000 ms later")
    p.add_argument("--bad-every", metavar="N", type=int, default=0, help="make every Nth event invalid, "
                   "alternately an empty item (reject empty_id) and type id 0 (unknown_type); 0 = never")
    p.add_argument("--input", metavar="FILE.jsonl", help="send canonical JSON Lines events "
                   '{"user","item","type"(name),"ts","value"} from this file ("-" = stdin) instead of synthetic ones')
    p.add_argument("--summary", choices=("text", "json"), default="text",
                   help="json: exactly one JSON object on stdout")
    p.add_argument("-v", "--verbose", action="store_true", help="log unavailable acks on stderr")
    a = p.parse_args(argv)
    a.warned_size = False
    if a.batch > 65536:
        p.error("--batch must be at most 65536 (WIRE.md max_events)")
    if a.events is not None and a.events < 0:
        p.error("--events must be >= 0")
    if a.input is None and a.events is None:
        a.events = 10000
    if not 0 <= a.first_seq < 2 ** 64:
        p.error("--first-seq must be in 0..2^64-1")
    if a.bad_every < 0:
        p.error("--bad-every must be >= 0")
    if a.skew < 0:
        p.error("--skew must be >= 0")
    if not 0 <= a.start_ms < TS_END:
        p.error("--start-ms must be in [0, %d)" % TS_END)
    unknown = [t for t in a.types.split(",") if t not in TYPE_IDS]
    if unknown or not a.types:
        p.error("--types: unknown type name(s) %s; known: %s" % (",".join(unknown), ",".join(TYPE_IDS)))
    a.type_ids = [TYPE_IDS[t] for t in a.types.split(",")]
    if a.producer is None:
        a.producer = "py-%d-%d" % (os.getpid(), int(time.time() * 1000))
    if not 1 <= len(a.producer.encode()) <= 256:
        p.error("--producer must be 1..256 bytes of UTF-8")
    if not a.connect.startswith(("tcp://", "ipc://", "inproc://")):
        p.error("--connect must be a ZeroMQ endpoint like tcp://HOST:PORT, got %r" % a.connect)
    return a


def main(argv):
    a = parse_args(argv)
    events = input_events(a.input, a.events) if a.input else synthetic_events(a, a.type_ids)
    try:
        s, ok = run(a, a.producer, events)
    except InputError as e:
        print("producer: %s" % e, file=sys.stderr)
        return 2
    except zmq.ZMQError as e:
        print("producer: cannot use --connect %s: %s" % (a.connect, e), file=sys.stderr)
        return 2
    if a.summary == "json":
        print(json.dumps(s, sort_keys=False))
    else:
        print("producer %s: %d batches, %d events sent, %d stored, %d duplicate batches, "
              "%d refused, %d resends, %.3f s" % (s["producer"], s["batches"], s["events_sent"],
              s["stored"], s["duplicates"], s["refused"], s["resends"], s["seconds"]))
        for reason, n in sorted(s["rejects"].items()):
            print("  rejected %s: %d" % (reason, n))
        print("  %d distinct items stored; %s" % (len(s["acked_items"]),
              "complete" if ok else "GAVE UP: some batches were never acked"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
