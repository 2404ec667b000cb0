// client.mjs - crosstalk.js's protocol logic against a scripted fake daemon
// (node + ws; no browser, no stack): resume from the last seq, events
// de-duplicated by seq even when a server repeats itself, unacknowledged
// publishes re-sent with the same client_id, a fresh ticket per connect,
// growing jittered backoff, giving up after repeated 4001s, and the
// <cfwebsocket>-style object on top.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import http from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { run, until, sleep, here } from './lib.mjs';

// timers the client holds now (to prove closeConnection() leaves none)
const live = { timeouts: new Set(), intervals: new Set() };
function trackedTimers() {
	return {
		setTimeout: (fn, ms, ...a) => {
			const id = setTimeout(() => {
				live.timeouts.delete(id);
				fn(...a);
			}, ms);
			live.timeouts.add(id);
			return id;
		},
		clearTimeout: (id) => {
			live.timeouts.delete(id);
			clearTimeout(id);
		},
		setInterval: (fn, ms, ...a) => {
			const id = setInterval(fn, ms, ...a);
			live.intervals.add(id);
			return id;
		},
		clearInterval: (id) => {
			live.intervals.delete(id);
			clearInterval(id);
		},
	};
}

let page = null; /* the window crosstalk.js ran in */
function loadClient() {
	const ctx = {
		WebSocket, crypto: globalThis.crypto, ...trackedTimers(),
		console, Promise, URL, fetch, Date, Math, JSON, FormData, Blob,
	};
	ctx.window = ctx;
	vm.createContext(ctx);
	vm.runInContext(fs.readFileSync(path.join(here, '../../web/crosstalk.js'), 'utf8'), ctx,
		{ filename: 'crosstalk.js' });
	page = ctx;
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

	// --- moving from <cfwebsocket>: what ColdFusion's object does ---------
	const unhandled = [];
	const onUnhandled = (r) => unhandled.push(r);
	process.on('unhandledRejection', onUnhandled);
	const channels = [
		{ name: 'general', last_seq: '5' }, { name: 'stocks', last_seq: '1' },
		{ name: 'stocks.nasdaq', last_seq: '9' }, { name: 'stocks.nasdaq.aapl', last_seq: '2' },
		{ name: 'stockshop', last_seq: '3' }, { name: 'dm:u1:u9', last_seq: '4', unread: 1 },
	];
	const subs4 = [];
	const d4 = await fakeDaemon(async (c, n) => {
		await c.next('auth');
		c.send({ type: 'welcome', user: { app: 'app1', id: 'u1', name: 'One' } });
		for (;;) {
			const f = await c.next('subscribe', 400) || await c.next('channels', 400) ||
				await c.next('publish', 400) || await c.next('unsubscribe', 400);
			if (!f) {
				if (c.ws.readyState !== 1)
					return;
				continue;
			}
			if (f.type === 'subscribe') {
				subs4.push([n, f.channel, f.after]);
				if (f.channel === 'secret')
					c.send({ type: 'error', code: 'forbidden', message: 'not for you', ref: f.ref });
				else
					c.send({ type: 'subscribed', channel: f.channel, last_seq: '0', ref: f.ref });
			} else if (f.type === 'channels') {
				c.send({ type: 'channels', channels, ref: f.ref });
			} else if (f.type === 'unsubscribe') {
				c.send({ type: 'unsubscribed', channel: f.channel, ref: f.ref });
			} else if (f.channel === 'closed') {
				c.send({ type: 'error', code: 'forbidden', message: 'closed to app1', ref: f.ref });
			} else {
				c.send({ type: 'ack', client_id: f.client_id, id: '7', seq: '1' });
			}
		}
	});
	const heard = [];
	const cf4 = new ct.WebSocket({ url: d4.url, ticket: 't4', getTicket: async () => 't4b',
		onMessage: (m) => heard.push(m), subscribeTo: 'general' });
	await until(() => cf4.isConnectionOpen(), 3000);
	await sleep(300);
	T.ok(!subs4.some((x) => /^dm:/.test(x[1])), 'direct channels are not subscribed unless asked for',
		JSON.stringify(subs4));
	T.eq(live.intervals.size, 1, 'no timer but the keepalive ping: nothing polls the channel list');
	cf4.subscribe('stocks');
	await until(() => subs4.some((x) => x[1] === 'stocks.nasdaq.aapl'), 3000);
	const subNames = subs4.map((x) => x[1]);
	T.ok(subNames.includes('stocks.nasdaq') && subNames.includes('stocks.nasdaq.aapl'),
		'subscribing to stocks subscribes its sub-channels too', JSON.stringify(subNames));
	T.ok(!subNames.includes('stockshop'), 'stockshop is no sub-channel of stocks');
	T.eq(cf4.getSubscriptions().sort(), ['general', 'stocks'], 'getSubscriptions(): what the page asked for');
	T.ok(heard.some((m) => m.type === 'response' && m.reqType === 'getSubscriptions' &&
		JSON.stringify(m.channels.sort()) === '["general","stocks"]'), 'getSubscriptions() also answers in onMessage');
	T.ok(heard.some((m) => m.type === 'response' && m.reqType === 'subscribe' && m.channelname === 'stocks' &&
		m.code === 0), 'subscribe() answers in onMessage');
	// a message on the sub-channel reaches the parent's subscriber, with its own channelname
	await until(() => cf4.conn.channels['stocks.nasdaq.aapl'] && cf4.conn.channels['stocks.nasdaq.aapl'].live, 3000);
	const daemonConn = [...d4.wss.clients][0];
	daemonConn.send(JSON.stringify(ev(3, 'AAPL 190.5', { channel: 'stocks.nasdaq.aapl' })) + '\n' +
		JSON.stringify(ev(4, 'psst', { channel: 'dm:u1:u9' })));
	await until(() => heard.some((m) => m.type === 'data' && m.data === 'AAPL 190.5'), 2000);
	const tick = heard.find((m) => m.type === 'data' && m.data === 'AAPL 190.5');
	T.eq(tick && tick.channelname, 'stocks.nasdaq.aapl', 'a sub-channel message reaches the stocks subscriber');
	T.ok(!heard.some((m) => m.data === 'psst'), 'a direct message never reaches an onMessage that did not opt in');
	// publish: the ack in onMessage; an error without onError in onMessage; no unhandled rejection
	cf4.publish('general', 'hello');
	cf4.publish('closed', 'nope');
	await until(() => heard.some((m) => m.reqType === 'publish' && m.code === -1), 3000);
	T.ok(heard.some((m) => m.type === 'response' && m.reqType === 'publish' && m.code === 0 &&
		m.channelname === 'general'), 'publish() answers in onMessage');
	const perr = heard.find((m) => m.reqType === 'publish' && m.code === -1);
	T.ok(perr && perr.type === 'response' && perr.reason === 'forbidden' && /closed/.test(perr.msg),
		'an error without onError goes to onMessage, code -1', JSON.stringify(perr));
	cf4.subscribe('secret');
	cf4.invoke('stocks.Quotes', 'latest', ['AAPL']);
	cf4.invokeAndPublish('general', 'stocks.Quotes', 'latest', ['AAPL']);
	await until(() => heard.filter((m) => /^(invoke|invokeAndPublish)$/.test(m.reqType)).length >= 2 &&
		heard.some((m) => m.reqType === 'subscribe' && m.code === -1), 3000);
	T.ok(heard.some((m) => m.reqType === 'invoke' && m.code === -1 && /invokeUrl/.test(m.msg)),
		'invoke() without an invokeUrl says what it needs, in onMessage');
	T.ok(heard.some((m) => m.reqType === 'subscribe' && m.code === -1 && m.channelname === 'secret'),
		'a refused subscribe answers in onMessage');
	const ok = await cf4.authenticate('bob', 'hunter2');
	T.eq(ok, true, 'authenticate(): signed in by the ticket');
	T.ok(!d4.log.some(([, o]) => JSON.stringify(o).includes('hunter2')), 'authenticate() sends the password nowhere');
	T.ok(heard.some((m) => m.reqType === 'authenticate' && m.code === 0), 'authenticate() answers in onMessage');
		const cfj = page.ColdFusion && page.ColdFusion.JSON;
	T.eq(cfj ? cfj.decode(cfj.encode({ a: [1, 'b'] })) : null, { a: [1, 'b'] }, 'ColdFusion.JSON.encode/decode');
	// resume: after a reconnect every channel, sub-channels included, goes on from its own last seq
	daemonConn.terminate();
	await until(() => subs4.filter((x) => x[0] === 2).length >= 4, 8000);
	const again = Object.fromEntries(subs4.filter((x) => x[0] === 2).map((x) => [x[1], x[2]]));
	T.eq(again['stocks.nasdaq.aapl'], '3', 'after a reconnect, a sub-channel resumes from its own last seq',
		JSON.stringify(again));
	T.ok(again.general !== undefined && again.stocks !== undefined, 'and its parent and the rest resubscribe');
	cf4.closeConnection();
	await sleep(100);
	T.eq(live.intervals.size + live.timeouts.size, 0, 'closeConnection() leaves no timer running',
		`${live.intervals.size} intervals, ${live.timeouts.size} timeouts`);
	d4.wss.close();

	// direct messages, opted in: the channel list is looked at now and then - until closeConnection()
	const d5 = await fakeDaemon(async (c) => {
		await c.next('auth');
		c.send({ type: 'welcome', user: { app: 'app1', id: 'u1', name: 'One' } });
		for (;;) {
			const f = await c.next('channels', 400) || await c.next('subscribe', 400);
			if (!f) {
				if (c.ws.readyState !== 1)
					return;
				continue;
			}
			if (f.type === 'channels')
				c.send({ type: 'channels', channels, ref: f.ref });
			else
				c.send({ type: 'subscribed', channel: f.channel, last_seq: '0', ref: f.ref });
		}
	});
	const dms = [];
	const cf5 = new ct.WebSocket({ url: d5.url, ticket: 't5', directMessages: true, onMessage: () => {},
		onDirectMessage: (m) => dms.push(m) });
	await until(() => d5.log.some(([, o]) => o.type === 'subscribe' && o.channel === 'dm:u1:u9'), 3000);
	T.ok(d5.log.some(([, o]) => o.type === 'subscribe' && o.channel === 'dm:u1:u9'),
		'directMessages: true subscribes the user\'s direct channels');
	T.eq(live.intervals.size, 2, 'and looks for new ones now and then (beside the keepalive ping)');
	await until(() => cf5.conn.channels['dm:u1:u9'] && cf5.conn.channels['dm:u1:u9'].live, 3000);
	[...d5.wss.clients][0].send(JSON.stringify(ev(5, 'hi you', { channel: 'dm:u1:u9' })));
	await until(() => dms.length, 2000);
	T.eq(dms.map((m) => m.data), ['hi you'], 'direct messages go to onDirectMessage');
	cf5.closeConnection();
	await sleep(100);
	T.eq(live.intervals.size + live.timeouts.size, 0, 'closeConnection() stops that timer too',
		`${live.intervals.size} intervals, ${live.timeouts.size} timeouts`);
	d5.wss.close();

	// --- attachments: upload() and fileUrls() ------------------------
	const posts = [];
	const web = http.createServer((req, res) => {
		const parts = [];
		req.on('data', (b) => parts.push(b));
		req.on('end', () => {
			const body = Buffer.concat(parts).toString('latin1');
			const token = /name="token"\r\n\r\n([^\r]*)/.exec(body);
			posts.push({ token: token && token[1], tokenFirst: body.indexOf('name="token"') < body.indexOf('name="file"'),
				filename: (/name="file"; filename="([^"]*)"/.exec(body) || [])[1] });
			const send = (status, j) => {
				res.writeHead(status, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
				res.end(JSON.stringify(j));
			};
			if (token && token[1] === 'tok1' && body.includes('EXPIRED'))
				send(401, { ok: false, error: { code: 'unauthorized', message: 'token expired' } });
			else if (body.includes('<html>'))
				send(415, { ok: false, error: { code: 'unsupported_media_type', message: 'text/html is not accepted' } });
			else
				send(201, { ok: true, attachment: { id: String(posts.length), name: posts[posts.length - 1].filename,
					type: 'text/plain', size: 5, channel: 'general' } });
		});
	});
	await new Promise((ok) => web.listen(0, '127.0.0.1', ok));
	const fileFrames = [], uploadFrames = [];
	let published = null;
	const d6 = await fakeDaemon(async (c) => {
		await c.next('auth');
		c.send({ type: 'welcome', user: { app: 'app1', id: 'u1', name: 'One' } });
		for (;;) {
			const f = await c.next('upload', 100) || await c.next('files', 100) || await c.next('publish', 100);
			if (c.ws.readyState > 1)
				return;
			if (!f)
				continue;
			if (f.type === 'upload') {
				uploadFrames.push(f);
				c.send({ type: 'upload', ref: f.ref, channel: f.channel, url: `http://127.0.0.1:${web.address().port}/api/v1/attachments`,
					token: `tok${uploadFrames.length}`, max_size: 1000, expires_at_ms: Date.now() + 300000 });
			} else if (f.type === 'files') {
				fileFrames.push(f.ids);
				const urls = {};
				for (const id of f.ids)
					if (id !== 'gone')
						urls[id] = { url: `http://files.example/files?id=${id}&n=${fileFrames.length}`, expires_at_ms: Date.now() + 300000 };
				c.send({ type: 'files', ref: f.ref, urls });
			} else {
				published = f;
				c.send({ type: 'ack', client_id: f.client_id, id: '900', seq: '9', channel: f.channel });
			}
		}
	});
	const c6 = new ct.Connection({ url: d6.url, ticket: 't' });
	const opened = new Promise((ok) => c6.on('welcome', ok));
	c6.open();
	await opened;
	const progress = [];
	const a1 = await c6.upload('general', new page.Blob(['hello']), { name: 'a.txt', onProgress: (p) => progress.push(p.loaded) });
	T.ok(a1 && a1.id === '1' && a1.name === 'a.txt', 'upload() resolves with the attachment', JSON.stringify(a1));
	T.eq(posts[0], { token: 'tok1', tokenFirst: true, filename: 'a.txt' }, 'upload() posts the token, then the file with its name');
	T.eq(uploadFrames.map((f) => [f.channel, typeof f.ref]), [['general', 'string']], 'one upload frame, with a ref');
	T.eq(progress[0], 0, 'onProgress hears of the start');
	await c6.upload('general', new page.Blob(['again']), { name: 'b.txt' });
	T.eq(uploadFrames.length, 1, 'the token is kept for the channel');
	let big = null;
	await c6.upload('general', new page.Blob([new Uint8Array(1001)]), { name: 'big.bin' }).catch((e) => { big = e; });
	T.ok(big && big.code === 'too_large' && big.maxSize === 1000 && posts.length === 2,
		'a file over max_size is refused before anything is sent', JSON.stringify(big && { code: big.code, max: big.maxSize }));
	let bad = null;
	await c6.upload('general', new page.Blob(['<html>']), { name: 'x.html' }).catch((e) => { bad = e; });
	T.ok(bad && bad.code === 'unsupported_media_type' && bad.status === 415 && bad.message === 'text/html is not accepted' &&
		Object.prototype.toString.call(bad) === '[object Error]', 'a refusal is an Error with the server\'s code, status and message',
	JSON.stringify(bad && { code: bad.code, status: bad.status, message: bad.message }));
	const a3 = await c6.upload('general', new page.Blob(['EXPIRED']), { name: 'c.txt' });
	T.ok(a3 && uploadFrames.length === 2 && posts[posts.length - 1].token === 'tok2',
		'a token the server no longer takes: a fresh one, and the upload again', JSON.stringify(posts.map((p) => p.token)));
	const fack = await c6.publish('general', '', 'c-f1', { files: [7, '8'] });
	T.ok(fack && published && JSON.stringify(published.files) === '["7","8"]' && published.text === '',
		'publish() sends files (ids as strings), text may be empty', JSON.stringify(published));
	const ids = Array.from({ length: 120 }, (_, i) => String(i + 1)).concat(['gone']);
	const [u1, u2] = await Promise.all([c6.fileUrls(ids), c6.fileUrls(['1', '2'])]);
	T.eq(fileFrames.map((f) => f.length), [50, 50, 21], 'fileUrls: at most 50 ids a frame, calls of one moment asked together');
	T.ok(Object.keys(u1).length === 120 && !u1.gone && u2['1'].url === u1['1'].url && u1['5'].expires_at_ms > Date.now(),
		'links for every id the server answered, none for the others');
	const u3 = await c6.fileUrls(['1', '119']);
	T.ok(fileFrames.length === 3 && u3['119'].url === u1['119'].url, 'links are kept until near expiry');
	const u4 = await c6.fileUrls(['1'], { fresh: true });
	T.ok(fileFrames.length === 4 && u4['1'].url !== u1['1'].url, 'fresh: true asks again');
	c6.close();
	d6.wss.close();
	web.close();

	await sleep(200);
	process.off('unhandledRejection', onUnhandled);
	T.eq(unhandled.length, 0, 'no promise of the <cfwebsocket> object ended as an unhandled rejection',
		unhandled.map(String).join('; '));
});
