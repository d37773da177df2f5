#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target from our recorded Syncthing
captures (syncthing-fixtures/recorded), test fixtures and the wire examples of
the tests, into fuzz/seeds/<target>/. scripts/fuzz starts from these plus the
committed corpus; `cargo fuzz cmin` then keeps what adds coverage.

Run from anywhere: fuzz/seed.py  (rewrites fuzz/seeds/ from scratch)."""

import hashlib
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "syncthing-fixtures" / "recorded"
SEEDS = ROOT / "fuzz" / "seeds"
HASH = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
PID = "6f1c1f0e-2a57-4c33-9d0e-7f5b2c1a9e44"
UID = "0b7e2f5c-77a1-4d2e-8f9a-1c2d3e4f5a6b"


def rust_str(body):
    """The value of a Rust string literal's body (the escapes our tests use)."""
    return re.sub(r'\\(u\{([0-9a-fA-F]+)\}|0|n|t|\\|")',
                  lambda m: chr(int(m.group(2), 16)) if m.group(2) else
                  {"0": "\0", "n": "\n", "t": "\t", "\\": "\\", '"': '"'}[m.group(1)], body)


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    elif not isinstance(data, bytes):
        data = json.dumps(data, ensure_ascii=False).encode()
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def recorded(prefix):
    for p in sorted(RECORDED.glob(prefix + "*.json")):
        yield p.name, json.loads(p.read_text())


def event_arrays(v, out):
    """Every array of event envelopes anywhere in a capture."""
    if isinstance(v, list):
        if any(isinstance(i, dict) and "id" in i and "type" in i for i in v):
            out.append(v)
        else:
            for i in v:
                event_arrays(i, out)
    elif isinstance(v, dict):
        for i in v.values():
            event_arrays(i, out)


def all_events():
    arrays = []
    for p in sorted(RECORDED.glob("*.json")):
        event_arrays(json.loads(p.read_text()), arrays)
    return [e for a in arrays for e in a]


def paths_in_captures(events):
    names = set()
    for e in events:
        d = e.get("data")
        if isinstance(d, dict):
            for k in ("item", "path", "filenames"):
                v = d.get(k)
                if isinstance(v, str):
                    names.add(v)
                elif isinstance(v, list):
                    names.update(x for x in v if isinstance(x, str))
    return sorted(names)


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    events = all_events()

    # --- the path rule: the table of cloud/protocol/src/path.rs, names from captures.
    path_rs = (ROOT / "cloud/protocol/src/path.rs").read_text()
    table = re.findall(r'^\s*\("((?:[^"\\]|\\.)*)", (?:Ok|Err)', path_rs, re.M)
    paths = [rust_str(p) for p in table]
    paths += paths_in_captures(events)
    paths += ["a" * 4096, "con.txt/x", "C:\\x", "a/./b", "\u202ertl", "x" * 300 + "/y"]
    for p in paths:
        put("path", p)

    # --- a change and a files/update body.
    changes = [
        {"path": "shots/a.mp4", "op": "create", "hash": HASH, "size": 123, "mtime": 1732850000123},
        {"path": "a", "op": "update", "hash": HASH, "size": 0, "mtime": 0},
        {"path": "x", "op": "delete"},
        {"path": "../a", "op": "create", "hash": HASH, "size": 1, "mtime": 0},
        {"path": "a", "op": "delete", "size": 3},
        {"path": "a", "op": "create", "hash": "sha256:00", "size": 1, "mtime": 0},
        {"path": "a", "op": "create", "hash": HASH, "size": 9007199254740993, "mtime": 0},
        {"path": "a", "op": "move"},
        {"path": "a", "op": "delete", "extra": 1},
        {"path": "C:/x", "op": "update", "hash": HASH, "size": 1, "mtime": -1},
    ]
    for c in changes:
        put("change", c)
    put("change", {"batch_id": PID, "changes": changes[:3]})
    put("change", {"batch_id": PID, "changes": changes})
    put("change", {"batch_id": PID, "changes": []})

    # --- WebSocket messages, both directions.
    progress = [
        {"path": "a", "state": "synced", "percent": 100.0},
        {"path": "b/c.mp4", "state": "syncing", "percent": 42.5, "local_hash": HASH},
        {"path": "d", "state": "error", "percent": 0, "error": "no space left on device"},
        {"path": "e", "state": "ignored_here", "percent": 0.0},
        {"path": "/abs", "state": "conflict", "percent": 101},
    ]
    for m in [
        {"type": "subscribe", "project_id": PID, "since_seq": 5},
        {"type": "unsubscribe", "project_id": PID},
        {"type": "progress", "project_id": PID, "files": progress, "seq": 7},
        {"type": "progress", "project_id": PID, "files": []},
        {"type": "progress", "project_id": PID, "files": progress[:1], "seq": 18446744073709551615},
        {"type": "dance"},
    ]:
        put("client_message", m)
    event_rows = [{"seq": i + 1, "change": c, "created_at": "2026-11-29T05:30:00.123Z"}
                  for i, c in enumerate(changes)]
    reported = [dict(p, reported_at="2026-11-29T05:30:00Z") for p in progress]
    for m in [
        {"type": "events", "project_id": PID, "events": event_rows[:3], "last_seq": 3},
        {"type": "events", "project_id": PID, "events": event_rows, "last_seq": 10},
        {"type": "member_progress", "project_id": PID, "user_id": UID, "name": "bob", "files": reported},
        {"type": "error", "code": "access_revoked", "message": "m", "project_id": PID},
        {"type": "error", "code": "bad_request", "message": "m"},
        {"type": "resync", "project_id": PID},
        {"type": "progress_ack", "project_id": PID, "seq": 9},
    ]:
        put("server_message", m)

    # --- the cloud's catch-up answers.
    put("cloud_answers", {"events": event_rows[:3], "next_seq": 3, "has_more": False})
    put("cloud_answers", {"events": event_rows, "next_seq": 10, "has_more": True})
    put("cloud_answers", {"events": [], "next_seq": 0, "has_more": False})
    put("cloud_answers", {"files": [
        {"path": "a", "size": 1, "hash": HASH, "mtime": 3, "version": 2, "seq": 7},
        {"path": "b", "size": 0, "hash": HASH, "mtime": 0, "version": 9223372036854775807, "seq": 8,
         "deleted_at": "2026-11-29T00:00:00Z", "deleted_by": UID},
        {"path": "../x", "size": 1, "hash": HASH, "mtime": 3, "version": 1, "seq": 9},
    ], "as_of_seq": 9})
    put("cloud_answers", {"files": [], "as_of_seq": 0})

    # --- Syncthing's events: each capture's arrays, and each event type alone.
    for name, v in recorded("events-"):
        arrays = []
        event_arrays(v, arrays)
        for a in arrays:
            put("syncthing_events", a[:12])
    by_type = {}
    for e in events:
        by_type.setdefault(e.get("type"), e)
    for e in by_type.values():
        put("syncthing_events", [e])
        bad = dict(e, data={"folder": 3})
        put("syncthing_events", [bad])
    put("syncthing_events", [{"id": "x", "type": "StateChanged"}, {"id": 1, "type": "Nope", "data": None}])
    put("syncthing_events", [])

    # --- db/file, db/status, completion: captures, event bodies, 2.x shapes.
    for name, v in recorded("db-file-"):
        put("db_file", v)
    v2 = (ROOT / "companion/src/syncthing/v2_tests.rs").read_text()
    put("db_file", {"global": {"name": "a.txt", "type": "FILE_INFO_TYPE_FILE", "size": 3, "localFlags": 16,
                               "modified": "2025-08-12T10:00:00.123456789+02:00", "version": ["ABCDEFG:1"],
                               "numBlocks": 1, "platform": {"unix": None}},
                    "local": {"name": "", "localFlags": 32, "version": None},
                    "availability": None})
    assert "getDBFile" in v2
    for name, v in recorded("db-status-"):
        put("db_status", v)
    for e in events:
        if e.get("type") == "FolderSummary" and isinstance(e.get("data"), dict):
            put("db_status", e["data"].get("summary"))
    for name, v in recorded("db-completion-"):
        put("completion", v)
    for e in events:
        if e.get("type") == "FolderCompletion":
            put("completion", e.get("data"))
    put("completion", {"completion": 0.0, "globalBytes": 1000, "needBytes": 1000, "globalItems": 1,
                       "needItems": 1, "needDeletes": 0, "sequence": 0, "remoteState": "unknown"})
    put("completion", {"completion": 1e308, "sequence": -1, "remoteState": None})

    # --- config.xml: the generated files and the discovery tests' shapes.
    for p in sorted((ROOT / "syncthing-fixtures/tests/data").glob("*.xml")):
        put("config_xml", p.read_bytes())
    gui = '<gui enabled="true" tls="{tls}"><address>{addr}</address><apikey>{key}</apikey></gui>'
    for tls, addr, key in [("false", "127.0.0.1:8384", "k"), ("true", "0.0.0.0:8384", " k "),
                           ("false", "[::]:8384", ""), ("false", "unix:///run/st.sock", "k"),
                           ("false", "https://host:99999", "k"), ("false", ":8384", "k")]:
        put("config_xml", '<configuration version="36"><folder id="p" path="/srv/p" type="receiveonly">'
                          '<device id="A"></device><paused>true</paused></folder><device id="A" name="a"/>'
                          + gui.format(tls=tls, addr=addr, key=key)
                          + '<defaults><folder id=""><device id="A"/></folder></defaults></configuration>')
    put("config_xml", '<configuration version="36"></configuration>')

    # --- .stignore: the pattern tables of companion/tests/ignore.rs, captures' ignore lists.
    ignore_rs = (ROOT / "companion/tests/ignore.rs").read_text()
    for m in re.finditer(r'&\[((?:r?"(?:[^"\\]|\\.)*",?\s*)+)\]', ignore_rs):
        lines = [rust_str(s) if not raw else s
                 for raw, s in re.findall(r'(r?)"((?:[^"\\]|\\.)*)"', m.group(1))]
        put("stignore", "\n".join(lines))
    for name, v in recorded("ignoredelete"):
        arrays = []
        s = json.dumps(v)
        for ig in re.findall(r'"(?:ignore|expanded)": (\[[^\]]*\])', s):
            put("stignore", "\n".join(json.loads(ig)))
    put("stignore", "#include other\n(?d)(?i)!**/x/**\n[unclosed\na**b**c**d**e**f\n"
                    "name.sync-conflict-20261129-051504-ASMRTYP.txt\ndir/.sync-conflict-20261129-051504")

    # --- the companion's config.toml.
    for t in [
        '[cloud]\nurl = "https://cloud.example"\ntoken = "t0k"\n',
        '[syncthing]\nhome = "/home/a/.config/syncthing"\nurl = "http://127.0.0.1:8384"\napi_key = "k"\n',
        '[dashboard]\nlisten = "127.0.0.1:8385"\n',
        '# comment\n[cloud]\nurl = \'lit\'\n[dashboard]\nlisten = """\nx"""\n',
        '[cloud]\nextra = 1\n',
        'cloud = { url = "u", token = "t" }\nsyncthing.home = "h"\n',
        '',
    ]:
        put("config_toml", t)

    for d in sorted(SEEDS.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds")


if __name__ == "__main__":
    main()
