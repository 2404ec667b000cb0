// embed.mjs - the HTML Crosstalk.cfc's embed() writes, recorded in
// clients/cfml/recordings/, put into pages on app1's origin. By default
// (embed.html) nothing is minted with the page: crosstalk-embed.js loads from
// the URL embed() derives from the widget URL, the widget signs in with a
// ticket from data-ticket-url, and a message posted through the API reaches
// the page's msgHook. Minted on the server (embed-minted.html), the first
// sign-in uses the ticket in the data attribute, which never shows up in a
// URL, and the re-sign-in goes to data-ticket-url.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
	readEnv, run, launch, newChannel, session, api, watchPage, widget, widgetState, until, SRC,
} from '../browser/lib.mjs';

// ColdFusion's encodeForHTMLAttribute (ESAPI): letters, digits and , . - _
// stay; the rest become entities
function attr(s) {
	const named = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
	return Array.from(String(s)).map((c) => /[A-Za-z0-9,.\-_]/.test(c) ? c
		: named[c] || `&#x${c.codePointAt(0).toString(16)};`).join('');
}

function fill(text, vars) {
	return text.replace(/\{\{(\w+)(\|attr)?\}\}/g, (m, name, filt) => {
		if (!(name in vars))
			throw new Error(`no value for ${m}`);
		return filt ? attr(vars[name]) : vars[name];
	});
}

await run('cfml_embed', 120, async (T, logs) => {
	const env = readEnv(process.env.CT_STATE);
	const origin = env.APP1_ORIGIN || 'http://127.0.0.1:8081';
	const channel = await newChannel(env, 'cfe');
	const ref = await session(env, 'app1', `cfe${Date.now().toString(36)}`, 'Embed User');
	const minted = await api(env, 'POST', 'tickets', { session: ref });
	T.eq(minted.status, 200, 'ticket minted');
	const t = minted.json;
	// embed(): scriptUrl = origin of the ticket's widget_url + /crosstalk-embed.js
	const embedJs = new URL(t.widget_url).origin + '/crosstalk-embed.js';
	const js = await fetch(embedJs);
	T.eq(js.status, 200, 'crosstalk-embed.js is served where embed() points');
	T.ok((js.headers.get('content-type') || '').includes('javascript'), 'as JavaScript',
		js.headers.get('content-type'));

	const head = `<!doctype html><html><head><meta charset="utf-8"><title>app1</title>
<script>
window.ctEvents = []; window.hookCalls = [];
window.msgHook = function (text) { window.hookCalls.push(text); };
['crosstalk:ready', 'crosstalk:authenticated', 'crosstalk:message', 'crosstalk:error']
	.forEach(function (t) { document.addEventListener(t, function (e) { window.ctEvents.push(t); }); });
</script></head><body><h1>app1</h1>
`;
	const pages = {};
	for (const [route, rec] of [['/', 'embed.html'], ['/minted', 'embed-minted.html']]) {
		const golden = fs.readFileSync(path.join(SRC, 'clients/cfml/recordings', rec), 'utf8');
		pages[route] = head + fill(golden, { EMBED_JS: embedJs, CHANNEL: channel, TICKET: t.ticket }) + '</body></html>';
	}
	let ticketCalls = 0;
	const server = http.createServer(async (req, res) => {
		if (pages[req.url.split('?')[0]]) {
			res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
			res.end(pages[req.url.split('?')[0]]);
		} else if (req.url === '/chat/ticket' && req.method === 'POST') {
			ticketCalls++;
			const r = await api(env, 'POST', 'tickets', { session: ref });
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ ticket: r.json && r.json.ticket }));
		} else {
			res.writeHead(404);
			res.end();
		}
	});
	await new Promise((ok, fail) => {
		server.once('error', fail);
		server.listen(Number(new URL(origin).port), '127.0.0.1', ok);
	});
	const browser = await launch();
	try {
		const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });

		// the default: the page carries no ticket; the browser asks the app for one
		const d = await ctx.newPage();
		watchPage(d, 'app1 default', logs);
		await d.goto(`${origin}/`);
		T.ok(await until(async () => (await widgetState(d)) === 'open', 15000),
			'default embed(): the widget signs in', String(await widgetState(d)));
		T.ok(ticketCalls >= 1, 'default embed(): with a ticket from data-ticket-url', String(ticketCalls));
		const fd = widget(d);
		T.ok(fd && new URL(fd.url()).searchParams.get('channel') === channel, 'the widget opened data-channel',
			fd && fd.url());
		const other = await session(env, 'app2', `cfo${Date.now().toString(36)}`, 'Other');
		const post = await api(env, 'POST', 'messages', {
			key: env.APP2_KEY, session: other, body: { channel, text: 'hello to the embed' },
		});
		T.eq(post.status, 201, 'app2 posted');
		T.ok(await until(() => d.evaluate(() => window.hookCalls.includes('hello to the embed')), 10000),
			'msgHook got the message');
		await d.close();

		// minted on the server: the first sign-in uses the ticket in the page
		const before = ticketCalls;
		const p = await ctx.newPage();
		watchPage(p, 'app1 minted', logs);
		const urls = [];
		p.on('request', (r) => urls.push(r.url()));
		await p.goto(`${origin}/minted`);
		T.ok(await until(async () => (await widgetState(p)) === 'open', 15000),
			'minted embed(): the widget signs in', String(await widgetState(p)));
		T.ok(await until(() => p.evaluate(() => window.ctEvents.includes('crosstalk:authenticated')), 5000),
			'the page got crosstalk:authenticated');
		T.ok(!urls.some((u) => u.includes(t.ticket)), 'the ticket never appears in a URL');
		T.eq(ticketCalls, before, 'minted embed(): the first sign-in used the ticket in the page');
		// the widget signs in again with data-ticket-url when asked
		const f = widget(p);
		await f.evaluate(() => window.parent.postMessage({ type: 'crosstalk:auth-required' }, '*'));
		T.ok(await until(() => ticketCalls > before, 5000), 'a new ticket was fetched from data-ticket-url');
	} finally {
		await browser.close();
		server.close();
	}
});
