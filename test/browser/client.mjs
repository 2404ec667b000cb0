// client.mjs - crosstalk.js's protocol logic against a scripted fake daemon
// (node + ws; no browser, no stack): resume from the last seq, events
// de-duplicated by seq even when a server repeats itself, unacknowledged
// publishes re-sent with the same client_id, a fresh ticket per connect,
// growing jittered backoff, giving up after repeated 4001s, and the
// <cfwebsocket>-style object on top.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import WebSocket, { WebSocketServer } from 'ws';
import { run, until, sleep, here } from './lib.mjs';

function loadClient() {
	const ctx = {
		WebSocket, crypto: globalThis.crypto, setTimeout, clearTimeout, setInterval, clearInterval,
		console, Promise, URL, fetch, Date, Math, JSON,
	};
	ctx.window = ctx;
	vm.createContext(ctx);
	vm.runInContext(fs.readFileSync(path.join(here, '../../web/crosstalk.js'), 'utf8'), ctx,
		{ filename: 'crosstalk.js' });
	return ctx.crosstalk;
}

// a fake daemon; each connection is handed to script(conn, n)
function fakeDaemon(script) {
	return new Promise((resolve) => {
		const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => [...p][0] });
		let n = 0;
		const log = [];
		wss.on('connection', (ws) => {
			const k = ++n;
			const frames = [];
			const waiters = [];
			ws.on('message', (d) => {
				const o = JSON.parse(String(d));
				log.push([k, o]);
				frames.push(o);
				for (const w of waiters.splice(0))
					w();
			});
			const conn = {
				ws,
				send: (...objs) => ws.send(objs.map((o) => JSON.stringify(o)).join('\n')),
				// next frame of a type (bounded wait)
				next: async (type, ms = 3000) => {
					const end = Date.now() + ms;
					for (let i = 0; i < 1000 && Date.now() < end; i++) {
						const j = frames.findIndex((f) => f.type === type);
						if (j >= 0)
							return frames.splice(j, 1)[0];
						await new Promise((r) => {
							waiters.push(r);
							setTimeout(r, 50);
						});
					}
					return null;
				},
			};
			script(conn, k).catch((e) => log.push([k, { type: 'script-error', message: String(e) }]));
		});
		wss.on('listening', () => resolve({ wss, url: `ws://127.0.0.1:${wss.address().port}/ws`, log }));
	});
}

const ev = (seq, text, extra = {}) => ({
	type: 'message', id: String(100 + seq), seq: String(seq), channel: 'general', app: 'app1',
	user: { id: 'u2', name: 'Two' }, text, created_at: '2026-11-25T20:00:00.000Z', created_at_ms: 1, ...extra,
});

await run('browser_client', 60, async (T) => {
	const ct = loadClient();
	T.eq(ct.dmChannel('zed', 'amy'), 'dm:amy:zed', 'dmChannel sorts the ids');
	// by code point, as C and SQL (COLLATE "C") do: upper case first, and
	// U+FF21 before U+1F600 (JavaScript's < says the opposite)
	T.eq(ct.dmChannel('alice', 'Bob'), 'dm:Bob:alice', 'dmChannel: code point order');
	T.eq(ct.dmChannel('\u{1F600}', '\uFF21'), 'dm:\uFF21:\u{1F600}', 'dmChannel: beyond the BMP');
	T.eq(ct.dmChannel('Bob Smith', "O'Brien"), "dm:Bob Smith:O'Brien", 'dmChannel: blanks and quotes');
	let threw = false;
	try {
		ct.dmChannel('a:b', 'c');
	} catch (e) {
		threw = true;
	}
	T.ok(threw, 'dmChannel refuses an id with ":"');
	T.eq(ct.wsUrlFor('https://chat.example.com/crosstalk.js'), 'wss://chat.example.com/ws', 'wsUrlFor');

	// --- resume, dedupe, outbox -------------------------------------
	let resumeAfter = null, republished = null, firstCid = null;
	const d1 = await fakeDaemon(async (c, k) => {
		const auth = await c.next('auth');
		if (!auth)
			return;
		c.send({ type: 'welcome', user: { app: 'app1', id: 'u1', name: 'One' }, node: 'fake' });
		const sub = await c.next('subscribe');
		if (k === 1) {
			T.eq([auth.ticket, sub.after], ['t1', '0'], 'first connect: ticket t1, after 0');
			c.send(ev(1, 'a'), ev(2, 'b'), ev(3, 'c'), { type: 'subscribed', channel: 'general', last_seq: '3' });
			c.send(ev(4, 'd'));
			c.send(ev(4, 'd'), ev(3, 'c')); // a confused server repeats itself
			const pub = await c.next('publish');
			firstCid = pub && pub.client_id;
			await sleep(100);
			c.ws.terminate(); // no ack: the connection dies first
		} else {
			T.eq(auth.ticket, 't2', 'reconnect uses a fresh ticket from getTicket');
			resumeAfter = sub.after;
			c.send(ev(3, 'c'), ev(4, 'd'), ev(5, 'e'), { type: 'subscribed', channel: 'general', last_seq: '5' });
			const pub = await c.next('publish');
			republished = pub && pub.client_id;
			c.send(ev(6, pub.text, { client_id: pub.client_id, user: { id: 'u1', name: 'One' } }),
				{ type: 'ack', client_id: pub.client_id, id: '106', seq: '6', channel: 'general' });
		}
	});
	const seen = [];
	const states = [];
	let tickets = 0;
	const conn = new ct.Connection({
		url: d1.url, ticket: 't1', backoffMs: 100,
		getTicket: () => Promise.resolve(`t${++tickets + 1}`),
	});
	conn.on('event', (e) => seen.push(e.seq));
	conn.on('state', (s) => states.push(s));
	conn.subscribe('general');
	conn.open();
	await until(() => seen.length >= 4, 5000);
	const acked = conn.publish('general', 'hello');
	const ack = await Promise.race([acked, sleep(8000).then(() => null)]);
	T.ok(ack && ack.seq === '6', 'publish acknowledged after the reconnect', JSON.stringify(ack));
	T.eq(resumeAfter, '4', 'resubscribed with after = last seq seen');
	T.ok(firstCid && republished === firstCid, 'unacknowledged publish re-sent with the same client_id');
	await until(() => seen.length >= 6, 3000);
	T.eq(seen, ['1', '2', '3', '4', '5', '6'], 'every event once, in order, across the reconnect');
	T.ok(states.includes('reconnecting') && states[states.length - 1] === 'open', 'states: reconnecting, then open',
		states.join(','));
	conn.close();
	T.eq(conn.state, 'closed', 'close() closes');
	d1.wss.close();

	// --- backoff grows, with jitter, and stops after repeated 4001 ---
	const times = [];
	const d2 = await fakeDaemon(async (c) => {
		times.push(Date.now());
		await c.next('auth');
		c.ws.close(4001, 'bad ticket');
	});
	let asked = 0;
	const c2 = new ct.Connection({ url: d2.url, backoffMs: 100, getTicket: () => `x${++asked}` });
	const errors = [];
	c2.on('error', (e) => errors.push(e.code));
	c2.open();
	await until(() => c2.state === 'closed', 8000);
	T.eq(c2.state, 'closed', 'gives up after repeated 4001');
	T.ok(errors.includes('unauthorized'), 'reports unauthorized');
	T.eq(asked, 4, 'one fresh ticket per attempt');
	const gaps = times.slice(1).map((t, i) => t - times[i]);
	// attempt n waits between ceil/2 and ceil, ceil = 100 ms * 2^n
	T.ok(gaps.length === 3 && gaps[0] >= 45 && gaps[1] >= 95 && gaps[2] >= 195 && gaps[2] < 900,
		'delays grow (100, 200, 400 ms ceilings, half of each random)', JSON.stringify(gaps));
	d2.wss.close();

	// --- the <cfwebsocket> object ------------------------------------
	const d3 = await fakeDaemon(async (c) => {
		await c.next('auth');
		c.send({ type: 'welcome', user: { app: 'app1', id: 'u1', name: 'One' } });
	});
	const got = [];
	const handlers = {
		msgHandler: (m) => got.push(m),
		openHandler: () => got.push({ type: 'opened' }),
	};
	const cf = new ct.WebSocket({ url: d3.url, ticket: 'c1', onMessage: handlers.msgHandler, onOpen: handlers.openHandler,
		subscribeTo: 'general,news', directMessages: false });
	await until(() => cf.isConnectionOpen(), 3000);
	T.ok(cf.isConnectionOpen(), 'isConnectionOpen()');
	T.eq(cf.getSubscriptions().sort(), ['general', 'news'], 'getSubscriptions() lists subscribeTo');
	T.ok(got.some((m) => m.type === 'opened'), 'onOpen called');
	for (const m of ['subscribe', 'unsubscribe', 'publish', 'getSubscriberCount', 'getSubscriptions', 'openConnection',
		'closeConnection', 'isConnectionOpen', 'sendMessage'])
		T.ok(typeof cf[m] === 'function', `has ${m}()`);
	cf.closeConnection();
	T.ok(!cf.isConnectionOpen(), 'closeConnection()');
	d3.wss.close();
});
