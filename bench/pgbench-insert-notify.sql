-- one INSERT plus one NOTIFY per transaction (what NOTIFY alone costs)
WITH i AS (INSERT INTO public.bench_t (body) VALUES ('x') RETURNING id)
SELECT pg_notify('bench', 'm ' || id) FROM i;
