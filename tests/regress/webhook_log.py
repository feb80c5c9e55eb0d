#!/usr/bin/python3
"""webhook_log.py LOG PATH FIELD... -- the requests webhook_server.py recorded
in LOG for URL path PATH, one line each in arrival order, with the FIELDs
asked separated by spaces:
  t, concurrent, index, action   the server's record (t: seconds, float)
  h:NAME                         request header NAME ("-" if absent)
  b:NAME                         member NAME of the JSON body
"""
import json
import sys


def main():
    log, path, fields = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        lines = open(log).read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue   # a line being written
        if r.get("path") != path:
            continue
        body = json.loads(r["body"]) if r.get("body") else {}
        out = []
        for f in fields:
            if f.startswith("h:"):
                v = r["headers"].get(f[2:], "-")
            elif f.startswith("b:"):
                v = body.get(f[2:], "-")
            else:
                v = r.get(f, "-")
            out.append(str(v))
        print(" ".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
