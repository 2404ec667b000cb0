-- the floor: one plain INSERT per transaction, no NOTIFY
INSERT INTO public.bench_t (body) VALUES ('x');
