#!/usr/bin/python3
"""Checks `smtpcap --json` output.

  check_json.py contract FILE.json...          every object obeys DESIGN.md's JSON contract
  check_json.py expect EXPECTED.tsv DIR SMTPCAP  every session of every capture listed in
                                                 EXPECTED.tsv matches what it says

Exit status 0 when everything holds; otherwise each failure is printed and the status is 1.
"""
import json
import re
import subprocess
import sys

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ENH = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
STAGES = {"CONNECT", "EHLO", "STARTTLS", "TLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
          "QUIT", "OTHER"}
OUTCOMES = {"delivered", "partial", "failed", "tempfail", "incomplete", "encrypted", "no_mail"}
MSG_STATUS = {"accepted", "rejected", "tempfail", "aborted", "incomplete"}
AUTH_RESULTS = {"success", "failure", "cancelled", "unknown"}
AUTH_STEPS = {"prompt", "username", "password", "response", "result"}

# type -> {member: predicate}
def is_str(v): return isinstance(v, str)
def is_int(v): return isinstance(v, int) and not isinstance(v, bool)
def opt(p): return lambda v: v is None or p(v)
def is_ts(v): return is_str(v) and TS.match(v) is not None
def is_stage(v): return v in STAGES
def is_enh(v): return is_str(v) and ENH.match(v) is not None
def is_num(v): return isinstance(v, (int, float)) and not isinstance(v, bool)

CONTRACT = {
    "command": {"ts": is_ts, "stage": opt(is_stage), "verb": is_str, "arg": is_str, "line": is_str},
    "reply": {"ts": is_ts, "stage": opt(is_stage), "code": lambda v: is_int(v) and 100 <= v <= 599,
              "enhanced": opt(is_enh), "lines": lambda v: isinstance(v, list) and all(map(is_str, v)),
              "to": opt(is_str), "latency_ms": opt(is_num), "meaning": is_str},
    "auth": {"ts": is_ts, "mechanism": is_str, "step": lambda v: v in AUTH_STEPS, "decoded": is_str},
    "tls": {"ts": is_ts, "mode": lambda v: v in ("starttls", "implicit"), "note": is_str},
    "gap": {"dir": lambda v: v in ("client", "server"), "bytes": lambda v: is_int(v) and v > 0},
    "session": {"client": is_str, "server": is_str, "start": is_ts, "end": is_ts,
                "tls": lambda v: v in ("none", "starttls", "implicit"), "helo": opt(is_str),
                "midstream": lambda v: isinstance(v, bool), "gaps": is_int,
                "auth": lambda v: isinstance(v, list), "messages": lambda v: isinstance(v, list),
                "outcome": lambda v: isinstance(v, dict), "warnings": lambda v: isinstance(v, list)},
}
AUTH_MEMBERS = {"mechanism": is_str, "username": opt(is_str), "result": lambda v: v in AUTH_RESULTS,
                "code": opt(is_int), "enhanced": opt(is_enh)}
MSG_MEMBERS = {"mail_from": opt(is_str), "mail_code": opt(is_int), "rcpt_to": lambda v: isinstance(v, list),
               "data_code": opt(is_int), "data_enhanced": opt(is_enh), "queue_id": opt(is_str),
               "size": opt(is_int), "status": lambda v: v in MSG_STATUS}
RCPT_MEMBERS = {"address": is_str, "code": opt(is_int), "enhanced": opt(is_enh)}
OUTCOME_MEMBERS = {"status": lambda v: v in OUTCOMES, "stage": opt(is_stage), "code": opt(is_int),
                   "enhanced": opt(is_enh), "text": opt(is_str), "hint": is_str}


def check_members(obj, members, where, errors):
    for k, pred in members.items():
        if k not in obj:
            errors.append(f"{where}: member {k!r} missing")
        elif not pred(obj[k]):
            errors.append(f"{where}: member {k!r} has a bad value {obj[k]!r}")


def check_contract(lines, name):
    errors = []
    ended = set()
    for n, line in enumerate(lines, 1):
        where = f"{name}:{n}"
        try:
            obj = json.loads(line)
        except ValueError as e:
            errors.append(f"{where}: not JSON ({e})")
            continue
        if not isinstance(obj, dict) or "type" not in obj or not is_int(obj.get("session")):
            errors.append(f"{where}: no type/session")
            continue
        if obj["session"] in ended:
            errors.append(f"{where}: object after its session's 'session' object")
        t = obj["type"]
        if t in CONTRACT:
            check_members(obj, CONTRACT[t], f"{where} ({t})", errors)
        if t == "session":
            ended.add(obj["session"])
            for a in obj.get("auth", []):
                check_members(a, AUTH_MEMBERS, f"{where} auth", errors)
            for m in obj.get("messages", []):
                check_members(m, MSG_MEMBERS, f"{where} message", errors)
                for r in m.get("rcpt_to", []):
                    check_members(r, RCPT_MEMBERS, f"{where} rcpt", errors)
            if isinstance(obj.get("outcome"), dict):
                check_members(obj["outcome"], OUTCOME_MEMBERS, f"{where} outcome", errors)
        if t == "auth" and obj.get("step") == "password" and obj.get("decoded") != "********":
            errors.append(f"{where}: password not masked")
    return errors


def dash(v):
    return None if v == "-" else v


def code_enh(s):
    code, _, enh = s.partition("/")
    return (None if code == "-" else int(code)), dash(enh)


def describe_messages(msgs):
    out = []
    for m in msgs:
        rc = ",".join(f"{r['address']}={r['code'] if r['code'] is not None else '-'}/{r['enhanced'] or '-'}"
                      for r in m["rcpt_to"])
        data = "-" if m["data_code"] is None else f"{m['data_code']}/{m['data_enhanced'] or '-'}"
        out.append(f"{m['mail_from']}>{rc}>{data}>{m['queue_id'] or '-'}>{m['status']}")
    return "|".join(out) or "-"


def describe_auth(auth):
    return ";".join(f"{a['mechanism']}:{a['username'] or '-'}:{a['result']}:{a['code'] or '-'}:"
                    f"{a['enhanced'] or '-'}" for a in auth) or "-"


def describe_outcome(o, want):
    parts = [o["status"], o["stage"] or "-", str(o["code"]) if o["code"] is not None else "-",
             o["enhanced"] or "-"]
    return ":".join(parts[:len(want.split(":"))])


def check_expect(tsv, capdir, smtpcap):
    errors = []
    expected = {}
    for line in open(tsv, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        f = line.rstrip("\n").split("\t")
        expected.setdefault(f[0], []).append(f)
    total = 0
    for fname, rows in expected.items():
        out = subprocess.run([smtpcap, "--json", "-r", f"{capdir}/{fname}"], capture_output=True,
                             text=True)
        if out.returncode != 0:
            errors.append(f"{fname}: smtpcap exited {out.returncode}: {out.stderr.strip()}")
            continue
        sessions = [json.loads(l) for l in out.stdout.splitlines() if '"type":"session"' in l]
        if len(sessions) != len(rows):
            errors.append(f"{fname}: {len(sessions)} sessions, expected {len(rows)}")
        for row in rows:
            _, port, tls, helo, auth, msgs, outcome = row
            if port == "*":
                cand = sessions[:1] if len(rows) == 1 else []
            else:
                cand = [s for s in sessions if s["client"].endswith(":" + port)]
            if len(cand) != 1:
                errors.append(f"{fname} port {port}: session not found")
                continue
            s = cand[0]
            total += 1
            got = {"tls": s["tls"], "helo": s["helo"] or "-", "auth": describe_auth(s["auth"]),
                   "messages": describe_messages(s["messages"]),
                   "outcome": describe_outcome(s["outcome"], outcome)}
            want = {"tls": tls, "helo": helo, "auth": auth, "messages": msgs, "outcome": outcome}
            for k in want:
                if got[k] != want[k]:
                    errors.append(f"{fname} port {port}: {k}\n    expected {want[k]}\n    got      {got[k]}")
    print(f"checked {total} sessions in {len(expected)} captures")
    return errors


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "contract":
        errors = []
        for path in sys.argv[2:]:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
            errors += check_contract(lines, path)
    elif len(sys.argv) == 5 and sys.argv[1] == "expect":
        errors = check_expect(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
