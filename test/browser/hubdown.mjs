// hubdown.mjs - chat never takes a page down. On a stack of its own:
//  1. the hub hangs (accepts connections, never answers): a page with the
//     widget, as Crosstalk.cfc's embed() writes it (recordings/embed.html),
//     is shown within 1 s; the same page with a plain blocking <script> is
//     still not shown after 3 s (the measure can fail);
//     a page moved from <cfwebsocket> (deferred crosstalk.js) is painted too;
//  2. crosstalk-fcgi is down: the page is shown within 1 s, the app's ticket
//     URL answers 503, the widget says "Chat is unavailable right now.
//     Retrying in N s" and signs in by itself once the API is back;
//  3. crosstalk-wsd is down (the embed script served by the app itself): the
//     page is shown within 1 s, a calm line stands where the widget would be,
//     and the widget loads and signs in once the daemon is back - no reload.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
	run, launch, newChannel, watchPage, widget, widgetState, until, sleep, api, session, ownStack,
	stopDaemon, startDaemon, blackHole, SRC,
} from './lib.mjs';

// ColdFusion's encodeForHTMLAttribute, as test/cfml/embed.mjs has it
function attr(s) {
	const named = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
	return Array.from(String(s)).map((c) => /[A-Za-z0-9,.\-_]/.test(c) ? c
		: named[c] || `&#x${c.codePointAt(0).toString(16)};`).join('');
}

// what embed() writes by default: no ticket in the page, an async script
function embedHtml(embedJs, channel, extra = '') {
	const golden = fs.readFileSync(path.join(SRC, 'clients/cfml/recordings/embed.html'), 'utf8');
	return golden.replace('{{EMBED_JS|attr}}', attr(embedJs)).replace('{{CHANNEL|attr}}', attr(channel))
		.replace('></script>', `${extra}></script>`);
}

function page(title, body) {
	return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<script>window.ctEvents = []; window.loadedAt = Date.now();
['crosstalk:connection', 'crosstalk:authenticated', 'crosstalk:error'].forEach(function (t) {
  document.addEventListener(t, function (e) { window.ctEvents.push({ type: t, state: e.detail && e.detail.state }); });
});</script></head>
<body><h1 id="app">Northwind Orders</h1><p>Order 10248 is ready to ship.</p>
${body}</body></html>`;
}

// navigation start -> DOMContentLoaded and first contentful paint, in ms
// The first paint follows DOMContentLoaded by a frame or more: wait for its
// entry (bounded) rather than reading it in the same instant, then judge its
// start time, which is what the page's user sees.
async function shownIn(p) {
	return p.evaluate(() => new Promise((done) => {
		const read = () => {
			const nav = performance.getEntriesByType('navigation')[0];
			const fcp = performance.getEntriesByName('first-contentful-paint')[0];
			return { dcl: nav ? nav.domContentLoadedEventEnd : -1, fcp: fcp ? fcp.startTime : -1 };
		};
		const t0 = Date.now();
		const poll = () => {
			const m = read();
			if (m.fcp >= 0 || Date.now() - t0 > 3000) done(m);
			else setTimeout(poll, 20);
		};
		poll();
	}));
}

await run('browser_hubdown', 200, async (T, logs) => {
	const { state, env, o1, p1 } = await ownStack('ct-hubdown-');
	const channel = await newChannel(env, 'down');
	const ref = await session(env, 'app1', 'henry', 'Henry Hall');
	const hole = await blackHole();
	const wsdJs = `${env.CROSSTALK_WSD}/crosstalk-embed.js`;
	const embedSrc = fs.readFileSync(path.join(SRC, 'web/crosstalk-embed.js'));

	// app1: its pages, and its ticket URL minting as Crosstalk.cfc does
	// (a short timeout; a hub that fails is a 503, never a 500 or a hang)
	const ticketAnswers = [];
	const pages = {
		'/hanging': page('hanging hub', embedHtml(`${hole.url}/crosstalk-embed.js`, channel)),
		'/hanging-cfws': page('hanging hub, <cfwebsocket> page',
			`<p id="state">connecting</p><script defer src="${hole.url}/crosstalk.js" data-name="mysocket" ` +
			'data-subscribe-to="general" data-ticket-url="/chat/ticket"></script>'),
		'/hanging-sync': page('hanging hub, blocking script',
			`<div id="chat"></div><script src="${hole.url}/crosstalk-embed.js" data-target="#chat"></script>`),
		'/': page('app1', embedHtml(wsdJs, channel)),
		'/local': page('app1, embed script from the app', embedHtml('/crosstalk-embed.js', channel,
			` data-widget-url="${env.CROSSTALK_WSD}/widget" data-ready-timeout-ms="1500"`)),
	};
	const server = http.createServer(async (req, res) => {
		const url = req.url.split('?')[0];
		if (req.method === 'GET' && pages[url]) {
			res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
			res.end(pages[url]);
		} else if (url === '/crosstalk-embed.js') {
			res.writeHead(200, { 'Content-Type': 'text/javascript' });
			res.end(embedSrc);
		} else if (url === '/chat/ticket' && req.method === 'POST' &&
			   req.headers['x-requested-with'] === 'crosstalk') {
			let r;
			try {
				r = await api(env, 'POST', 'tickets', { session: ref, timeoutMs: 2000 });
			} catch (e) {
				r = { status: 0, json: null };
			}
			ticketAnswers.push(r.status);
			if (r.status === 200 && r.json && r.json.ticket) {
				res.writeHead(200, { 'Content-Type': 'application/json' });
				res.end(JSON.stringify({ ticket: r.json.ticket }));
			} else {
				res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1' });
				res.end(JSON.stringify({ ticket: '', error: { code: 'unavailable', message: 'chat is unavailable' } }));
			}
		} else {
			res.writeHead(404);
			res.end();
		}
	});
	await new Promise((ok, fail) => {
		server.once('error', fail);
		server.listen(p1, '127.0.0.1', ok);
	});

	const browser = await launch();
	try {
		const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });

		// --- 1. a hub that hangs ------------------------------------------------
		const ph = await ctx.newPage();
		watchPage(ph, 'hanging', logs);
		const t0 = Date.now();
		await ph.goto(`${o1}/hanging`, { waitUntil: 'domcontentloaded', timeout: 10000 });
		const waited = Date.now() - t0;
		const m = await shownIn(ph);
		T.ok(m.dcl >= 0 && m.dcl < 1000, 'hub hanging: the page is ready within 1 s', JSON.stringify(m));
		T.ok(m.fcp >= 0 && m.fcp < 1000, 'hub hanging: the page is painted within 1 s', JSON.stringify(m));
		T.ok(await ph.isVisible('text=Order 10248 is ready to ship.'), 'hub hanging: the page\'s own content shows');
		console.log(`hub hanging: DOMContentLoaded ${Math.round(m.dcl)} ms, first paint ${Math.round(m.fcp)} ms, ` +
			`goto returned after ${waited} ms`);
		// a page moved from <cfwebsocket> as docs/MIGRATING.md says (a deferred crosstalk.js)
		const pc = await ctx.newPage();
		await pc.goto(`${o1}/hanging-cfws`, { waitUntil: 'commit', timeout: 10000 });
		await sleep(1000);
		const mc = await pc.evaluate(() => {
			const fcp = performance.getEntriesByName('first-contentful-paint')[0];
			return { state: document.readyState, fcp: fcp ? fcp.startTime : -1 };
		});
		T.ok(mc.fcp >= 0 && mc.fcp < 1000 && mc.state !== 'loading',
			'hub hanging: a page on a deferred crosstalk.js is parsed and painted within 1 s', JSON.stringify(mc));
		await pc.close();
		const ps = await ctx.newPage();
		await ps.goto(`${o1}/hanging-sync`, { waitUntil: 'commit', timeout: 10000 });
		await sleep(3000);
		const rs = await ps.evaluate(() => document.readyState);
		T.ok(rs === 'loading', 'control: a blocking <script> from the hanging hub still holds its page after 3 s',
			rs);
		await ps.close();
		await ph.close();

		// --- 2. the API is down ----------------------------------------------------
		const fcgi = await stopDaemon(state, 'fcgi');
		const pa = await ctx.newPage();
		watchPage(pa, 'api-down', logs);
		await pa.goto(`${o1}/`, { waitUntil: 'domcontentloaded', timeout: 10000 });
		const ma = await shownIn(pa);
		T.ok(ma.dcl >= 0 && ma.dcl < 1000, 'API down: the page is ready within 1 s', JSON.stringify(ma));
		T.ok(await until(async () => (await widgetState(pa)) === 'unavailable', 15000),
			'API down: the widget says chat is unavailable', String(await widgetState(pa)));
		const wa = widget(pa);
		const line = wa ? await wa.evaluate(() => document.getElementById('ct-conn').textContent) : '';
		T.ok(/unavailable right now\. Retrying/.test(line), 'API down: "Chat is unavailable right now. Retrying…"', line);
		T.ok(wa && await wa.evaluate(() => !document.getElementById('ct-conn').classList.contains('ct-conn-bad')),
			'API down: shown calmly, not as an error');
		T.ok(await pa.evaluate(() => window.ctEvents.some((e) => e.type === 'crosstalk:connection' &&
			e.state === 'unavailable')), 'API down: the page hears crosstalk:connection {state: "unavailable"}');
		T.ok(ticketAnswers.length >= 1 && ticketAnswers.every((s) => s === 503),
			'API down: the app\'s ticket URL was asked and the API answered 503 (JSON, from nginx)',
			JSON.stringify(ticketAnswers));
		const asked = ticketAnswers.length;
		await sleep(2500);
		T.ok(ticketAnswers.length > asked, 'API down: the embed asks again by itself', JSON.stringify(ticketAnswers));
		startDaemon(state, fcgi);
		T.ok(await until(async () => (await api(env, 'GET', 'health')).status === 200, 15000),
			'crosstalk-fcgi is back');
		T.ok(await until(async () => (await widgetState(pa)) === 'open', 40000),
			'API back: the widget signs in without a reload', String(await widgetState(pa)));
		T.ok(await pa.evaluate(() => window.ctEvents.some((e) => e.type === 'crosstalk:authenticated')),
			'API back: the page hears crosstalk:authenticated');
		await pa.close();

		// --- 3. the WebSocket daemon is down ------------------------------------------
		const wsd = await stopDaemon(state, 'wsd');
		const pw = await ctx.newPage();
		watchPage(pw, 'wsd-down', logs);
		await pw.goto(`${o1}/local`, { waitUntil: 'domcontentloaded', timeout: 10000 });
		const mw = await shownIn(pw);
		T.ok(mw.dcl >= 0 && mw.dcl < 1000, 'wsd down: the page is ready within 1 s', JSON.stringify(mw));
		const stamp = await pw.evaluate(() => window.loadedAt);
		T.ok(await until(() => pw.evaluate(() => {
			const n = document.querySelector('#chat .crosstalk-unavailable');
			return n && n.getAttribute('role') === 'status' && /Chat is unavailable right now/.test(n.textContent);
		}), 15000), 'wsd down: a calm "Chat is unavailable right now" line stands in for the widget');
		T.ok(await pw.evaluate(() => document.querySelector('#chat iframe').style.display === 'none'),
			'wsd down: the broken frame is hidden');
		await sleep(1500);
		startDaemon(state, wsd);
		T.ok(await until(async () => (await fetch(`${env.CROSSTALK_WSD}/health`)).ok, 15000), 'crosstalk-wsd is back');
		T.ok(await until(async () => (await widgetState(pw)) === 'open', 45000),
			'wsd back: the widget loads and signs in', String(await widgetState(pw)));
		T.ok(await pw.evaluate(() => !document.querySelector('#chat .crosstalk-unavailable') &&
			document.querySelector('#chat iframe').style.display !== 'none'), 'wsd back: the line is gone, the widget shows');
		T.eq(await pw.evaluate(() => window.loadedAt), stamp, 'wsd back: without reloading the page');
		const other = await session(env, 'app2', 'ivy', 'Ivy Ives');
		await api(env, 'POST', 'messages', { key: env.APP2_KEY, session: other, body: { channel, text: 'all back' } });
		const fw = widget(pw);
		T.ok(await until(() => fw.evaluate(() => Array.from(document.querySelectorAll('#ct-messages .ct-text'))
			.some((e) => e.textContent === 'all back')), 15000), 'wsd back: messages arrive');
		await pw.close();
	} finally {
		await browser.close();
		server.close();
		hole.close();
	}
});
