// chat.mjs - users of app1 and app2 chat both ways through the embedded
// widgets; the parent pages get crosstalk:message and crosstalk:unread;
// msgHook fires; markup in a message shows as text and runs nothing;
// edit and delete reach the other side; history paging; a direct
// conversation; the widget fits 320 and 480 px.
import fs from 'node:fs';
import path from 'node:path';
import {
	readEnv, run, startTwoApps, aliceAndCarol, psql, launch, newChannel, widget, widgetState,
	messageTexts, sendInWidget, until, SHOTS, sleep,
} from './lib.mjs';

// open a channel the way a user would: its tab, or the select when the
// tabs do not all fit. Which of the two shows can change between the look
// and the action (the list is laid out again as channels arrive, and a tab
// that no longer fits is hidden), so each try looks again.
async function openInWidget(frame, name) {
	for (let attempt = 1; ; attempt++) {
		const select = await frame.evaluate(() =>
			document.getElementById('ct-app').classList.contains('ct-select-channels'));
		try {
			if (select)
				await frame.selectOption('#ct-channel-select', name, { timeout: 2000 });
			else
				await frame.click(`.ct-chan[data-channel="${name}"]`, { timeout: 2000 });
			return;
		} catch (e) {
			if (attempt >= 10)
				throw e;
		}
	}
}

await run('browser_chat', 240, async (T, logs) => {
	const state = process.env.CT_STATE;
	const env = readEnv(state);
	const { o1, o2 } = await startTwoApps(env, state);
	const channel = await newChannel(env, 'chat');
	fs.mkdirSync(SHOTS, { recursive: true });

	const browser = await launch();
	try {
		const { pa, pb } = await aliceAndCarol(browser, o1, o2, logs);
		await pa.goto(`${o1}/hook?channel=${channel}`);
		await pb.goto(`${o2}/chat?channel=${channel}`);

		T.ok(await until(async () => (await widgetState(pa)) === 'open', 15000), 'app1 widget connects',
			String(await widgetState(pa)));
		T.ok(await until(async () => (await widgetState(pb)) === 'open', 15000), 'app2 widget connects',
			String(await widgetState(pb)));
		let wa = widget(pa);
		const wb = widget(pb);
		const evA = () => pa.evaluate(() => window.ctEvents.map((e) => e.type));
		T.ok((await evA()).includes('crosstalk:authenticated'), 'parent got crosstalk:authenticated');
		T.ok(await until(async () => (await wa.evaluate(() => !!document.querySelector('.ct-chan[aria-current="true"]'))), 5000),
			'channel list shows the current channel');

		// app1 -> app2
		await sendInWidget(wa, 'hello from app1');
		T.ok(await until(async () => (await messageTexts(wb)).includes('hello from app1'), 10000),
			'app2 widget shows app1 message');
		T.ok(await until(() => pb.evaluate(() => window.ctEvents.some((e) => e.type === 'crosstalk:message' &&
			e.text === 'hello from app1' && e.user && e.user.id === 'alice' && !e.mine)), 5000),
			'app2 parent got crosstalk:message');

		// app2 -> app1, and msgHook on app1's page
		await sendInWidget(wb, 'hi back from app2');
		T.ok(await until(async () => (await messageTexts(wa)).includes('hi back from app2'), 10000),
			'app1 widget shows app2 message');
		T.ok(await until(() => pa.evaluate(() => window.hookCalls.includes('hi back from app2')), 5000),
			'msgHook fired on app1 page');
		T.ok(!(await pa.evaluate(() => window.hookCalls.includes('hello from app1'))),
			'msgHook is not called for own messages');
		T.ok(await pa.evaluate(() => window.ctEvents.some((e) => e.type === 'crosstalk:message' &&
			e.text === 'hello from app1' && e.mine)), 'own message reported with mine=true');

		// the parent page sets a theme: known variables with values of their kind only
		await pa.evaluate(() => window.crosstalkChat.setTheme({ '--accent': '#00aa77', '--bg': 'url(https://x.example/a)',
			'--fg': 'red;background:url(x)', '--evil': 'red', '--font': 'Georgia, serif' }));
		T.ok(await until(() => wa.evaluate(() => getComputedStyle(document.documentElement)
			.getPropertyValue('--accent').trim() === '#00aa77'), 5000), 'crosstalk:theme sets --accent');
		const themed = await wa.evaluate(() => ['--bg', '--fg', '--evil', '--font'].map((k) =>
			getComputedStyle(document.documentElement).getPropertyValue(k).trim()));
		T.eq(JSON.stringify(themed), JSON.stringify(['#ffffff', '#1d2330', '', 'Georgia, serif']),
			'a url(), a smuggled declaration and an unknown variable are ignored; a font list is taken');

		// the channel changes under both widgets: a new title, archived (read-only), back
		psql(env, `SELECT crosstalk.update_channel('${channel}', 'Renamed room', NULL)`);
		T.ok(await until(() => wb.evaluate(() => document.getElementById('ct-title').textContent === '# Renamed room'), 10000),
			'a rename reaches the other app\'s widget live');
		T.ok(await until(() => wa.evaluate(() => [...document.querySelectorAll('.ct-chan-name')]
			.some((e) => e.textContent === '# Renamed room')), 5000), 'and the channel list');
		psql(env, `SELECT crosstalk.update_channel('${channel}', NULL, true)`);
		T.ok(await until(() => wa.evaluate(() => document.getElementById('ct-input').disabled &&
			/archived/.test(document.getElementById('ct-input').placeholder)), 10000),
			'an archived channel\'s composer is read-only');
		psql(env, `SELECT crosstalk.update_channel('${channel}', NULL, false)`);
		T.ok(await until(() => wa.evaluate(() => !document.getElementById('ct-input').disabled), 10000),
			'and writable again after unarchive');

		// unread: app1's widget is hidden, app2 writes twice
		await pa.evaluate(() => window.crosstalkChat.setVisible(false));
		await sleep(200);
		await sendInWidget(wb, 'unread one');
		await sendInWidget(wb, 'unread two');
		const unread = await until(() => pa.evaluate((ch) => {
			const u = window.ctEvents.filter((e) => e.type === 'crosstalk:unread').pop();
			return u && u.channels && u.channels[ch] >= 2 && u.total >= 2 ? u : null;
		}, channel), 20000);
		T.ok(unread, 'app1 parent got crosstalk:unread with 2 for the channel');
		T.ok(await pa.evaluate(() => !document.getElementById('unread').hidden), 'app1 page shows an unread badge');
		await pa.evaluate(() => window.crosstalkChat.setVisible(true));
		T.ok(await until(() => pa.evaluate((ch) => {
			const u = window.ctEvents.filter((e) => e.type === 'crosstalk:unread').pop();
			return u && u.channels[ch] === 0;
		}, channel), 10000), 'unread back to 0 when visible again');

		// markup is text
		const evil = ['<img src=x onerror="window.top.pwned=1;alert(1)">',
			'<script>window.top.pwned2=1;alert(2)</script>',
			'<b onmouseover="alert(3)">bold?</b> & &amp; "quotes"'];
		for (const t of evil)
			await sendInWidget(wb, t);
		T.ok(await until(async () => {
			const got = await messageTexts(wa);
			return evil.every((t) => got.includes(t));
		}, 20000), 'markup shows verbatim as text in app1 widget');
		await sleep(500);
		const inject = await wa.evaluate(() => ({
			img: document.querySelectorAll('#ct-messages img').length,
			script: document.querySelectorAll('#ct-messages script').length,
			b: document.querySelectorAll('#ct-messages b').length,
		}));
		T.eq(inject, { img: 0, script: 0, b: 0 }, 'no elements created from message text');
		const pwned = await pa.evaluate(() => [window.pwned, window.pwned2]);
		T.ok(pwned[0] === undefined && pwned[1] === undefined, 'nothing ran on app1 page', JSON.stringify(pwned));
		T.ok(!logs.some((l) => l.includes('dialog]')), 'no alert() ran', logs.filter((l) => l.includes('dialog]')).join('; '));
		T.ok(await pa.evaluate((t) => Array.from(document.querySelectorAll('#hooked li')).some((li) => li.textContent === t),
			evil[0]), 'msgHook page shows the markup as text');

		// formatting (web/format.js) in the widget, sent from the other app
		await sendInWidget(wb, '*shipped* see https://example.com/orders?id=10248 or `code` javascript:alert(5)');
		const fmt = await until(() => wa.evaluate(() => {
			const li = Array.from(document.querySelectorAll('#ct-messages .ct-msg:not(.ct-pending)'))
				.find((l) => l.textContent.includes('see https://example.com/orders'));
			if (!li)
				return null;
			const a = Array.from(li.querySelectorAll('.ct-text a'));
			return {
				strong: li.querySelector('.ct-text strong')?.textContent,
				code: li.querySelector('.ct-text code')?.textContent,
				links: a.map((x) => [x.href, x.target, x.rel].join(' ')),
			};
		}), 10000);
		T.eq(fmt, { strong: 'shipped', code: 'code',
			links: ['https://example.com/orders?id=10248 _blank noopener noreferrer'] },
		'app1 widget shows bold, code and the one https link (javascript: stays text)');

		// search from the widget: the hit marked, <b> in the text shown as text
		const word = `zsearch${Date.now()}`;
		await sendInWidget(wb, `find ${word} <b>here</b>`);
		T.ok(await until(async () => (await messageTexts(wa)).some((t) => t.includes(word)), 10000),
			'the message to search for arrived');
		await wa.click('#ct-search-toggle');
		await wa.fill('#ct-search-input', word);
		await wa.press('#ct-search-input', 'Enter');
		const found = await until(() => wa.evaluate(() => {
			const li = document.querySelector('#ct-search-results .ct-result');
			return li ? {
				marks: Array.from(li.querySelectorAll('mark')).map((m) => m.textContent),
				text: li.querySelector('.ct-result-text').textContent,
				b: li.querySelectorAll('b').length,
				status: document.getElementById('ct-search-status').textContent,
				composer: getComputedStyle(document.getElementById('ct-composer')).display,
			} : null;
		}), 10000);
		T.eq(found && { marks: found.marks, b: found.b, composer: found.composer },
			{ marks: [word], b: 0, composer: 'none' }, 'search result with the word marked', JSON.stringify(found));
		T.ok(found && found.text.includes('<b>here</b>') && /1 message found/.test(found.status),
			'its text as typed, and a count', JSON.stringify(found));
		await wa.click('#ct-search-results .ct-result button');
		T.ok(await until(() => wa.evaluate((ch) => document.getElementById('ct-search').hidden &&
			document.querySelector('[aria-current="true"]')?.getAttribute('data-channel') === ch, channel), 5000),
		'a result opens its channel and closes the search');

		// edit and delete own message reach the other side
		const mine = await wa.evaluate(() => {
			const li = Array.from(document.querySelectorAll('#ct-messages .ct-msg.ct-mine'))
				.find((l) => l.querySelector('.ct-text').textContent === 'hello from app1');
			return li && li.getAttribute('data-id');
		});
		T.ok(mine, 'own message has edit controls');
		if (mine) {
			await wa.click(`.ct-msg[data-id="${mine}"] .ct-act >> text=Edit`);
			await wa.fill(`.ct-msg[data-id="${mine}"] .ct-edit textarea`, 'hello from app1 (edited)');
			await wa.press(`.ct-msg[data-id="${mine}"] .ct-edit textarea`, 'Enter');
			T.ok(await until(() => wb.evaluate((id) => {
				const li = document.querySelector(`.ct-msg[data-id="${id}"]`);
				return li && li.querySelector('.ct-text').textContent === 'hello from app1 (edited)' &&
					!!li.querySelector('.ct-edited');
			}, mine), 10000), 'edit shows in app2 widget');
			await sendInWidget(wa, 'to be deleted');
			const del = await until(() => wa.evaluate(() => {
				const li = Array.from(document.querySelectorAll('#ct-messages .ct-msg.ct-mine'))
					.find((l) => l.querySelector('.ct-text').textContent === 'to be deleted');
				return li && li.getAttribute('data-id');
			}), 10000);
			if (del) {
				await wa.click(`.ct-msg[data-id="${del}"] .ct-act >> text=Delete`);
				await wa.click(`.ct-msg[data-id="${del}"] .ct-act >> text=Really delete?`);
				T.ok(await until(() => wb.evaluate((id) => {
					const li = document.querySelector(`.ct-msg[data-id="${id}"]`);
					return li && li.classList.contains('ct-deleted');
				}, del), 10000), 'delete shows in app2 widget');
			} else {
				T.ok(false, 'message to delete arrived');
			}
		}

		// presence: both users listed in the widget
		T.ok(await until(() => wa.evaluate(() => Array.from(document.querySelectorAll('#ct-people-list .ct-person-name'))
			.map((e) => e.textContent).sort().join(',')) .then((s) => s === 'Alice Adams,Carol Chen'), 10000),
		'presence lists both users');

		// a direct conversation: alice starts it from the people list
		await wa.click('#ct-people-toggle');
		await wa.click('#ct-people-list button[aria-label="Direct message to Carol Chen"]');
		T.ok(await until(() => wa.evaluate(() => document.querySelector('.ct-chan[aria-current="true"]').textContent === '@ Carol Chen'), 5000),
			'"Message" opens a direct conversation tab');
		await sendInWidget(wa, 'psst, carol');
		await pb.evaluate(() => window.crosstalkChat.openChannel('dm:alice:carol'));
		T.ok(await until(async () => (await messageTexts(wb)).includes('psst, carol'), 10000), 'carol reads the direct message');
		await sendInWidget(wb, 'psst back');
		T.ok(await until(async () => (await messageTexts(wa)).includes('psst back'), 10000), 'alice reads the reply');

		// the directory: someone offline, found by a word of the name, messaged from there
		const zoe = `zoe${Date.now() % 1000000}`;
		psql(env, `SELECT crosstalk.register_session('app2', '${zoe}', 'Zoe ${zoe}', 3600, NULL, 'Night shift')`);
		if (await wa.evaluate(() => document.getElementById('ct-people').hidden))
			await wa.click('#ct-people-toggle');
		await wa.fill('#ct-dir-input', zoe.toUpperCase());
		const dirHits = await until(() => wa.evaluate((n) => {
			const hits = Array.from(document.querySelectorAll('#ct-dir-list .ct-person'))
				.map((li) => [li.querySelector('.ct-person-name').textContent, li.querySelector('.ct-dot').className,
					(li.querySelector('.ct-person-title') || {}).textContent]);
			return hits.length === 1 && hits[0][0] === n ? hits : null; // the filtered list, not the first
		}, `Zoe ${zoe}`), 10000);
		T.eq(JSON.stringify(dirHits), JSON.stringify([[`Zoe ${zoe}`, 'ct-dot', 'Night shift']]),
			'the directory finds an offline user by a word of the name, with the title');
		await wa.click(`#ct-dir-list button[aria-label="Direct message to Zoe ${zoe}"]`);
		T.ok(await until(() => wa.evaluate((n) => document.querySelector('.ct-chan[aria-current="true"]').textContent === '@ ' + n,
			`Zoe ${zoe}`), 5000), 'and "Message" opens a direct conversation with them');

		// a group of three, picked in the directory: carol's widget gets it without a reload
		const pick = async (q, name) => {
			if (await wa.evaluate(() => document.getElementById('ct-people').hidden))
				await wa.click('#ct-people-toggle');
			await wa.fill('#ct-dir-input', q);
			const box = `#ct-dir-list input[aria-label="Add ${name} to a new group"]`;
			T.ok(await until(() => wa.evaluate((b) => !!document.querySelector(b), box), 10000), `${name} listed`);
			await wa.check(box);
		};
		await pick('carol chen', 'Carol Chen');
		await pick(zoe, `Zoe ${zoe}`);
		T.ok(await wa.evaluate(() => !document.getElementById('ct-group-start').hidden), '"Start a group" shows with two picked');
		await wa.click('#ct-group-start');
		const groupTab = `🔒 Alice Adams, Carol Chen, Zoe ${zoe}`;
		T.ok(await until(() => wa.evaluate((t) => document.querySelector('.ct-chan[aria-current="true"]').textContent === t,
			groupTab), 10000), 'the group opens as a tab');
		await sendInWidget(wa, 'hello group');
		T.ok(await until(() => wb.evaluate((t) => Array.from(document.querySelectorAll('.ct-chan-name')).some((e) => e.textContent === t),
			groupTab), 15000), 'carol\'s widget lists the group without a reload');
		// its owner adds someone from the directory; carol leaves
		const erin = `erin${Date.now() % 1000000}`;
		psql(env, `SELECT crosstalk.register_session('app1', '${erin}', 'Erin ${erin}', 3600)`);
		if (await wa.evaluate(() => document.getElementById('ct-people').hidden))
			await wa.click('#ct-people-toggle');
		await wa.fill('#ct-dir-input', erin);
		await wa.click(`#ct-dir-list button[aria-label="Add Erin ${erin} to this channel"]`);
		const groupName = await wa.evaluate(() => document.querySelector('.ct-chan[aria-current="true"]').getAttribute('data-channel'));
		T.ok(await until(() => psql(env, `SELECT count(*) FROM crosstalk.channel_members WHERE channel = '${groupName}' AND user_id = '${erin}'`).trim() === '1', 10000),
			'the owner adds erin from the directory');
		await pb.evaluate((ch) => window.crosstalkChat.openChannel(ch), groupName);
		if (await wb.evaluate(() => document.getElementById('ct-people').hidden))
			await wb.click('#ct-people-toggle');
		await wb.click('#ct-leave');
		T.ok(await until(() => wb.evaluate((t) => !Array.from(document.querySelectorAll('.ct-chan-name')).some((e) => e.textContent === t),
			groupTab), 10000), 'carol leaves: the group is gone from her list');
		T.eq(psql(env, `SELECT count(*) FROM crosstalk.channel_members WHERE channel = '${groupName}' AND user_id = 'carol'`).trim(), '0',
			'and from its members');
		if (!(await wb.evaluate(() => document.getElementById('ct-people').hidden)))
			await wb.click('#ct-people-toggle');

		// a mention: carol completes "@ali" to alice's name; alice's page hears crosstalk:mention
		await pb.evaluate((ch) => window.crosstalkChat.openChannel(ch), channel);
		await wb.click('#ct-input');
		await wb.type('#ct-input', '@ali');
		T.ok(await until(() => wb.evaluate(() => Array.from(document.querySelectorAll('#ct-suggest li'))
			.some((li) => li.textContent === 'Alice Adams (app1)')), 10000), '@ completion offers alice');
		await wb.press('#ct-input', 'Enter');
		T.eq(await wb.evaluate(() => document.getElementById('ct-input').value), '@Alice Adams ',
			'Enter puts her name in, and sends nothing');
		await wb.type('#ct-input', 'please look');
		await wb.press('#ct-input', 'Enter');
		T.ok(await until(() => pa.evaluate(() => window.ctEvents.some((e) => e.type === 'crosstalk:mention' &&
			e.text === '@Alice Adams please look' && e.user && e.user.id === 'carol')), 10000),
			'alice\'s parent page gets crosstalk:mention');
		await pa.evaluate((ch) => window.crosstalkChat.openChannel(ch), channel);
		T.ok(await until(() => wa.evaluate(() => Array.from(document.querySelectorAll('.ct-msg.ct-mentioned'))
			.some((li) => li.textContent.includes('please look'))), 10000), 'and her widget marks the message');

		// a reply quotes what it answers; reactions show as chips on both sides
		const msgLi = (text) => `.ct-msg:has(.ct-text:text-is("${text}"))`;
		await wa.click(`${msgLi('@Alice Adams please look')} button:text-is("Reply")`);
		T.ok(await wa.evaluate(() => /Replying to Carol Chen/.test(document.getElementById('ct-replying').textContent)),
			'the composer says whom alice answers');
		await sendInWidget(wa, 'on it');
		T.ok(await until(() => wb.evaluate(() => Array.from(document.querySelectorAll('.ct-msg'))
			.some((li) => li.querySelector('.ct-text') && li.querySelector('.ct-text').textContent === 'on it' &&
				/please look/.test((li.querySelector('.ct-quote') || {}).textContent || ''))), 10000),
			'carol sees the reply with the quoted message');
		await wb.click(`${msgLi('on it')} button:text-is("React")`);
		await wb.click(`${msgLi('on it')} button[aria-label="React with 🎉"]`);
		T.ok(await until(() => wa.evaluate(() => Array.from(document.querySelectorAll('.ct-reaction'))
			.some((b) => b.textContent === '🎉 1')), 10000), 'alice sees carol\'s reaction');
		await wa.click(`${msgLi('on it')} .ct-reaction`);
		T.ok(await until(() => wb.evaluate(() => Array.from(document.querySelectorAll('.ct-reaction'))
			.some((b) => b.textContent === '🎉 2')), 10000), 'alice adds hers by pressing the chip: 2 on carol\'s side');

		// history: 70 stored messages, the widget shows the last 50, then
		// "Load older messages" brings the rest, in order
		const hist = await newChannel(env, 'hist');
		psql(env, `SELECT count(*) FROM (SELECT crosstalk.post_message('app2', 'dave', 'Dave Diaz', '${hist}',
			'old ' || lpad(g::text, 2, '0')) FROM generate_series(1, 70) g) x;`);
		// reload: the widget now knows the channel at start, subscribes it
		// from its end, and fetches its backlog when the tab is opened
		await pa.reload();
		T.ok(await until(async () => (await widgetState(pa)) === 'open', 15000), 'app1 widget reconnects after a reload');
		wa = widget(pa);
		T.ok(await until(() => wa.evaluate((ch) => !!document.querySelector(`.ct-chan[data-channel="${ch}"]`), hist), 5000),
			'the history channel has a tab');
		await openInWidget(wa, hist);
		T.ok(await until(async () => (await messageTexts(wa)).length === 50, 10000), 'a channel opens with its last 50 messages',
			String((await messageTexts(wa)).length));
		T.ok(await wa.evaluate(() => !!document.querySelector('#ct-messages .ct-new')),
			'"New messages" marks where alice stopped reading');
		T.ok(await wa.evaluate(() => Array.from(document.querySelectorAll('#ct-messages .ct-day'))
			.some((d) => d.textContent === 'Today')), 'a day line says "Today"');
		T.ok(await until(() => wa.evaluate(() => !document.getElementById('ct-jump').hidden), 5000),
			'"Jump to first unread" is offered while the line is out of view');
		// a DOM click: the pointer's own scrolling into view would move the list first
		await wa.evaluate(() => document.getElementById('ct-jump').click());
		T.ok(await until(() => wa.evaluate(() => {
			const l = document.querySelector('#ct-messages .ct-new').getBoundingClientRect();
			const box = document.getElementById('ct-messages').getBoundingClientRect();
			return l.top >= box.top - 1 && l.bottom <= box.bottom + 1;
		}), 5000), 'and brings it into view');
		T.ok(await until(() => wa.evaluate(() => !document.getElementById('ct-older').hidden), 5000), '"Load older" is offered');
		await wa.click('#ct-older');
		const want = Array.from({ length: 70 }, (_, i) => `old ${String(i + 1).padStart(2, '0')}`);
		T.ok(await until(async () => JSON.stringify(await messageTexts(wa)) === JSON.stringify(want), 10000),
			'"Load older" brings the rest, in order');
		T.ok(await until(() => wa.evaluate(() => document.getElementById('ct-older').hidden), 5000),
			'"Load older" goes away at the start of the channel');

		// crosstalk:open-channel from the page
		const orders = await newChannel(env, 'orders', 'Orders & invoices');
		await pa.evaluate((ch) => window.crosstalkChat.openChannel(ch), orders);
		T.ok(await until(async () => (await wa.evaluate(() => document.querySelector('.ct-chan[aria-current="true"]').textContent))
			.includes('Orders & invoices'), 5000), 'crosstalk:open-channel switches the widget');

		// keyboard only: Tab from the channel list reaches the composer
		await wa.focus(await wa.evaluate(() => document.getElementById('ct-app')
			.classList.contains('ct-select-channels')) ? '#ct-channel-select' : '.ct-chan');
		let reached = false;
		for (let i = 0; i < 60 && !reached; i++) {
			await pa.keyboard.press('Tab');
			reached = await wa.evaluate(() => document.activeElement && document.activeElement.id === 'ct-input');
		}
		T.ok(reached, 'Tab reaches the composer');
		await pa.keyboard.type('typed with the keyboard only');
		await pa.keyboard.press('Enter');
		T.ok(await until(async () => (await messageTexts(wb)).includes('typed with the keyboard only') ||
			(await messageTexts(wa)).includes('typed with the keyboard only'), 10000), 'Enter sends');
		// every control has a name a screen reader can read
		const unnamed = await wa.evaluate(() => Array.from(document.querySelectorAll('button, textarea, input, [role="log"], nav, aside'))
			.filter((e) => !e.hidden && !(e.closest('[hidden]')))
			.filter((e) => {
				const byLabel = e.id && document.querySelector(`label[for="${e.id}"]`);
				const name = e.getAttribute('aria-label') || (byLabel && byLabel.textContent) ||
					(e.tagName === 'BUTTON' ? e.textContent : '');
				return !(name && name.trim());
			}).map((e) => e.outerHTML.slice(0, 80)));
		T.eq(unnamed, [], 'controls and regions are labelled');

		for (const width of [320, 480]) {
			await pa.evaluate((w) => { window.crosstalkChat.iframe.style.width = w + 'px'; }, width);
			await sleep(300);
			const fit = await wa.evaluate(() => ({
				doc: document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1,
				send: document.getElementById('ct-send').getBoundingClientRect().right <= document.documentElement.clientWidth,
			}));
			T.eq(fit, { doc: true, send: true }, `widget fits a ${width} px iframe`);
			const all = await wa.evaluate(() => {
				const sel = document.getElementById('ct-channel-select');
				const tabs = document.querySelector('.ct-channels');
				const shown = getComputedStyle(sel).display !== 'none' ? 'select' : 'tabs';
				const reach = shown === 'select' ? sel.options.length
					: Array.from(document.querySelectorAll('.ct-chan')).filter((b) => {
						const r = b.getBoundingClientRect(), n = tabs.getBoundingClientRect();
						return r.left >= n.left - 1 && r.right <= n.right + 1;
					}).length;
				return { shown, reach, all: document.querySelectorAll('.ct-chan').length };
			});
			T.eq(all.reach, all.all, `every channel in reach at ${width} px (${all.shown}, ${all.all} channels)`);
		}
		await pa.evaluate(() => { window.crosstalkChat.iframe.style.width = '320px'; });
		await sleep(300);
		T.ok(await wa.evaluate(() => getComputedStyle(document.getElementById('ct-channel-select')).display !== 'none'),
			'at 320 px the channels are a select');
		// crosstalk:logout from the page: the widget signs out and forgets
		await pb.evaluate(() => window.crosstalkChat.logout());
		T.ok(await until(() => wb.evaluate(() => document.getElementById('ct-app').getAttribute('data-state') === 'closed' &&
			document.querySelectorAll('#ct-messages .ct-msg').length === 0 &&
			/Signed out/.test(document.getElementById('ct-conn').textContent)), 5000), 'crosstalk:logout signs the widget out');
	} finally {
		await browser.close();
	}
});
