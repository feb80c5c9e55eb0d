#!/usr/bin/python3
"""sd-compare.py -- cal/ against systemd-analyze calendar on generated (expression,
base time) pairs: the normalised form and every elapse must be identical.

usage: sd-compare.py CAL_TOOL [--seed N] [--pairs N] [--iterations N] [--local ZONE]
(--local: the local zone, TZ for both sides, of the expressions without one; default UTC)
Exit 0 all equal, 1 differences (printed), 77 systemd-analyze missing.
Pairs where systemd fails to compute an elapse (EDEADLK) are counted apart:
there cal/ must give an elapse that is later than the base (its fallback rule).
systemd-analyze prints elapses to the second, so sub-second elapses are
compared truncated to the second."""
import os, random, re, shutil, subprocess, sys, calendar, datetime

def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__); return 2
    tool = args[0]
    opts = {'--seed': 15, '--pairs': 4000, '--iterations': 4, '--local': 'UTC'}
    for i in range(1, len(args) - 1, 2):
        opts[args[i]] = args[i + 1] if args[i] == '--local' else int(args[i + 1])
    sa = shutil.which('systemd-analyze')
    if not sa:
        print('sd-compare: systemd-analyze missing, skipped'); return 77
    rnd = random.Random(opts['--seed'])
    zones = ['', ' UTC', ' Europe/Paris', ' America/New_York', ' Australia/Lord_Howe', ' Europe/Dublin',
             ' Pacific/Chatham', ' Asia/Kolkata', ' America/Sao_Paulo', ' Pacific/Apia', ' Europe/Moscow',
             ' Africa/Casablanca', ' America/St_Johns', ' Asia/Tehran', ' Australia/Sydney',
             ' America/Santiago', ' Europe/London', ' Asia/Gaza', ' Antarctica/Troll', ' Etc/GMT-14']
    bodies = ['*-*-* 02:30', '*-*-* 01:30:00', '*-*-* 02:00:00', '*-*-* 03:00', '*:0/15', '*:*:0/20',
              'Mon..Fri 09:00', 'Sat,Sun *-*-* 02,03:00,30', '*-*-01 00:00', '*-02~1', '*-*~03..01 12:00',
              '*-02-29 00:00', '*-*-31 23:59:59', '2024..2030-03-* 02:00', 'hourly', 'daily', 'weekly',
              'monthly', 'yearly', 'annually', 'quarterly', 'semiannually', 'minutely', '*-*-* 0/3:00',
              '*-*-* 01..03:10/20', '*-*~1', '*-*~7/2 22:00', 'Sun *-*-1..7 01:00', 'Fri *-*-13',
              '*-*-* 00:00:00.5', '*-*-* 02:30:00.25,45.75', '*-*-* 23:30', '*-*-* 00:30', '*-*-* 12:00',
              '*:30', '*:45:30', 'Wed..Sat,Tue 12-10-15 1:2:3', '2003-03-05', '*-1/3-1 05:00',
              '*-*-* 02:45', '*-*-* 02:59:59', '*-*-* 03:59', '*-*-* 1,2,3:0/10', '*-10-* 01:*:0/30',
              'Mon *-*-* 00..04:00', 'Thu,Fri 2012-*-1,5 11:12:13', '*-*-* *:2/3:0', '03-05 08:05:40',
              '05:40', 'Mon,Sun 05:40', '*-*-* 0,12:00', '1999..2031-*-* 02:30', '*-12-31 23:59:59',
              '*-01-01 00:00:00', 'Mon..Wed,Sat 2030-*-* 02:15', '*-*-22/7 02:30']
    bases = []
    # DST and offset changes of the zones, 1972..2038, and leap/month ends.
    for y in (1972, 1979, 1988, 1996, 2008, 2011, 2014, 2016, 2019, 2021, 2024, 2026, 2027, 2031, 2037):
        for (m, d) in ((3, 8), (3, 25), (4, 1), (9, 20), (9, 26), (10, 1), (10, 25), (11, 1), (12, 29), (2, 27)):
            bases.append(calendar.timegm((y, m, d, rnd.randrange(24), rnd.randrange(60), 0)) * 10**6)
    pairs = {}
    for i in range(opts['--pairs']):
        b = rnd.choice(bases)
        e = rnd.choice(bodies) + rnd.choice(zones)
        pairs.setdefault(b, set()).add(e)
    n_pairs = n_eq = n_deadlk = 0
    bad = []
    env = dict(os.environ, TZ=opts['--local'], LC_ALL='C', SYSTEMD_COLORS='0')
    for b, exprs in sorted(pairs.items()):
        exprs = sorted(exprs)
        bt = datetime.datetime.utcfromtimestamp(b // 10**6).strftime('%Y-%m-%d %H:%M:%S UTC')
        r = subprocess.run([sa, 'calendar', '--iterations=%d' % opts['--iterations'], '--base-time=' + bt] + exprs,
                           env=env, capture_output=True, text=True)
        sd = parse_sa(r.stdout, r.stderr)
        inp = ''.join('%s\t%d\t%d\n' % (e, b, opts['--iterations']) for e in exprs)
        mine = subprocess.run([tool, 'batch'], input=inp, capture_output=True, text=True, env=env).stdout.splitlines()
        for e, m in zip(exprs, mine):
            n_pairs += 1
            s = sd.get(e)
            if s is None:
                bad.append('%s base %s: no systemd result' % (e, bt)); continue
            if s == 'parse-error':
                if not m.startswith('error:'):
                    bad.append('%s: systemd refuses it, cal says %s' % (e, m))
                else:
                    n_eq += 1
                continue
            if m.startswith('error:'):
                bad.append('%s: cal refuses it (%s), systemd says %s' % (e, m, s)); continue
            norm, _, el = m.partition('\t')
            el = [] if el == 'never' else [int(x) // 10**6 for x in el.split()]
            if s[0] == 'deadlk':
                n_deadlk += 1
                if not el or el[0] * 10**6 <= b - 10**6:
                    bad.append('%s base %s: systemd EDEADLK, cal gives %s %s' % (e, bt, norm, el))
                continue
            if norm != s[0] or el != s[1]:
                bad.append('%s base %s:\n   systemd %s %s\n   cal     %s %s' % (e, bt, s[0], s[1], norm, el))
                continue
            n_eq += 1
    for x in bad[:40]:
        print(x)
    print('sd-compare: %d pairs (local zone %s), %d identical, %d where systemd fails (EDEADLK), %d different'
          % (n_pairs, opts['--local'], n_eq, n_deadlk, len(bad)))
    return 1 if bad else 0

TS = re.compile(r'(?:Next elapse|Iter\. #\d+): \w+ (\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+) UTC')
TS_UTC = re.compile(r'\(in UTC\): \w+ (\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+) UTC')

def parse_sa(out, err):
    """{expr: (normalized, [elapse seconds]) | ('deadlk', normalized) | 'parse-error'}"""
    res = {}
    for blk in out.split('\n\n'):
        orig = norm = None; el = []
        # Elapses in UTC: the "(in UTC)" lines, or the elapse lines when the local zone is UTC.
        ts = TS_UTC if '(in UTC):' in blk else TS
        for line in blk.splitlines():
            line = line.strip()
            if line.startswith('Original form: '): orig = line[15:]
            elif line.startswith('Normalized form: '): norm = line[17:]
            else:
                mm = ts.search(line)
                if mm:
                    el.append(calendar.timegm(tuple(int(x) for x in mm.groups())))
        if norm is not None:
            res[orig if orig is not None else norm] = (norm, el)
    for line in err.splitlines():
        mm = re.match(r"Failed to parse calendar specification '(.*)': ", line)
        if mm: res[mm.group(1)] = 'parse-error'
        mm = re.match(r"Failed to determine next elapse for '(.*)': Resource deadlock avoided", line)
        if mm: res[mm.group(1)] = ('deadlk', None)
    return res

if __name__ == '__main__':
    sys.exit(main())
