// migrate.mjs - the <cfwebsocket> pages of docs/MIGRATING.md, taken from the
// document: each "after" page differs from its "before" in the tag line
// alone, and runs in Chromium on two apps' origins (CFML's #...# filled in
// the way ColdFusion would, for the few expressions the pages use):
//  - chat: bob (app1) and carol (app2) chat through the unchanged handlers,
//    objects published by the page arrive as objects, the online count
//    answers in onMessage, a direct message to bob never shows up on it;
//  - ticker: quotes published by the server on stocks.nasdaq and stocks.nyse
//    reach the stocks subscriber with their channelname, invokeAndPublish
//    runs the app's invoke page and publishes what it returns, and after
//    closeConnection()/openConnection() each sub-channel resumes: what was
//    published meanwhile arrives exactly once;
//  - nowhere an "Uncaught (in promise)" or a page error.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
	readEnv, run, testOrigins, launch, watchPage, until, sleep, api, session, SRC,
} from './lib.mjs';

function pagesOf(md) {
	const out = {};
	const re = /<!-- page: (\S+) (before|after) -->\n```cfml\n([\s\S]*?)```/g;
	for (let m; (m = re.exec(md));)
		(out[m[1]] = out[m[1]] || {})[m[2]] = m[3];
	return out;
}

// what ColdFusion would send for the "after" page: <cfoutput> gone, the
// page's #expressions# evaluated; an expression not known here is an error,
// so the document cannot use CFML this test does not vouch for
function render(cfml, vals) {
	return cfml.replace(/<\/?cfoutput>/g, '').replace(/#([^#\n]+)#/g, (m, expr) => {
		if (!(expr in vals))
			throw new Error(`the page uses ${m}, which the test cannot evaluate`);
		return vals[expr];
	});
}

function jsString(s) {
	return JSON.stringify(String(s)).slice(1, -1);
}

async function ensureChannel(env, name) {
	const r = await api(env, 'POST', 'channels/create', { body: { name, title: name } });
	if (r.status !== 200 && r.status !== 409)
		throw new Error(`channels/create ${name}: ${r.status} ${JSON.stringify(r.json)}`);
}

await run('browser_migrate', 150, async (T, logs) => {
	const state = process.env.CT_STATE;
	const env = readEnv(state);
	const md = fs.readFileSync(path.join(SRC, 'docs/MIGRATING.md'), 'utf8');
	const pages = pagesOf(md);
	for (const name of ['chat.cfm', 'ticker.cfm']) {
		const p = pages[name] || {};
		if (!T.ok(p.before && p.after, `MIGRATING.md has ${name} before and after`))
			return;
		const b = p.before.split('\n'), a = p.after.split('\n');
		const tagB = b.filter((l) => /<cfwebsocket\b/.test(l)), tagA = a.filter((l) => /\/crosstalk\.js"/.test(l));
		T.ok(tagB.length === 1 && tagA.length === 1, `${name}: one <cfwebsocket> line, one crosstalk.js line`);
		T.eq(a.filter((l) => l !== tagA[0]), b.filter((l) => l !== tagB[0]),
			`${name}: after = before with the tag line changed, nothing else`);
	}

	for (const ch of ['lobby', 'stocks', 'stocks.nasdaq', 'stocks.nyse'])
		await ensureChannel(env, ch);
	const { o1, o2, p1, p2 } = await testOrigins(env, state);
	const users = {
		bob: { app: 'app1', name: 'Bob Brown' },
		carol: { app: 'app2', name: 'Carol Chen' },
	};
	for (const u of Object.keys(users))
		users[u].ref = await session(env, users[u].app, u, users[u].name);
	const ticker = await session(env, 'app1', 'ticker', 'Ticker');
	let invoked = 0;

	// an app's server: login by cookie, the two pages, its ticket and invoke pages
	const app = (appId) => http.createServer(async (req, res) => {
		const url = new URL(req.url, 'http://x');
		const who = ((req.headers.cookie || '').match(/user=(\w+)/) || [])[1];
		const user = users[who];
		if (url.pathname === '/login') {
			res.writeHead(303, { 'Set-Cookie': `user=${url.searchParams.get('user')}; Path=/`, Location: '/' });
			return res.end();
		}
		if (/^\/(chat|ticker)\.cfm$/.test(url.pathname) && user) {
			const html = render(pages[url.pathname.slice(1)].after, {
				'application.chatOrigin': env.CROSSTALK_WSD,
				'encodeForJavaScript(session.user.name)': jsString(user.name),
			});
			res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
			return res.end(html);
		}
		if (url.pathname === '/chat/ticket.cfm' && req.method === 'POST') {
			if (!user || !req.headers['x-requested-with']) {
				res.writeHead(401, { 'Content-Type': 'application/json' });
				return res.end('{"ticket":""}');
			}
			const key = appId === 'app2' ? env.APP2_KEY : env.APP1_KEY;
			const r = await api(env, 'POST', 'tickets', { key, session: user.ref });
			res.writeHead(r.status === 200 ? 200 : 503, { 'Content-Type': 'application/json' });
			return res.end(JSON.stringify({ ticket: (r.json && r.json.ticket) || '' }));
		}
		if (url.pathname === '/chat/invoke.cfm' && req.method === 'POST') {
			let body = '';
			for await (const c of req)
				body += c;
			const q = JSON.parse(body || '{}');
			// as the document's invoke.cfm: only what is listed, for a logged-in user
			if (!user || !req.headers['x-requested-with'] || q.cfc !== 'stocks.Quotes' || q.method !== 'latest') {
				res.writeHead(403);
				return res.end();
			}
			invoked++;
			res.writeHead(200, { 'Content-Type': 'application/json' });
			return res.end(JSON.stringify({ symbol: q.arguments[0], price: 191.25 }));
		}
		res.writeHead(404);
		res.end();
	});
	const servers = [app('app1'), app('app2')];
	await Promise.all([[servers[0], p1], [servers[1], p2]].map(([s, port]) => new Promise((ok, fail) => {
		s.once('error', fail);
		s.listen(port, '127.0.0.1', ok);
	})));

	const quote = async (exchange, symbol, price) => {
		const r = await api(env, 'POST', 'messages', { session: ticker, body: {
			channel: `stocks.${exchange}`, text: JSON.stringify({ symbol, price }),
			client_id: `cfj-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
		} });
		T.ok(r.status === 201, `server published ${symbol} on stocks.${exchange}`, JSON.stringify(r.json));
		return r.json && r.json.message;
	};
	const rowText = (p, exchange, symbol) => p.evaluate(([e, s]) => {
		const r = document.getElementById(`q-${e}-${s}`);
		return r ? Array.from(r.cells).map((c) => c.textContent).join(' ') : '';
	}, [exchange, symbol]);

	const browser = await launch();
	const bad = [];
	const watch = (p, label) => {
		watchPage(p, label, logs);
		p.on('pageerror', (e) => bad.push(`${label}: ${e.message}`));
		p.on('console', (m) => {
			if (m.type() === 'error' && /Uncaught|in promise/i.test(m.text()))
				bad.push(`${label}: ${m.text()}`);
		});
	};
	try {
		const open = async (origin, user, page) => {
			const ctx = await browser.newContext();
			await ctx.request.get(`${origin}/login?user=${user}`, { maxRedirects: 0 });
			const p = await ctx.newPage();
			watch(p, `${user} ${page}`);
			await p.goto(`${origin}/${page}`);
			return p;
		};

		// --- the chat page -----------------------------------------------------
		const cb = await open(o1, 'bob', 'chat.cfm');
		const cc = await open(o2, 'carol', 'chat.cfm');
		for (const [p, who] of [[cb, 'bob'], [cc, 'carol']])
			T.ok(await until(() => p.evaluate(() => document.getElementById('status').textContent === 'Connected'), 15000),
				`chat: onOpen ran for ${who}`);
		T.ok(await until(() => cb.evaluate(() => /^\d+$/.test(document.getElementById('online').textContent)), 10000),
			'chat: getSubscriberCount answered in onMessage');
		await sleep(300);
		const say = async (p, text) => {
			await p.fill('#text', text);
			await p.press('#text', 'Enter');
		};
		const lines = (p) => p.evaluate(() => Array.from(document.querySelectorAll('#messages li')).map((li) => li.textContent));
		const t1 = `hello from app1 ${Date.now()}`;
		await say(cb, t1);
		T.ok(await until(async () => (await lines(cc)).includes(`Bob Brown: ${t1}`), 10000),
			'chat: carol (app2) gets bob\'s object, shown by the unchanged handler', JSON.stringify(await lines(cc)));
		T.ok(await until(async () => (await lines(cb)).includes(`Bob Brown: ${t1}`), 5000), 'chat: and so does bob');
		const t2 = `hi bob, from app2 ${Date.now()}`;
		await say(cc, t2);
		T.ok(await until(async () => (await lines(cb)).includes(`Carol Chen: ${t2}`), 10000), 'chat: bob gets carol\'s reply');
		const polled = await api(env, 'GET', 'messages/poll?channel=lobby&after=0&limit=200');
		const stored = ((polled.json && polled.json.messages) || []).find((m) => m.text.includes(t1));
		T.ok(stored && stored.client_id.startsWith('cfj-') && JSON.parse(stored.text).user === 'Bob Brown',
			'chat: stored as the object\'s JSON text, marked cfj-', JSON.stringify(stored));
		const dave = await session(env, 'app2', 'dave', 'Dave Diaz');
		const dm = await api(env, 'POST', 'messages', { key: env.APP2_KEY, session: dave,
			body: { channel: 'dm:bob:dave', text: 'private: just for bob' } });
		T.eq(dm.status, 201, 'dave wrote bob a direct message');
		await sleep(2500);
		T.ok(!(await lines(cb)).some((l) => /private/.test(l)), 'chat: the direct message never shows on the lobby page');

		// --- the ticker page ------------------------------------------------------
		const tb = await open(o1, 'bob', 'ticker.cfm');
		const tc = await open(o2, 'carol', 'ticker.cfm');
		for (const [p, who] of [[tb, 'bob'], [tc, 'carol']])
			T.ok(await until(() => p.evaluate(() => window.tickerSocket && window.tickerSocket.isConnectionOpen() &&
				['stocks.nasdaq', 'stocks.nyse'].every((c) => window.tickerSocket.conn.channels[c] &&
					window.tickerSocket.conn.channels[c].live)), 15000), `ticker: ${who} subscribed to stocks and its sub-channels`);
		T.eq(await tb.evaluate(() => window.tickerSocket.getSubscriptions()), ['stocks'],
			'ticker: getSubscriptions() is what the page asked for');
		await tb.evaluate(() => {
			window.seen = [];
			const orig = window.onQuote;
			window.onQuote = function (m) {
				if (m.type === 'data')
					window.seen.push(`${m.channelname}:${m.seq}`);
				orig(m);
			};
		});
		await quote('nasdaq', 'AAPL', 190.5);
		await quote('nyse', 'IBM', 150);
		T.ok(await until(async () => (await rowText(tb, 'nasdaq', 'AAPL')) === 'nasdaq AAPL 190.50', 10000),
			'ticker: a quote on stocks.nasdaq reaches the stocks subscriber', await rowText(tb, 'nasdaq', 'AAPL'));
		T.ok(await until(async () => (await rowText(tc, 'nyse', 'IBM')) === 'nyse IBM 150.00', 10000),
			'ticker: carol (app2) gets stocks.nyse', await rowText(tc, 'nyse', 'IBM'));
		await tb.click('#refresh');
		T.ok(await until(async () => (await rowText(tc, 'nasdaq', 'AAPL')) === 'nasdaq AAPL 191.25', 10000),
			'ticker: invokeAndPublish ran the app\'s invoke page and published its answer', await rowText(tc, 'nasdaq', 'AAPL'));
		T.eq(invoked, 1, 'ticker: the invoke page ran once');
		// closed, a quote meanwhile, open again: it arrives, once
		await tb.evaluate(() => window.tickerSocket.closeConnection());
		const missed = await quote('nyse', 'IBM', 151);
		await sleep(500);
		T.eq(await rowText(tb, 'nyse', 'IBM'), 'nyse IBM 150.00', 'ticker: closed, nothing arrives');
		await tb.evaluate(() => window.tickerSocket.openConnection());
		T.ok(await until(async () => (await rowText(tb, 'nyse', 'IBM')) === 'nyse IBM 151.00', 15000),
			'ticker: after openConnection() the sub-channel resumes: the quote published meanwhile arrives');
		await sleep(1000);
		const seen = await tb.evaluate(() => window.seen);
		T.eq(seen.filter((x) => x === `stocks.nyse:${missed && missed.seq}`).length, 1,
			'ticker: exactly once', JSON.stringify(seen));
		T.eq(seen.length, new Set(seen).size, 'ticker: nothing delivered twice', JSON.stringify(seen));
		T.eq(bad, [], 'no "Uncaught (in promise)" and no page error on any page');
	} finally {
		await browser.close();
		servers.forEach((s) => s.close());
	}
});
