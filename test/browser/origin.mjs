// origin.mjs - an origin that is not a registered app can neither frame
// the widget (CSP frame-ancestors) nor drive it with postMessage; the widget
// posts nothing to it and never spends a ticket it was handed.
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import {
	readEnv, run, startApp, launch, freePort, session, ticket, watchPage, until, sleep, SHOTS,
} from './lib.mjs';

// does the ticket still authenticate? (it would not if the widget used it)
function ticketWorks(env, t) {
	return new Promise((resolve) => {
		const ws = new WebSocket(env.CROSSTALK_WS, 'crosstalk.v1', { origin: env.APP1_ORIGIN });
		const timer = setTimeout(() => {
			ws.terminate();
			resolve(false);
		}, 5000);
		ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', ticket: t })));
		ws.on('message', (d) => {
			clearTimeout(timer);
			ws.close();
			resolve(String(d).includes('"welcome"'));
		});
		ws.on('close', () => {
			clearTimeout(timer);
			resolve(false);
		});
		ws.on('error', () => {});
	});
}

await run('browser_origin', 90, async (T, logs) => {
	const state = process.env.CT_STATE;
	const env = readEnv(state);
	const port = await freePort();
	const evil = `http://127.0.0.1:${port}`;
	await startApp(path.join(state, 'env'), port, ['--unregistered'], state);

	// the daemon's answer: frame-ancestors lists the registered origins only
	const r = await fetch(`${env.CROSSTALK_WIDGET}?channel=general`);
	const csp = r.headers.get('content-security-policy') || '';
	T.ok(/frame-ancestors/.test(csp), 'widget sends CSP frame-ancestors', csp);
	T.ok(csp.includes(env.APP1_ORIGIN) && csp.includes(env.APP2_ORIGIN), 'CSP lists the app origins', csp);
	T.ok(!csp.includes(evil), 'CSP does not list the unregistered origin');

	fs.mkdirSync(SHOTS, { recursive: true });
	const browser = await launch();
	try {
		const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });
		const page = await ctx.newPage();
		watchPage(page, 'evil', logs);
		await page.goto(`${evil}/?channel=general`);
		await sleep(1500);
		const frames = page.frames().filter((f) => f !== page.mainFrame());
		T.ok(frames.length === 1, 'the page has one iframe');
		const framedApp = frames.length ? await frames[0].evaluate(() => !!document.getElementById('ct-app'))
			.catch(() => false) : false;
		T.ok(!framedApp, 'the browser refused to render the widget in the frame');
		T.eq(await page.evaluate(() => window.gotMessages.length), 0, 'no crosstalk message reached the page');
		await page.screenshot({ path: path.join(SHOTS, 'unregistered.png') });

		// a window it opens: a valid ticket handed over with postMessage
		const ref = await session(env, 'app1', 'mallory-victim', 'Victim');
		const t = await ticket(env, 'app1', ref);
		const [popup] = await Promise.all([
			page.waitForEvent('popup', { timeout: 10000 }),
			page.evaluate((tk) => window.tryDrive(tk), t),
		]);
		watchPage(popup, 'popup', logs);
		await popup.waitForLoadState('load');
		await sleep(3500); // the page posts its commands for 5 s
		const st = await popup.evaluate(() => document.getElementById('ct-app').getAttribute('data-state'));
		T.ok(st !== 'open', 'widget ignored crosstalk:auth from an unregistered origin', st);
		const tabs = await popup.evaluate(() => document.querySelectorAll('.ct-chan').length);
		T.eq(tabs, 0, 'widget ignored crosstalk:open-channel');
		T.eq(await page.evaluate(() => window.gotMessages.length), 0, 'widget posted nothing to the opener');
		T.ok(await ticketWorks(env, t), 'the handed ticket was never used');

		// full page: the ticket comes in the fragment, never the query string
		const t2 = await ticket(env, 'app1', ref);
		const url = `${env.CROSSTALK_WIDGET}?channel=general#ticket=${encodeURIComponent(t2)}`;
		const full = await ctx.newPage();
		watchPage(full, 'full', logs);
		await full.goto(url);
		T.ok(await until(() => full.evaluate(() => document.getElementById('ct-app').getAttribute('data-state') === 'open'), 10000),
			'full-page widget signs in with a #ticket= fragment');
		T.ok(!(await full.evaluate(() => location.hash.includes('ticket'))), 'the ticket is removed from the address');
	} finally {
		await browser.close();
	}
});
