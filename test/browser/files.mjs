// files.mjs - attachments in the widget: alice (app1) attaches images
// through the paperclip's picker, a paste into the composer and a drop on
// the chat; carol (app2, the other origin) sees each preview load and
// opens it in a new tab; a PDF and a text file arrive as download links
// whose hrefs fetch as attachments; a file over max_size is refused (by
// the widget and by the server) and the typed text stays; an HTML page
// and an executable named .png are refused for their type; crosstalk.js's
// upload() reports progress and fileUrls() batches and keeps links.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import {
	readEnv, run, startTwoApps, aliceAndCarol, launch, newChannel, widget, widgetState,
	messageTexts, sendInWidget, session, ticket, until, sleep, SHOTS,
} from './lib.mjs';

// --- files made here ------------------------------------------------------

const CRC = new Int32Array(256).map((_, n) => {
	let c = n;
	for (let k = 0; k < 8; k++)
		c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
	return c;
});
function crc32(buf) {
	let c = -1;
	for (const b of buf)
		c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ -1) >>> 0;
}
function chunk(type, data) {
	const len = Buffer.alloc(4), crc = Buffer.alloc(4);
	len.writeUInt32BE(data.length);
	const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
	crc.writeUInt32BE(crc32(td));
	return Buffer.concat([len, td, crc]);
}
// a w x h PNG of one colour (a real one: the browser must decode it)
function png(w, h, [r, g, b]) {
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr.set([8, 2, 0, 0, 0], 8);
	const raw = Buffer.alloc((w * 3 + 1) * h);
	for (let y = 0; y < h; y++)
		for (let x = 0; x < w; x++)
			raw.set([r, g, b], y * (w * 3 + 1) + 1 + x * 3);
	return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
		chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
// a small PDF of exactly n bytes
function pdf(n) {
	const head = '%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n' +
		'2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n';
	const tail = '\n%%EOF\n';
	return Buffer.from(head + '%' + 'x'.repeat(n - head.length - tail.length - 1) + tail, 'latin1');
}

// [attachments] max_size of the stack (the daemon's config), else the default
function maxSize(env) {
	for (const f of [env.CROSSTALK_DAEMON_CONFIG, env.CROSSTALK_CONFIG]) {
		let text = '';
		try {
			text = fs.readFileSync(f, 'utf8');
		} catch (e) {
			continue;
		}
		const sec = /^\[attachments\]([^[]*)/m.exec(text);
		const m = sec && /^\s*max_size\s*=\s*(\d+)/m.exec(sec[1]);
		if (m)
			return parseInt(m[1], 10);
	}
	return 10485760;
}

// --- the widget ----------------------------------------------------------------

const chips = (f) => f.evaluate(() => Array.from(document.querySelectorAll('#ct-files .ct-file-chip')).map((li) => ({
	name: li.querySelector('.ct-file-name').textContent, state: li.getAttribute('data-state'),
	status: li.querySelector('.ct-file-status').textContent,
})));

// every chip uploaded (and n of them)
const uploaded = (f, n) => until(async () => {
	const c = await chips(f);
	return c.length === n && c.every((x) => x.state === 'done') ? c : null;
}, 20000);

// the preview of an image in a widget's messages, once it has loaded
async function preview(f, alt) {
	return until(() => f.evaluate((a) => {
		const img = Array.from(document.querySelectorAll('#ct-messages .ct-msg:not(.ct-pending) .ct-file-image img'))
			.find((i) => i.alt === a);
		if (!img)
			return null;
		img.scrollIntoView({ block: 'nearest' });
		if (!img.complete || !img.naturalWidth)
			return null;
		const link = img.closest('a'), msg = img.closest('.ct-msg'), text = msg.querySelector('.ct-text');
		return {
			w: img.naturalWidth, h: img.naturalHeight, src: img.src, href: link.href, target: link.target,
			rel: link.rel, lazy: img.loading, shownW: img.getBoundingClientRect().width,
			shownH: img.getBoundingClientRect().height, text: text ? text.textContent : null,
		};
	}, alt), 20000, 200);
}

await run('browser_files', 270, async (T, logs) => {
	const state = process.env.CT_STATE;
	const env = readEnv(state);
	const { o1, o2 } = await startTwoApps(env, state);
	const channel = await newChannel(env, 'files');
	const MAX = maxSize(env);
	fs.mkdirSync(SHOTS, { recursive: true });

	const browser = await launch();
	try {
		const { cb, pa, pb } = await aliceAndCarol(browser, o1, o2, logs);
		await pa.goto(`${o1}/chat?channel=${channel}`);
		await pb.goto(`${o2}/chat?channel=${channel}`);
		T.ok(await until(async () => (await widgetState(pa)) === 'open', 15000), 'app1 widget connects');
		T.ok(await until(async () => (await widgetState(pb)) === 'open', 15000), 'app2 widget connects');
		const wa = widget(pa), wb = widget(pb);
		T.ok(await until(() => wa.evaluate(() => !!document.querySelector('.ct-chan[aria-current="true"]')), 5000),
			'app1 widget shows its channel');
		T.ok(await wa.evaluate(() => {
			const b = document.getElementById('ct-attach');
			return !!b && !b.hidden && !b.disabled && !!b.getAttribute('aria-label');
		}), 'the composer has a labelled attach button');

		// 1. the paperclip's file picker
		const [chooser] = await Promise.all([wa.page().waitForEvent('filechooser', { timeout: 5000 }),
			wa.click('#ct-attach')]);
		T.ok(chooser && chooser.isMultiple(), 'the attach button opens a picker for several files');
		await chooser.setFiles([{ name: 'red.png', mimeType: 'image/png', buffer: png(30, 20, [220, 30, 30]) },
			{ name: 'wide.png', mimeType: 'image/png', buffer: png(60, 10, [240, 200, 0]) }]);
		const c1 = await uploaded(wa, 2);
		T.ok(c1 && c1[0].name === 'red.png' && c1[1].name === 'wide.png' && /bytes|KB/.test(c1[0].status),
			'two images picked at once upload: their chips', JSON.stringify(await chips(wa)));
		await sendInWidget(wa, 'a red picture');
		const red = await preview(wb, 'red.png');
		T.ok(red && red.w === 30 && red.h === 20, 'app2 (the other origin) shows the picked image, loaded (30x20)',
			JSON.stringify(red));
		T.ok(red && red.src.startsWith(`${env.CROSSTALK_HTTP}/files?`) && /[?&]s=/.test(red.src) && /[?&]e=\d+/.test(red.src),
			'the preview is a signed link on the API', red && red.src);
		T.ok(red && red.href === red.src && red.target === '_blank' && /noopener/.test(red.rel) && red.lazy === 'lazy',
			'the preview links the full file in a new tab, lazily loaded', JSON.stringify(red));
		T.ok(red && red.text === 'a red picture', 'with the text sent beside it');
		const wide = await preview(wb, 'wide.png');
		T.ok(wide && wide.w === 60 && wide.h === 10 && wide.text === 'a red picture', 'and the second image of that message',
			JSON.stringify(wide));
		T.ok(await until(() => wa.evaluate(() => Array.from(document.querySelectorAll('#ct-messages .ct-msg:not(.ct-pending) img'))
			.some((i) => i.alt === 'red.png' && i.complete && i.naturalWidth === 30)), 10000), 'and app1 shows it too');
		T.eq(await chips(wa), [], 'the chips are gone once sent');
		const ev = await until(() => pb.evaluate(() => window.ctEvents.find((e) => e.type === 'crosstalk:message' &&
			e.text === 'a red picture')), 5000);
		T.ok(ev && ev.files && ev.files.length === 2 && ev.files[0].name === 'red.png' && ev.files[0].type === 'image/png',
			'the page hears crosstalk:message with its files', JSON.stringify(ev));
		const [tab] = await Promise.all([cb.waitForEvent('page', { timeout: 10000 }),
			wb.click('#ct-messages .ct-file-image img[alt="red.png"]')]);
		await tab.waitForLoadState('load').catch(() => {});
		T.ok(tab.url() === red.src, 'clicking the preview opens the file in a new tab', tab.url());
		await tab.close();

		// 2. pasted into the composer: sent without text
		const b64 = (buf) => buf.toString('base64');
		const pasted = await wa.evaluate((data) => {
			const bytes = Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
			const dt = new DataTransfer();
			dt.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
			const input = document.getElementById('ct-input');
			input.focus();
			return input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
		}, b64(png(16, 24, [30, 160, 60])));
		T.ok(pasted === false, 'the widget takes the pasted file (the paste is not left to the textarea)');
		T.ok(await uploaded(wa, 1), 'a pasted image uploads', JSON.stringify(await chips(wa)));
		T.eq(await wa.evaluate(() => document.getElementById('ct-input').value), '', 'the composer stays empty');
		await wa.press('#ct-input', 'Enter');
		const green = await preview(wb, 'pasted.png');
		T.ok(green && green.w === 16 && green.h === 24, 'app2 shows the pasted image, loaded (16x24)', JSON.stringify(green));
		T.ok(green && green.text === null, 'a message of a file alone has no text line');

		// 3. dropped on the chat
		const drop = await wa.evaluate((data) => {
			const bytes = Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
			const dt = new DataTransfer();
			dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
			const target = document.getElementById('ct-messages');
			const fire = (type) => target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
			fire('dragenter');
			const over = fire('dragover');
			const shown = !document.getElementById('ct-drop').hidden;
			const dropped = fire('drop');
			return { over, shown, dropped, after: !document.getElementById('ct-drop').hidden };
		}, b64(png(12, 9, [40, 70, 200])));
		T.eq(drop, { over: false, shown: true, dropped: false, after: false },
			'a drag of files shows the drop zone; the drop is the widget\'s, not the browser\'s');
		T.ok(await uploaded(wa, 1), 'a dropped image uploads', JSON.stringify(await chips(wa)));
		await sendInWidget(wa, 'dropped one');
		const blue = await preview(wb, 'dropped.png');
		T.ok(blue && blue.w === 12 && blue.h === 9 && blue.text === 'dropped one', 'app2 shows the dropped image, loaded (12x9)',
			JSON.stringify(blue));

		// 4. other files: download links with name and size
		const report = pdf(3072), notes = Buffer.from('order 10248: three crates, shipped\n'.repeat(4));
		await wa.setInputFiles('#ct-file', [
			{ name: 'report.pdf', mimeType: 'application/pdf', buffer: report },
			{ name: 'notes.txt', mimeType: 'text/plain', buffer: notes },
		]);
		T.ok(await uploaded(wa, 2), 'two files picked at once upload', JSON.stringify(await chips(wa)));
		await sendInWidget(wa, 'the report');
		const docs = await until(() => wb.evaluate(() => {
			const msg = Array.from(document.querySelectorAll('#ct-messages .ct-msg:not(.ct-pending)'))
				.find((m) => m.querySelector('.ct-text') && m.querySelector('.ct-text').textContent === 'the report');
			if (!msg)
				return null;
			const links = Array.from(msg.querySelectorAll('a.ct-file-link'));
			if (links.length !== 2 || links.some((a) => !a.href))
				return null;
			return {
				imgs: msg.querySelectorAll('img').length,
				links: links.map((a) => ({ text: a.textContent, href: a.href, target: a.target })),
			};
		}), 15000);
		T.ok(docs, 'app2 shows the two files as links');
		if (docs) {
			T.eq(docs.links.map((l) => l.text), ['report.pdf · 3 KB', `notes.txt · ${notes.length} bytes`],
				'each link says the file\'s name and size');
			T.eq(docs.imgs, 0, 'no preview for a file that is not an image');
			T.ok(docs.links.every((l) => l.target === '_blank' && l.href.startsWith(`${env.CROSSTALK_HTTP}/files?`)),
				'the links are signed links on the API, opening a new tab');
			const r = await fetch(docs.links[0].href);
			const body = Buffer.from(await r.arrayBuffer());
			T.eq([r.status, (r.headers.get('content-disposition') || '').split(';')[0], r.headers.get('content-type')],
				[200, 'attachment', 'application/pdf'], 'the PDF\'s link fetches as an attachment');
			T.ok(body.equals(report), 'with the bytes uploaded');
			const r2 = await fetch(docs.links[1].href);
			T.ok(r2.status === 200 && /^attachment/.test(r2.headers.get('content-disposition') || '') &&
				(await r2.text()) === notes.toString(), 'the text file too');
			const forged = docs.links[0].href.replace(/([?&]s=)([0-9a-f])/, (m, k, c) => k + (c === '0' ? '1' : '0'));
			const bad = (await fetch(forged)).status;
			T.ok(bad >= 400 && bad < 500, 'a link with a changed signature is refused', String(bad));
		}

		// 5. too large: refused with its name, the typed text stays
		await wa.fill('#ct-input', 'keep this text');
		const big = Buffer.alloc(MAX + 1);
		png(4, 4, [0, 0, 0]).copy(big);
		await wa.setInputFiles('#ct-file', { name: 'huge.png', mimeType: 'image/png', buffer: big });
		const tooBig = await until(async () => {
			const c = await chips(wa);
			return c.length === 1 && c[0].state === 'error' ? c[0] : null;
		}, 20000);
		T.ok(tooBig && tooBig.name === 'huge.png' && /too large/i.test(tooBig.status), 'a file over max_size shows "too large" by its name',
			JSON.stringify(await chips(wa)));
		T.ok(await wa.evaluate(() => !!document.querySelector('#ct-files .ct-file-chip[data-state="error"] .ct-file-error')),
			'as an error');
		T.eq(await wa.evaluate(() => document.getElementById('ct-input').value), 'keep this text', 'the typed text stays');
		await wa.click('#ct-files .ct-file-chip .ct-file-remove');
		T.eq(await chips(wa), [], 'the refused file\'s chip can be removed');

		// the server refuses it too (the widget checks first), readable cross-origin
		const ref = await session(env, 'app1', 'alice', 'Alice Adams');
		const own = await wa.evaluate(async ({ t, ch, max }) => {
			const out = { frames: [] };
			const c = new window.crosstalk.Connection({ url: window.crosstalk.wsUrlFor(location.href), ticket: t });
			c.on('frame', (f) => out.frames.push(f.type));
			const open = new Promise((ok) => c.on('welcome', ok));
			c.open();
			await open;
			window.ctOwn = c;
			const target = await c.uploadTarget(ch.name);
			out.target = { url: target.url, max: target.max_size, token: !!target.token, exp: target.expires_at_ms - Date.now() };
			// a PNG (a type it takes) one byte over
			const head = new Uint8Array(await (await fetch('data:image/png;base64,' + ch.png)).arrayBuffer());
			const huge = new Uint8Array(max + 1);
			huge.set(head);
			const fd = new FormData();
			fd.append('token', target.token);
			fd.append('file', new Blob([huge]), 'huge.png');
			try {
				const r = await fetch(target.url, { method: 'POST', body: fd });
				out.big = { status: r.status, body: await r.json() };
			} catch (e) {
				out.big = { error: String(e) };
			}
			// upload(): progress, and the attachment
			const progress = [];
			const blob = new Blob([new Uint8Array(await (await fetch('data:image/png;base64,' + ch.png)).arrayBuffer()),
				new Uint8Array(1 << 20)], { type: 'image/png' });
			try {
				const a = await c.upload(ch.name, blob, { name: 'progress.png', onProgress: (p) => progress.push(p) });
				out.up = { a, progress, preflight: c.uploadProgress };
			} catch (e) {
				out.up = { error: e.code + ' ' + e.message, progress };
			}
			// a refusal is an Error with the server's code
			try {
				await c.upload(ch.name, new Blob(['<!doctype html><title>x</title><p>hi']), { name: 'page.html' });
				out.refused = 'accepted';
			} catch (e) {
				out.refused = { isError: e instanceof Error, code: e.code, status: e.status };
			}
			return out;
		}, { t: await ticket(env, 'app1', ref), ch: { name: channel, png: b64(png(8, 8, [9, 9, 9])) }, max: MAX });
		T.ok(own.target && own.target.token && own.target.max === MAX && own.target.url.startsWith(env.CROSSTALK_HTTP) &&
			own.target.exp > 0, 'the upload frame answers url, token, max_size, expires_at_ms', JSON.stringify(own.target));
		T.ok(own.big && own.big.status === 413 && own.big.body && own.big.body.error && own.big.body.error.code === 'too_large',
			'the server answers 413 too_large to a file over max_size, readable from the widget\'s origin', JSON.stringify(own.big));
		T.ok(own.up && own.up.a && own.up.a.name === 'progress.png' && own.up.a.type === 'image/png' &&
			own.up.a.size === (1 << 20) + png(8, 8, [9, 9, 9]).length && own.up.a.channel === channel && own.up.a.id,
			'upload() resolves with the attachment', JSON.stringify(own.up));
		// progress needs the API to answer a CORS preflight (an upload
		// listener makes the browser send one); without it crosstalk.js
		// uploads once more without a listener, and reports only the start
		const prog = (own.up && own.up.progress) || [];
		if (own.up && own.up.preflight === true) {
			T.ok(prog.length >= 2 && prog[prog.length - 1].loaded >= prog[prog.length - 1].total && prog[0].loaded === 0,
				'upload() reports progress up to the whole file', JSON.stringify(prog.slice(0, 3).concat(prog.slice(-2))));
		} else {
			console.log('NOTE: the API did not answer the CORS preflight of an upload with a progress listener ' +
				'(OPTIONS attachments): uploads work, without progress');
			T.ok(own.up && own.up.preflight === false && prog.length >= 1 && prog[0].loaded === 0,
				'without a preflight, upload() goes on without progress', JSON.stringify(own.up && own.up.preflight));
		}
		T.eq(own.refused, { isError: true, code: 'unsupported_media_type', status: 415 },
			'a refused upload rejects with an Error carrying the server\'s code and status');
		T.eq(own.frames.filter((f) => f === 'upload').length, 1, 'the upload token is kept for the channel (one upload frame)');

		// fileUrls(): batched, at most 50 ids a frame, kept until near expiry
		const sentIds = await wa.evaluate(() => Array.from(new Set(Array.from(
			document.querySelectorAll('#ct-messages .ct-msg:not(.ct-pending) [data-file-id]')).map((a) => a.getAttribute('data-file-id')))));
		T.eq(sentIds.length, 6, 'six files were sent');
		const urls = await wa.evaluate(async (ids) => {
			const c = window.ctOwn;
			let n = 0;
			c.on('frame', (f) => {
				if (f.type === 'files')
					n++;
			});
			const many = ids.concat(Array.from({ length: 60 }, (_, i) => String(900000 + i)));
			const first = await c.fileUrls(many);
			const framesFirst = n;
			const again = await c.fileUrls(ids);
			return {
				framesFirst, framesAgain: n - framesFirst, unknown: first['900000'] && first['900000'].url,
				same: ids.every((id) => again[id] && first[id] && again[id].url === first[id].url),
				exp: ids.every((id) => first[id].expires_at_ms > Date.now()),
			};
		}, sentIds);
		T.eq(urls.framesFirst, 2, 'fileUrls asks 66 ids in two files frames (at most 50 each)');
		T.ok(urls.same && urls.exp && urls.framesAgain === 0,
			'links come back for the files, and are kept (no frame the second time)', JSON.stringify(urls));
		if (urls.unknown) { // links are signed for any id; the file decides when fetched
			const st = (await fetch(urls.unknown)).status;
			T.ok(st === 404 || st === 403, 'a link to a file that does not exist fetches nothing', String(st));
		}
		await wa.evaluate(() => window.ctOwn.close());

		// 6. types refused: an HTML page, and an executable named .png
		const elf = fs.readFileSync('/bin/true');
		await wa.setInputFiles('#ct-file', [
			{ name: 'page.html', mimeType: 'text/html', buffer: Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>\n') },
			{ name: 'tool.png', mimeType: 'image/png', buffer: elf },
		]);
		const refused = await until(async () => {
			const c = await chips(wa);
			return c.length === 2 && c.every((x) => x.state === 'error') ? c : null;
		}, 20000);
		T.ok(refused && refused.every((x) => /cannot be sent/.test(x.status)) &&
			refused.map((x) => x.name).join() === 'page.html,tool.png',
			'an HTML page and an executable named .png are refused for their type, by name', JSON.stringify(await chips(wa)));
		T.eq(await wa.evaluate(() => document.getElementById('ct-input').value), 'keep this text', 'the text still stays');
		await wa.press('#ct-input', 'Enter');
		T.ok(await until(async () => (await messageTexts(wb)).includes('keep this text'), 10000),
			'Send sends the text without the refused files');
		T.ok(await wb.evaluate(() => {
			const msg = Array.from(document.querySelectorAll('#ct-messages .ct-msg'))
				.find((m) => m.querySelector('.ct-text') && m.querySelector('.ct-text').textContent === 'keep this text');
			return !!msg && !msg.querySelector('.ct-attachments');
		}), 'and no file with it');
		T.eq((await chips(wa)).length, 2, 'the refused chips stay until removed');

		// every control has a name; fits 320 px with a preview
		T.eq(await wa.evaluate(() => Array.from(document.querySelectorAll('#ct-files button, .ct-attachments a'))
			.filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim() || (e.querySelector('img') || {}).alt))
			.length), 0, 'chip buttons and file links are labelled');
		await pb.evaluate(() => { window.crosstalkChat.iframe.style.width = '320px'; });
		await sleep(400);
		const fit = await wb.evaluate(() => {
			const imgs = Array.from(document.querySelectorAll('#ct-messages .ct-file-image img'));
			return {
				doc: document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1,
				imgs: imgs.length >= 3 && imgs.every((i) => i.getBoundingClientRect().width <= 241 && i.getBoundingClientRect().height <= 181),
				attach: document.getElementById('ct-attach').getBoundingClientRect().width > 0,
			};
		});
		T.eq(fit, { doc: true, imgs: true, attach: true }, 'at 320 px: no overflow, previews within 240x180, the paperclip shown');
		await wb.evaluate(() => { document.getElementById('ct-messages').scrollTop = 1e6; });
		await pb.screenshot({ path: path.join(SHOTS, 'files-app2-320.png') });
		await pa.screenshot({ path: path.join(SHOTS, 'files-app1.png') });
		T.ok(!logs.some((l) => /pageerror/.test(l)), 'no script error in either page', logs.filter((l) => /pageerror/.test(l)).join('; '));
	} finally {
		await browser.close();
	}
});
