// pictures.mjs - the pictures in docs/: app1 and app2 (the demo stand-ins)
// chatting through the embedded widget, on a stack of its own so nothing
// from other tests shows. Checks only what the pictures depend on.
import fs from 'node:fs';
import path from 'node:path';
import {
	run, startApp, launch, loginContext, newChannel, watchPage, widget, widgetState, messageTexts,
	sendInWidget, until, sleep, ownStack, SHOTS,
} from './lib.mjs';

await run('browser_pictures', 150, async (T, logs) => {
	const { state, env, o1, o2, p1, p2 } = await ownStack('ct-pictures-');
	await startApp(path.join(state, 'env'), p1, ['--app', 'app1'], state);
	await startApp(path.join(state, 'env'), p2, ['--app', 'app2'], state);
	const channel = await newChannel(env, 'orders', 'Orders & invoices');
	fs.mkdirSync(SHOTS, { recursive: true });

	const browser = await launch();
	try {
		const ca = await loginContext(browser, o1, 'alice', 'Alice Adams', { width: 900, height: 640 });
		const cb = await loginContext(browser, o2, 'carol', 'Carol Chen', { width: 900, height: 640 });
		const pa = await ca.newPage(), pb = await cb.newPage();
		watchPage(pa, 'app1', logs);
		watchPage(pb, 'app2', logs);
		await pa.goto(`${o1}/hook?channel=${channel}`);
		await pb.goto(`${o2}/chat?channel=${channel}`);
		T.ok(await until(async () => (await widgetState(pa)) === 'open' && (await widgetState(pb)) === 'open', 15000),
			'both widgets connect');
		const wa = widget(pa), wb = widget(pb);
		const lines = [[wa, 'Order #1042 ships today. Can billing send the invoice?'],
			[wb, 'Sure! Invoice 2026-311 goes out within the hour.'],
			[wa, 'Thanks. The customer asked for net 30.'],
			[wb, 'Noted, net 30 it is.']];
		for (const [w, t] of lines) {
			await sendInWidget(w, t);
			await sleep(400);
		}
		T.ok(await until(async () => (await messageTexts(wa)).length === 4 && (await messageTexts(wb)).length === 4, 10000),
			'the conversation shows on both sides');
		await sleep(2200); // past the typing throttle
		await wa.type('#ct-input', 'Perfect, I will');
		T.ok(await until(() => wb.evaluate(() => /Alice Adams is typing/.test(document.getElementById('ct-typing').textContent)), 5000),
			'app2 shows that Alice is typing');
		await pa.evaluate(() => { const t = document.getElementById('toast'); if (t) t.hidden = true; });
		await pa.screenshot({ path: path.join(SHOTS, 'app1.png') });
		await pb.screenshot({ path: path.join(SHOTS, 'app2.png') });
		await pb.setViewportSize({ width: 400, height: 720 });
		await wb.click('#ct-people-toggle');
		T.ok(await until(() => wb.evaluate(() => document.querySelectorAll('#ct-people-list .ct-person').length === 2), 5000),
			'people panel lists both');
		await sleep(300);
		await pb.screenshot({ path: path.join(SHOTS, 'app2-narrow.png') });
	} finally {
		await browser.close();
	}
});
