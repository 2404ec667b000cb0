-- one post_message() per transaction, all into one channel
\set n random(1, 1000000000)
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench0', 'pgbench ' || :n);
