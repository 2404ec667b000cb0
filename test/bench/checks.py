#!/usr/bin/env python3
"""bench_checks: the benchmark's delivery checks catch a server that goes
wrong. ctbench-raw with --fault duplicates, drops, reorders or misroutes
every 50th message; ctbench must count each kind and not call the step
sustained. The same server without a fault must give clean counts and a
sustained step, so the checks do not cry wolf either."""
import os
import subprocess
import sys
import time

from ct import free_port

BIN = os.environ['CT_BIN']
RAW = os.path.join(BIN, 'bench', 'ctbench-raw')
BENCH = os.path.join(BIN, 'bench', 'ctbench')
failures = 0


def check(cond, what, detail=''):
    global failures
    print(('ok: ' if cond else 'FAIL: ') + what + ('' if cond else f' ({detail})'))
    if not cond:
        failures += 1


def step(fault):
    """One 1-s step at 400 msg/s over 4 channels x 5 subscribers; the
    RESULT line's fields."""
    port = free_port()
    argv = [RAW, str(port), 'once', '--max-seconds', '60']
    if fault:
        argv += ['--fault', fault]
    srv = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run(
            [BENCH, 'fanout', '--proto', 'plain', '--ws', str(port), '--http', str(port),
             '--subs', '20', '--channels', '4', '--pin', '--pub-conns', '4',
             '--rates', '400', '--duration', '1', '--drain', '1', '--hold', '0.2',
             '--warmup', '0', '--refine', '0', '--reps', '1', '--keep-going',
             '--max-p99-ms', '1000', '--timeout', '40'],
            capture_output=True, text=True, timeout=50)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith('RESULT ')]
    if not lines:
        check(False, f'{fault or "no fault"}: a RESULT line', out.stderr[-400:])
        return {}
    return dict(kv.split('=', 1) for kv in lines[0].split()[1:] if '=' in kv)


clean = step(None)
check(clean.get('sustained') == '1', 'no fault: the step is sustained', clean)
for k in ('lost', 'dups', 'ooo', 'wrong_chan'):
    check(clean.get(k) == '0', f'no fault: {k} = 0', clean.get(k))
check(int(clean.get('delivered', 0)) == int(clean.get('expected', -1)) > 0,
      'no fault: every expected delivery arrived', clean)

# what each fault must show, and that the step is then not sustained
got = {}
for fault, field in (('dup', 'dups'), ('drop', 'lost'), ('swap', 'ooo'), ('chan', 'wrong_chan')):
    r = got[fault] = step(fault)
    n = int(r.get(field, 0)) if r else 0
    check(n > 0, f'{fault}: counted in {field}', f'{field}={r.get(field)}')
    check(r.get('sustained') == '0', f'{fault}: the step is not sustained', r.get('sustained'))
# a delivery to the wrong readers does not make up for the one their own
# channel's readers missed
check(int(got['chan'].get('lost', 0)) > 0, 'chan: the misrouted messages count as lost',
      got['chan'].get('lost'))

print(f'{failures} failed')
sys.exit(1 if failures else 0)
