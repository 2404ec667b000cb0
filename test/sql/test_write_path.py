"""post_message(): gapless seqs in commit order under concurrent writers,
a reader that never skips, idempotent client_id, rollback leaves no trace,
errors carry the contract's status."""
import json
import subprocess
import threading
import time

from ct import ENV, PSQL as CT_PSQL, T, sql, sql1, uniq

PSQL = [CT_PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", ENV["PGHOST"],
        "-p", ENV["PGPORT"], "-U", ENV["PGUSER"], "-d", ENV["PGDATABASE"]]

ch = uniq("seq")
sql("SELECT crosstalk.create_channel(:'v1', 'seq test', NULL)", ch)

WRITERS, TOTAL = 8, 500
per = [TOTAL // WRITERS + (1 if i < TOTAL % WRITERS else 0) for i in range(WRITERS)]


def writer(i, n):
    # one transaction per statement (autocommit), as apps post
    stmts = "".join(
        "SELECT 1 FROM crosstalk.post_message('app1', 'w%d', 'Writer', '%s', 'm%d-%d');\n"
        % (i, ch, i, k) for k in range(n))
    r = subprocess.run(PSQL, input=stmts, capture_output=True, text=True)
    errors.append(r.stderr.strip()) if r.returncode else None


skips = []
reads = [0]
stop = threading.Event()


def reader():
    """Poll as a client would (after = last seen) and check that every
    batch starts right after the last seq seen and has no holes."""
    last = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        rows = subprocess.run(
            PSQL + ["-c", "SELECT seq FROM crosstalk.messages WHERE channel = '%s' "
                    "AND seq > %d ORDER BY seq" % (ch, last)],
            capture_output=True, text=True).stdout.split()
        reads[0] += 1
        for s in map(int, rows):
            if s != last + 1:
                skips.append((last, s))
            last = s
        if last >= TOTAL or (stop.is_set() and not rows):
            return


errors = []
rt = threading.Thread(target=reader)
rt.start()
ts = [threading.Thread(target=writer, args=(i, n)) for i, n in enumerate(per)]
for t in ts:
    t.start()
for t in ts:
    t.join()
stop.set()
rt.join()

T.eq(errors, [], "writers succeeded")
seqs = [int(r[0]) for r in sql("SELECT seq FROM crosstalk.messages WHERE channel = :'v1' ORDER BY seq", ch)]
T.eq(seqs, list(range(1, TOTAL + 1)), "seqs 1..500 with no gap")
T.eq(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch), str(TOTAL), "channel counter")
T.eq(skips, [], "concurrent reader never skipped a seq (%d reads)" % reads[0])
# seq order is commit order: ids were taken in the same order as seqs
ids = [int(r[0]) for r in sql("SELECT id FROM crosstalk.messages WHERE channel = :'v1' ORDER BY seq", ch)]
T.eq(ids, sorted(ids), "ids grow with seq (allocated under the channel lock)")

# idempotent client_id
first = sql("SELECT (r).msg.id, (r).msg.seq, (r).created FROM (SELECT crosstalk.post_message_x('app1', 'idem', 'I', :'v1', 'once', 'cid-1', NULL) r) x", ch)[0]
again = sql("SELECT (r).msg.id, (r).msg.seq, (r).created FROM (SELECT crosstalk.post_message_x('app1', 'idem', 'I', :'v1', 'changed', 'cid-1', NULL) r) x", ch)[0]
T.eq(first[2], "t", "first post creates")
T.eq(again[:2], first[:2], "repeated client_id returns the original message")
T.eq(again[2], "f", "repeated client_id does not create")
T.eq(sql1("SELECT text FROM crosstalk.messages WHERE id = :'v1'", first[0]), "once", "original text kept")
T.eq(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch), str(TOTAL + 1), "no seq spent on the repeat")


def sqlstate(stmt, *args):
    try:
        sql("\\set VERBOSITY verbose\n" + stmt, *args)
        return None
    except RuntimeError as e:
        msg = str(e)
        return msg.split("ERROR:")[1].strip()[:5] if "ERROR:" in msg else msg


T.eq(sqlstate("SELECT crosstalk.post_message('app1', 'idem', 'I', 'random', 'x', 'cid-1')"),
     "CT409", "client_id reused in another channel: conflict")
T.eq(sqlstate("SELECT crosstalk.post_message('app1', 'u', 'U', 'no-such-channel', 'x')"),
     "CT404", "unknown channel: not found")
T.eq(sqlstate("SELECT crosstalk.post_message('app2', 'u', 'U', 'app1-only', 'x')"),
     "CT403", "restricted channel: forbidden for other apps")
T.eq(sqlstate("SELECT crosstalk.post_message('app1', 'carol', 'C', 'dm:alice:bob', 'x')"),
     "CT403", "DM: forbidden for a third user")
T.eq(sqlstate("SELECT crosstalk.post_message('app1', 'u', 'U', :'v1', '')", ch),
     "CT422", "empty text: invalid")
T.eq(sqlstate("SELECT crosstalk.post_message('app1', 'u', 'U', :'v1', repeat('x', 4001))", ch),
     "CT413", "4001 characters: too large")
T.eq(sqlstate("SELECT crosstalk.post_message('app1', 'u', 'U', 'Bad Name', 'x')"),
     "CT422", "bad channel name: invalid")
T.eq(sqlstate("SELECT crosstalk.post_message('app1', 'a:b', 'U', :'v1', 'x')", ch),
     "CT422", "user id with ':' : invalid")
T.eq(sql1("SELECT count(*) FROM crosstalk.channels WHERE name = 'no-such-channel'"), "0",
     "refused post created nothing")
n4000 = sql1("SELECT char_length((crosstalk.post_message('app1', 'u', 'U', :'v1', repeat('é', 4000))).text)", ch)
T.eq(n4000, "4000", "4000 two-byte characters accepted (limit counts characters)")

# a DM channel is created on first use, for its members only
dm = "dm:%s:%s" % tuple(sorted([uniq("a"), uniq("b")]))
u1 = dm.split(":")[1]
sql("SELECT crosstalk.post_message('app2', :'v2', 'A', :'v1', 'hi')", dm, u1)
T.eq(sql1("SELECT apps IS NULL FROM crosstalk.channels WHERE name = :'v1'", dm), "t", "DM channel created")

# rollback: nothing stored, no seq spent, no notification delivered
before = sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch)
sql("BEGIN; SELECT crosstalk.post_message('app1', 'rb', 'R', :'v1', 'never'); ROLLBACK;", ch)
T.eq(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch), before, "rollback leaves the counter")
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE text = 'never'"), "0", "rollback leaves no row")

# the NOTIFY payload names id, channel and seq; it is sent only on commit
out = subprocess.run(PSQL, input=(
    "LISTEN crosstalk;\n"
    "SELECT crosstalk.post_message('app1', 'n', 'N', '%s', 'notified') \\gset m_\n"
    "SELECT 1;\n" % ch), capture_output=True, text=True)
T.ok("Asynchronous notification \"crosstalk\" with payload \"m " in out.stdout + out.stderr
     and (" %s " % ch) in out.stdout + out.stderr,
     "post_message notifies 'm <id> <channel> <seq>'", out.stdout + out.stderr)

# edits and deletes are events with their own seqs; the message shows its state
mid = sql1("SELECT (crosstalk.post_message('app1', 'ed', 'Ed', :'v1', 'draft')).id", ch)
e = sql("SELECT (crosstalk.change_message('edited', 'app1', 'ed', :'v1'::bigint, 'final')).seq", mid)
T.eq(sql1("SELECT text FROM crosstalk.messages WHERE id = :'v1'", mid), "final", "edit updates the message")
T.eq(sqlstate("SELECT crosstalk.change_message('edited', 'app1', 'other', :'v1'::bigint, 'x')", mid),
     "CT403", "only the author edits")
sql("SELECT crosstalk.change_message('deleted', 'app1', NULL, :'v1'::bigint, NULL)", mid)
j = sql1("SELECT crosstalk.event_json(m) FROM crosstalk.messages m WHERE message_id = :'v1' AND kind = 'deleted'", mid)
jd = json.loads(j)
T.eq((jd["type"], jd["deleted"], jd["text"], jd["id"]), ("deleted", True, "", mid), "deleted event JSON fields")
T.eq(sqlstate("SELECT crosstalk.change_message('edited', 'app1', 'ed', :'v1'::bigint, 'again')", mid),
     "CT409", "a deleted message cannot be edited")
kinds = [r[0] for r in sql("SELECT kind FROM crosstalk.messages WHERE message_id = :'v1' ORDER BY seq", mid)]
T.eq(kinds, ["message", "edited", "deleted"], "stream holds the message and its events, in order")
T.ok(sql1("SELECT count(*) FROM crosstalk.event_json((SELECT m FROM crosstalk.messages m WHERE id = :'v1')) j "
          "WHERE j::text LIKE '%null%'", mid) == "0", "event JSON has no nulls")

# no GIN index the write path inserts into keeps a pending list: the insert
# that found the list full merged all of it into the index (a batch of
# posts waited 200-300 ms for it); also when search-config rebuilds one
pending = sql("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
              "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = 'crosstalk' AND a.amname = 'gin' "
              "AND NOT coalesce('fastupdate=off' = ANY (c.reloptions), false)")
T.eq(pending, [], "GIN indexes of crosstalk have fastupdate off")
T.ok(sql1("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
          "WHERE i.indrelid = 'crosstalk.messages'::regclass AND c.relam = "
          "(SELECT oid FROM pg_am WHERE amname = 'gin')") == "2", "messages has its two GIN indexes")
T.eq(sql1("SELECT pg_get_functiondef('crosstalk.set_search_config(text)'::regprocedure) "
          "LIKE '%USING gin (tsv) WITH (fastupdate = off)%'"), "t",
     "set_search_config rebuilds the search index without a pending list")

# a daemon's warm-up (crosstalk.warm_up, run on each new connection) goes
# through the whole group commit, up to taking a message id, and leaves
# nothing: no channel, message or rate-limit row, no notification
out = subprocess.run(PSQL, input=(
    "LISTEN crosstalk;\n"
    "SELECT crosstalk.warm_up();\n"
    "SELECT currval('crosstalk.messages_id_seq') > 0;\n"
    "SELECT count(*) FROM crosstalk.channels WHERE name LIKE 'dm:crosstalk-warm-up%';\n"
    "SELECT count(*) FROM crosstalk.messages WHERE user_id LIKE 'crosstalk-warm-up%';\n"
    "SELECT count(*) FROM crosstalk.rate_limits WHERE key LIKE '%crosstalk-warm-up%';\n"
    "SELECT 1;\n"), capture_output=True, text=True)
T.eq((out.stderr.strip(), out.stdout.split("\n")[:6]), ("", ["", "t", "0", "0", "0", "1"]),
     "warm_up reached the insert (a message id taken) and kept nothing")
T.ok("Asynchronous notification" not in out.stdout + out.stderr, "warm_up notified no one",
     out.stdout + out.stderr)

# the channel-name rule is one function, and creation and posting both
# apply it: [a-z0-9][a-z0-9_.-]{0,63}
for name, ok in (("a", True), ("a" * 64, True), ("a" * 65, False), ("0x_y.z-w", True),
                 ("-a", False), ("Ab", False), ("a b", False), ("", False)):
    T.eq(sql1("SELECT crosstalk.channel_name_refusal(:'v1') IS NULL", name), "t" if ok else "f",
         "channel_name_refusal(%r)" % name[:20])
long = "n" + uniq("n").replace("-", "") + "x" * 64
err = subprocess.run(PSQL, input="SELECT crosstalk.create_channel('%s', '', NULL);" % long[:65],
                     capture_output=True, text=True)
T.ok(err.returncode != 0 and "channel names are" in err.stderr, "create_channel refuses 65 characters",
     err.stderr.strip())
T.eq(sql("SELECT state, message FROM crosstalk.channel_refusal('app1', 'u', :'v1')", long[:65])[0],
     ["CT422", "channel names are [a-z0-9][a-z0-9_.-]{0,63}"], "and so does a post's check")
made = sql1("SELECT (crosstalk.create_channel(:'v1', '', NULL)).name", long[:64])
T.eq(made, long[:64], "64 characters are a name")
T.done()
