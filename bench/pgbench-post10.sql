-- ten post_message() per transaction (one commit, ten NOTIFYs), one of 100 channels
\set n random(1, 1000000000)
\set c random(0, 99)
BEGIN;
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 1 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 2 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 3 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 4 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 5 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 6 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 7 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 8 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 9 ' || :n);
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench 10 ' || :n);
COMMIT;
