// cfws.mjs - a page written for <cfwebsocket>, moved to crosstalk.js by the
// one-line loader change, sends and receives; the <cfwebsocket> method
// names work; sendMessage() reaches the other user's direct channel.
import path from 'node:path';
import {
	readEnv, run, startApp, testOrigins, launch, loginContext, newChannel, watchPage, until, api, session,
} from './lib.mjs';

await run('browser_cfws', 90, async (T, logs) => {
	const state = process.env.CT_STATE;
	const env = readEnv(state);
	const { o1, p1 } = await testOrigins(env, state);
	await startApp(path.join(state, 'env'), p1, ['--app', 'app1'], state);
	const channel = await newChannel(env, 'cfws');

	const browser = await launch();
	try {
		const ctx = await loginContext(browser, o1, 'bob', 'Bob Brown');
		const page = await ctx.newPage();
		watchPage(page, 'cfws', logs);
		await page.goto(`${o1}/cfws?channel=${channel}`);
		T.ok(await until(() => page.evaluate(() => document.getElementById('state').textContent === 'open'), 15000),
			'onOpen handler named in the tag ran');
		T.ok(await page.evaluate(() => typeof window.mysocket === 'object' &&
			['subscribe', 'unsubscribe', 'publish', 'getSubscriberCount', 'getSubscriptions', 'openConnection',
				'closeConnection', 'isConnectionOpen', 'sendMessage'].every((m) => typeof window.mysocket[m] === 'function')),
		'window.mysocket has the <cfwebsocket> methods');
		T.ok(await page.evaluate(() => window.mysocket.isConnectionOpen()), 'isConnectionOpen() is true');
		T.ok(await until(() => page.evaluate((ch) => window.mysocket.getSubscriptions().includes(ch), channel), 5000),
			'getSubscriptions() lists the subscribeTo channel');

		// send from the page's own UI
		await page.fill('#text', 'published with mysocket.publish');
		await page.press('#text', 'Enter');
		T.ok(await until(() => page.evaluate(() => window.received.includes('published with mysocket.publish')), 10000),
			'the page receives its own publish through onMessage');

		// receive what another app's user posts over HTTP
		const ref = await session(env, 'app2', 'dave', 'Dave Diaz');
		const r = await api(env, 'POST', 'messages', { key: env.APP2_KEY, session: ref,
			body: { channel, text: 'from app2 over HTTP <b>bold</b>' } });
		T.ok(r.status === 201 || r.status === 200, 'HTTP publish accepted', JSON.stringify(r));
		T.ok(await until(() => page.evaluate(() => window.received.includes('from app2 over HTTP <b>bold</b>')), 10000),
			'onMessage gets a message published by app2');
		T.ok(await page.evaluate(() => Array.from(document.querySelectorAll('#msgs li'))
			.some((li) => li.textContent === 'Dave Diaz: from app2 over HTTP <b>bold</b>')), 'shown as text');

		const count = await page.evaluate((ch) => window.mysocket.getSubscriberCount(ch), channel);
		T.ok(typeof count === 'number' && count >= 1, 'getSubscriberCount() answers a number', String(count));

		// sendMessage: a direct message dave can read
		const ack = await page.evaluate(() => window.mysocket.sendMessage('dave', 'psst, dave').then((a) => a, (e) => e));
		T.ok(ack && ack.type === 'ack', 'sendMessage() acknowledged', JSON.stringify(ack));
		const dm = await api(env, 'GET', 'messages/poll?channel=dm:bob:dave&after=0', { key: env.APP2_KEY, session: ref });
		T.ok(dm.json && (dm.json.messages || []).some((m) => m.text === 'psst, dave'), 'dave reads the direct message',
			JSON.stringify(dm.json).slice(0, 300));

		// close and reopen: nothing received twice
		await page.evaluate(() => window.mysocket.closeConnection());
		T.ok(!(await page.evaluate(() => window.mysocket.isConnectionOpen())), 'closeConnection() closes');
		await page.evaluate(() => window.mysocket.openConnection());
		T.ok(await until(() => page.evaluate(() => window.mysocket.isConnectionOpen()), 10000),
			'openConnection() reconnects (new ticket from the app)');
		await api(env, 'POST', 'messages', { key: env.APP2_KEY, session: ref, body: { channel, text: 'after reopen' } });
		T.ok(await until(() => page.evaluate(() => window.received.includes('after reopen')), 10000), 'receives after reopen');
		const rec = await page.evaluate(() => window.received);
		T.eq(rec.filter((x) => x === 'published with mysocket.publish').length, 1, 'no duplicate after reopen');
	} finally {
		await browser.close();
	}
});
