"""crosstalkctl: keys printed once and stored only as hashes; app and
channel commands; prune; --help/--version; bad configs and an unreachable
database exit non-zero with a one-line reason, for all three programs."""
import hashlib
import os
import subprocess
import tempfile

from ct import ENV, T, sql, sql1, uniq

BIN = os.environ["CT_BIN"]
CTL = os.path.join(BIN, "ctl", "crosstalkctl")
PROGS = [CTL, os.path.join(BIN, "fcgi", "crosstalk-fcgi"), os.path.join(BIN, "wsd", "crosstalk-wsd")]
CONF = ENV["CROSSTALK_CONFIG"]


def ctl(*args, conf=CONF):
    return subprocess.run([CTL, "--config", conf] + list(args), capture_output=True, text=True, timeout=60)


app = uniq("a")
r = ctl("app", "add", app, "--origin", "https://one.example", "--origin", "http://127.0.0.1:9001")
T.eq(r.returncode, 0, "app add (%s)" % r.stderr.strip())
key = r.stdout.strip()
T.ok(key.startswith(app + ".") and len(key) >= len(app) + 33, "key is <app>.<secret>", key)
row = sql("SELECT key_hash, array_to_string(origins, ' ') FROM crosstalk.apps WHERE id = :'v1'", app)[0]
T.eq(row[0], hashlib.sha256(key.encode()).hexdigest(), "stored value is the key's sha256")
secret = key.split(".", 1)[1]
dump = sql1("SELECT string_agg(t::text, ' ') FROM crosstalk.apps t")
T.ok(secret not in dump and key not in dump, "the key is nowhere in the apps table in clear")
T.eq(row[1], "https://one.example http://127.0.0.1:9001", "origins stored")

r = ctl("app", "list")
T.ok(r.returncode == 0 and app in r.stdout and secret not in r.stdout, "app list shows the app, not its key")
r = ctl("app", "rotate-key", app)
key2 = r.stdout.strip()
T.ok(r.returncode == 0 and key2 != key and key2.startswith(app + "."), "rotate-key prints a new key")
T.eq(sql1("SELECT key_hash FROM crosstalk.apps WHERE id = :'v1'", app),
     hashlib.sha256(key2.encode()).hexdigest(), "rotated hash stored")

for bad, why in [(["app", "add", "Bad_App"], "ID must match"),
                 (["app", "add", uniq("a"), "--origin", "ftp://x"], "is not an origin"),
                 (["app", "add", uniq("a"), "--origin", "https://x.example/path"], "is not an origin"),
                 (["app", "add", app], "already exists"),
                 (["app", "remove", "no-such-app"], "no such app"),
                 (["channel", "add", "Bad Name"], "channel names"),
                 (["channel", "add", uniq("c"), "--apps", "ghost"], "unknown app"),
                 (["channel", "add", "general"], "already exists"),
                 (["prune", "--older-than", "x"], "DAYS"),
                 (["frobnicate"], "unknown command")]:
    r = ctl(*bad)
    T.ok(r.returncode != 0 and why in r.stderr and r.stderr.count("\n") == 1,
         "refused: %s" % " ".join(bad), repr(r.stderr))

c = uniq("c")
r = ctl("channel", "add", c, "--apps", "app1,%s" % app, "--title", "Team room")
T.eq(r.returncode, 0, "channel add with apps (%s)" % r.stderr.strip())
T.eq(sql1("SELECT array_to_string(apps, ',') || '|' || title FROM crosstalk.channels WHERE name = :'v1'", c),
     "app1,%s|Team room" % app, "channel stored with its apps and title")
r = ctl("channel", "list")
T.ok(c in r.stdout and "general\t*" in r.stdout, "channel list", r.stdout)

r = ctl("app", "remove", app)
T.eq(r.returncode, 0, "app remove")
T.eq(sql1("SELECT count(*) FROM crosstalk.apps WHERE id = :'v1'", app), "0", "app gone")

old = uniq("old")
sql("SELECT crosstalk.create_channel(:'v1', '', NULL)", old)
sql("SELECT crosstalk.post_message('app1', 'p', 'P', :'v1', 'ancient')", old)
sql("UPDATE crosstalk.messages SET created_at = now() - interval '40 days' WHERE channel = :'v1'", old)
sql("SELECT crosstalk.post_message('app1', 'p', 'P', :'v1', 'recent')", old)
r = ctl("prune", "--older-than", "30")
T.ok(r.returncode == 0 and "pruned" in r.stdout, "prune runs", r.stdout + r.stderr)
T.eq([x[0] for x in sql("SELECT text FROM crosstalk.messages WHERE channel = :'v1'", old)], ["recent"],
     "prune removed only the old message")

r = ctl("check")
T.ok(r.returncode == 0 and "schema: version" in r.stdout and "resolver: ok" in r.stdout, "check", r.stdout + r.stderr)

for p in PROGS:
    name = os.path.basename(p)
    h = subprocess.run([p, "--help"], capture_output=True, text=True)
    T.ok(h.returncode == 0 and "usage:" in h.stdout, "%s --help" % name)
    v = subprocess.run([p, "--version"], capture_output=True, text=True)
    T.ok(v.returncode == 0 and v.stdout.startswith(name + " "), "%s --version" % name, v.stdout)


def bad_conf(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    f.write(text)
    f.close()
    return f.name


cases = [
    ("[database]\nconninfo = host=/tmp\n[wsd]\nportt = 1\n", "unknown key 'portt' in [wsd]", ":4:"),
    ("[database]\nconninfo = host=/tmp\n[wsd]\nport = eighty\n", "not a whole number", ":4:"),
    ("[wsd]\nport = 9999\n", "missing required key database.conninfo", "conf"),
    ("[database]\nconninfo = host=127.0.0.1 port=1\nstartup_wait = 0\n", "database unreachable", "port 1"),
]
for text, why, where in cases:
    path = bad_conf(text)
    for p in PROGS:
        args = [p, "--config", path] + (["check"] if p == CTL else [])
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        T.ok(r.returncode != 0 and len(lines) == 1 and why in lines[0] and where in lines[0],
             "%s refuses: %s" % (os.path.basename(p), why), repr(r.stderr))
    os.unlink(path)

# the daemons retry an unreachable database at start, one line per attempt
path = bad_conf("[database]\nconninfo = host=127.0.0.1 port=1\nstartup_wait = 2\n")
for p in PROGS[1:]:
    r = subprocess.run([p, "--config", path], capture_output=True, text=True, timeout=30)
    retries = [l for l in r.stderr.splitlines() if "retrying" in l and "attempt=" in l]
    T.ok(r.returncode != 0 and len(retries) >= 2 and "database unreachable" in r.stderr.splitlines()[-1],
         "%s retries with back-off, then exits" % os.path.basename(p), r.stderr[-600:])
os.unlink(path)
T.done()
