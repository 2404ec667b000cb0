// auth.mjs - tickets and logins as the widget sees them: a refused first
// ticket makes the widget ask its parent (crosstalk:auth-required) and the
// embed fetch a fresh one from data-ticket-url; a chat login that lapsed
// while the user is still logged in to the app (the hub closes the socket)
// is registered again by the app's ticket URL, as the ColdBox module's
// ticket handler does, and the widget signs in again without a reload; a
// login ended by the app (POST /api/v1/sessions/end at logout) drops the
// widget's connection and, with the app refusing new tickets, leaves it
// waiting for sign-in.
import http from 'node:http';
import path from 'node:path';
import {
	readEnv, run, startApp, testOrigins, launch, loginContext, newChannel, session, watchPage, widget,
	widgetState, until, sleep, api, psql,
} from './lib.mjs';

await run('browser_auth', 120, async (T, logs) => {
	const state = process.env.CT_STATE;
	const env = readEnv(state);
	const { o1, o2, p1, p2 } = await testOrigins(env, state);
	const channel = await newChannel(env, 'auth');
	let ref = await session(env, 'app1', 'erin', 'Erin Evans');
	let renewed = 0;

	// app1's page, served here: a ticket that crosstalk refuses in the page
	let ticketCalls = 0;
	const page = `<!doctype html><meta charset="utf-8"><title>app1</title>
<script>window.ctEvents = []; ['crosstalk:auth-required', 'crosstalk:authenticated', 'crosstalk:error']
.forEach(function (t) { document.addEventListener(t, function (e) { window.ctEvents.push(t); }); });</script>
<div id="chat"></div>
<script src="${env.CROSSTALK_WSD}/crosstalk-embed.js" data-target="#chat" data-channel="${channel}"
  data-ticket="ctt_expired0000000000000000000000000" data-ticket-url="/ticket"></script>`;
	const server = http.createServer(async (req, res) => {
		if (req.url === '/') {
			res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
			res.end(page);
		} else if (req.url === '/ticket' && req.method === 'POST' && req.headers['x-requested-with'] === 'crosstalk') {
			// as handlers/Ticket.cfc: mint; a login crosstalk no longer knows
			// is registered again (erin is still logged in to the app)
			ticketCalls++;
			let r = await api(env, 'POST', 'tickets', { session: ref });
			if (r.status === 401) {
				ref = await session(env, 'app1', 'erin', 'Erin Evans');
				renewed++;
				r = await api(env, 'POST', 'tickets', { session: ref });
			}
			res.writeHead(r.status === 200 ? 200 : 503, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ ticket: (r.json && r.json.ticket) || '' }));
		} else {
			res.writeHead(404);
			res.end();
		}
	});
	await new Promise((ok, fail) => {
		server.once('error', fail);
		server.listen(p1, '127.0.0.1', ok);
	});
	await startApp(path.join(state, 'env'), p2, ['--app', 'app2'], state);

	const browser = await launch();
	try {
		const ctx = await browser.newContext();
		const pa = await ctx.newPage();
		watchPage(pa, 'app1', logs);
		await pa.goto(`${o1}/`);
		T.ok(await until(async () => (await widgetState(pa)) === 'open', 20000), 'widget signs in after a refused ticket',
			String(await widgetState(pa)));
		const ev = await pa.evaluate(() => window.ctEvents);
		T.ok(ev.filter((e) => e === 'crosstalk:auth-required').length >= 2, 'it asked for a ticket again',
			JSON.stringify(ev));
		T.ok(ev.includes('crosstalk:authenticated'), 'crosstalk:authenticated followed');
		T.ok(ticketCalls >= 1, 'the embed fetched one from data-ticket-url');

		// the chat login lapses while erin is still in the app (an 8-hour
		// meeting): it expires, and the hub closes the socket
		const loadedAt = await pa.evaluate(() => (window.loadedAt = window.loadedAt || Date.now()));
		psql(env, `UPDATE crosstalk.sessions SET expires_at = now() - interval '1 second'
			WHERE ref_hash = encode(sha256(convert_to('${ref}', 'UTF8')), 'hex')`);
		const gone = await api(env, 'POST', 'sessions/end', { body: { session: ref } });
		T.eq(gone.status, 200, 'the lapsed login is closed by the hub (sessions/end)');
		T.ok(await until(async () => (await widgetState(pa)) !== 'open', 5000), 'the widget lost its connection');
		T.ok(await until(async () => renewed === 1 && (await widgetState(pa)) === 'open', 20000),
			'the ticket URL registered the login again and the widget signed in by itself',
			`renewed ${renewed}, state ${await widgetState(pa)}`);
		T.eq(await pa.evaluate(() => window.loadedAt), loadedAt, 'without reloading the page');

		// app2: carol logs out of the app while the chat is open
		const cb = await loginContext(browser, o2, 'carol', 'Carol Chen');
		const pb = await cb.newPage();
		watchPage(pb, 'app2', logs);
		await pb.goto(`${o2}/chat?channel=${channel}`);
		T.ok(await until(async () => (await widgetState(pb)) === 'open', 15000), 'app2 widget signs in');
		const r = await pb.request.post(`${o2}/logout`, { maxRedirects: 0 });
		T.eq(r.status(), 303, 'app2 logout (sessions/end)');
		T.ok(await until(async () => (await widgetState(pb)) !== 'open', 5000), 'the widget is disconnected at once');
		await sleep(3000);
		const wb = widget(pb);
		T.eq(await widgetState(pb), 'auth-required', 'and waits for a new sign-in (the app refuses tickets now)');
		T.ok(await wb.evaluate(() => /sign-in/i.test(document.getElementById('ct-conn').textContent)), 'saying so');
		T.ok(await pb.evaluate(() => window.ctEvents.some((e) => e.type === 'crosstalk:auth-required')),
			'the page was asked for a ticket');
	} finally {
		await browser.close();
		server.close();
	}
});
