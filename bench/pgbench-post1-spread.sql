-- one post_message() per transaction, spread over 100 channels
\set n random(1, 1000000000)
\set c random(0, 99)
SELECT id FROM crosstalk.post_message('app1', 'bench-pg', 'PG Bench', 'bench' || :c, 'pgbench ' || :n);
