// restart.mjs - crosstalk-wsd is stopped and started again in the middle of
// a chat between app1 and app2 widgets. Messages typed while it is down wait
// in the widget and go out after the reconnect; messages posted over HTTP
// meanwhile arrive by resume. In the end each widget shows every message
// exactly once, in seq order; so does a page on crosstalk.js. Runs on its
// own stack (it restarts a daemon).
import path from 'node:path';
import {
	run, startApp, launch, loginContext, newChannel, watchPage, widget, widgetState,
	messageTexts, sendInWidget, until, sleep, api, session, ownStack, stopDaemon, startDaemon,
} from './lib.mjs';

// stop crosstalk-wsd, run whileDown, and start it again as stack.sh did
async function restartWsd(state, env, downMs, whileDown) {
	const stopped = await stopDaemon(state, 'wsd');
	const t0 = Date.now();
	await whileDown();
	await sleep(Math.max(0, downMs - (Date.now() - t0)));
	startDaemon(state, stopped);
	return until(async () => (await fetch(`${env.CROSSTALK_WSD}/health`)).ok, 15000, 100);
}

await run('browser_restart', 200, async (T, logs) => {
	const { state, env, o1, o2, p1, p2 } = await ownStack('ct-restart-');
	await startApp(path.join(state, 'env'), p1, ['--app', 'app1'], state);
	await startApp(path.join(state, 'env'), p2, ['--app', 'app2'], state);
	const channel = await newChannel(env, 'restart');

	const browser = await launch();
	try {
		const ca = await loginContext(browser, o1, 'alice', 'Alice Adams');
		const cb = await loginContext(browser, o2, 'carol', 'Carol Chen');
		const pa = await ca.newPage(), pb = await cb.newPage();
		watchPage(pa, 'app1', logs);
		watchPage(pb, 'app2', logs);
		await pa.goto(`${o1}/chat?channel=${channel}`);
		await pb.goto(`${o2}/chat?channel=${channel}`);
		// and a page on crosstalk.js through the <cfwebsocket>-style loader
		const cc = await loginContext(browser, o1, 'bob', 'Bob Brown');
		const pc = await cc.newPage();
		watchPage(pc, 'cfws', logs);
		await pc.goto(`${o1}/cfws?channel=${channel}`);
		T.ok(await until(async () => (await widgetState(pa)) === 'open' && (await widgetState(pb)) === 'open', 15000),
			'both widgets connect');
		T.ok(await until(() => pc.evaluate((ch) => window.mysocket.isConnectionOpen() &&
			window.mysocket.conn.channels[ch] && window.mysocket.conn.channels[ch].live, channel), 15000),
		'crosstalk.js page connects and subscribes');
		const wa = widget(pa), wb = widget(pb);
		const sent = [];
		const say = async (w, who, i) => {
			const t = `${who} ${String(i).padStart(2, '0')}`;
			sent.push(t);
			await sendInWidget(w, t);
		};

		for (let i = 1; i <= 8; i++)
			await say(i % 2 ? wa : wb, i % 2 ? 'alice' : 'carol', i);
		T.ok(await until(async () => (await messageTexts(wb)).length === 8, 10000), 'first 8 arrive before the restart');

		const carolRef = await session(env, 'app2', 'carol', 'Carol Chen');
		// every state the app1 widget passes through from here on
		await wa.evaluate(() => {
			const app = document.getElementById('ct-app');
			window.seenStates = [];
			new MutationObserver(() => window.seenStates.push(app.getAttribute('data-state')))
				.observe(app, { attributes: true, attributeFilter: ['data-state'] });
		});
		const up = await restartWsd(state, env, 1500, async () => {
			T.ok(await until(async () => (await widgetState(pa)) === 'reconnecting', 5000),
				'app1 widget shows that it is reconnecting');
			// read in one step with the state: the text belongs to it
			const shown = await until(() => wa.evaluate(() => {
				const el = document.getElementById('ct-conn');
				return document.getElementById('ct-app').getAttribute('data-state') === 'reconnecting' &&
					!el.hidden && /Connection lost\. Reconnecting/.test(el.textContent);
			}), 5000);
			T.ok(shown, 'connection state is visible in the widget',
				await wa.evaluate(() => document.getElementById('ct-conn').textContent));
			// typed while the daemon is down: queued in the widget
			for (let i = 9; i <= 12; i++)
				await say(i % 2 ? wa : wb, i % 2 ? 'alice' : 'carol', i);
			// posted over HTTP while the daemon is down: arrives by resume
			for (let i = 13; i <= 14; i++) {
				const t = `http ${i}`;
				const r = await api(env, 'POST', 'messages', { key: env.APP2_KEY, session: carolRef, body: { channel, text: t } });
				T.ok(r.status === 201 || r.status === 200, `HTTP post ${i} while wsd is down`);
			}
		});
		T.ok(up, 'crosstalk-wsd is back');
		T.ok(await until(async () => (await widgetState(pa)) === 'open' && (await widgetState(pb)) === 'open', 30000),
			'both widgets reconnect');
		// the page's ticket URL answers at once: a reconnect never says
		// "waiting for sign-in" on the way
		const seen = await wa.evaluate(() => window.seenStates);
		T.ok(seen.includes('reconnecting') && !seen.includes('auth-required'),
			'the widget went from reconnecting to open without asking for a sign-in', seen.join(' '));
		for (let i = 15; i <= 20; i++)
			await say(i % 2 ? wa : wb, i % 2 ? 'alice' : 'carol', i);

		// the truth: the channel's stream as the API has it, in seq order
		let truth = [];
		await until(async () => {
			const r = await api(env, 'GET', `messages/poll?channel=${channel}&after=0&limit=200`, { key: env.APP2_KEY, session: carolRef });
			truth = ((r.json && r.json.messages) || []).map((m) => m.text);
			return truth.length >= 20;
		}, 20000, 250);
		T.eq(truth.length, 20, 'the channel holds each message once');
		T.eq([...truth].filter((t) => !t.startsWith('http')).sort(), [...sent].sort(), 'every typed message was stored');

		for (const [label, w] of [['app1', wa], ['app2', wb]]) {
			await until(async () => (await messageTexts(w)).length >= 20 &&
				(await w.evaluate(() => document.querySelectorAll('.ct-pending').length)) === 0, 20000, 200);
			const shown = await messageTexts(w);
			T.eq(shown, truth, `${label} widget shows every message once, in order`);
			T.eq(await w.evaluate(() => document.querySelectorAll('.ct-pending, .ct-failed').length), 0,
				`${label} widget has no unsent leftovers`);
		}
		await until(async () => (await pc.evaluate(() => window.received.length)) >= 20, 20000, 200);
		T.eq(await pc.evaluate(() => window.received), truth, 'crosstalk.js page got every message once, in order');
	} finally {
		await browser.close();
	}
});
