// pictures.mjs - the pictures in docs/: app1 and app2 (the demo stand-ins)
// chatting through the embedded widget (formatting, a mention, a reply, a
// reaction), a private group from the directory and a search, on a stack of
// its own so nothing from other tests shows. Checks only what the pictures
// depend on; copy build/browser-shots/*.png to docs/screenshot-*.png.
import fs from 'node:fs';
import path from 'node:path';
import {
	run, startApp, launch, loginContext, newChannel, watchPage, widget, widgetState, messageTexts,
	sendInWidget, until, sleep, ownStack, SHOTS, psql,
} from './lib.mjs';

await run('browser_pictures', 170, async (T, logs) => {
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
		const lines = [[wa, 'Order *#1042* ships today, tracking: https://track.example/1042'],
			[wb, '@Alice Adams sure! Invoice `INV-2026-311` goes out within the hour.'],
			[wa, 'Thanks. The customer asked for _net 30_.']];
		for (const [w, t] of lines) {
			await sendInWidget(w, t);
			await sleep(400);
		}
		T.ok(await until(async () => (await messageTexts(wb)).length === 3, 10000), 'the conversation shows on both sides');
		const msg = (t) => `.ct-msg:has-text("${t}")`;
		await wb.click(`${msg('customer asked for')} button:text-is("Reply")`);
		await sendInWidget(wb, 'Noted, net 30 it is.');
		T.ok(await until(async () => (await messageTexts(wa)).length === 4, 10000), 'the reply arrives');
		await wa.click(`${msg('Noted, net 30 it is.')} button:text-is("React")`);
		await wa.click(`${msg('Noted, net 30 it is.')} button[aria-label="React with 👍"]`);
		T.ok(await until(() => wb.evaluate(() => !!document.querySelector('.ct-reaction')), 10000), 'a reaction shows');
		T.ok(await until(() => wa.evaluate(() => !!document.querySelector('.ct-msg.ct-mentioned')), 10000),
			'alice sees the mention marked');
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
		await pb.setViewportSize({ width: 900, height: 640 });
		await wb.click('#ct-people-toggle');

		// a private group alice starts with carol and dave, from the directory
		psql(env, "SELECT crosstalk.register_session('app1', 'dave', 'Dave Diaz', 3600, NULL, 'Warehouse')");
		await wa.fill('#ct-input', '');
		await wa.click('#ct-people-toggle');
		for (const [q, name] of [['carol', 'Carol Chen'], ['dave', 'Dave Diaz']]) {
			await wa.fill('#ct-dir-input', q);
			const box = `#ct-dir-list input[aria-label="Add ${name} to a new group"]`;
			T.ok(await until(() => wa.evaluate((b) => !!document.querySelector(b), box), 10000), `${name} in the directory`);
			await wa.check(box);
		}
		await wa.click('#ct-group-start');
		T.ok(await until(() => wa.evaluate(() => /Dave Diaz/.test(document.getElementById('ct-title').textContent)), 10000),
			'the group opens');
		await sendInWidget(wa, 'Kick-off for the *Q3 rollout*: Thursday 10:00, agenda in `docs/q3.md`');
		T.ok(await until(async () => (await messageTexts(wa)).length === 1, 10000), 'the group has its first message');
		await sleep(300);
		await pa.screenshot({ path: path.join(SHOTS, 'group.png') });

		// search: carol looks for the invoice
		await wb.click('#ct-search-toggle');
		await wb.fill('#ct-search-input', 'invoice');
		await wb.press('#ct-search-input', 'Enter');
		T.ok(await until(() => wb.evaluate(() => document.querySelectorAll('#ct-search-results li').length >= 1), 10000),
			'search finds the invoice');
		await sleep(300);
		await pb.screenshot({ path: path.join(SHOTS, 'search.png') });
	} finally {
		await browser.close();
	}
});
