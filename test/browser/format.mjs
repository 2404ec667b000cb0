// format.mjs - web/format.js in Chromium: what becomes a link, code, bold
// or italic, and what never does (other schemes, markup, entities, bidi
// overrides), case by case against the DOM it builds. No stack needed.
import fs from 'node:fs';
import path from 'node:path';
import { run, launch, SRC } from './lib.mjs';

// [message text, the DOM expected, serialized by ser() below]
const CASES = [
	['plain words', 'plain words'],
	['see https://example.com/a_b_c.', 'see <a href="https://example.com/a_b_c">https://example.com/a_b_c</a>.'],
	['*bold* and _italic_', '<strong>bold</strong> and <em>italic</em>'],
	['snake_case_name and 2*3*4 and a*b', 'snake_case_name and 2*3*4 and a*b'],
	['* not bold * and _ _ and ** and __', '* not bold * and _ _ and ** and __'],
	['*bold _nested_ bold*', '<strong>bold <em>nested</em> bold</strong>'],
	['_*both*_', '<em><strong>both</strong></em>'],
	['*never **twice* nested*', '<strong>never **twice</strong> nested*'],
	['**bold** and __this__', '<strong>bold</strong> and <em>this</em>'],
	['`x < y && *z*`', '<code>x &lt; y &amp;&amp; *z*</code>'],
	['```\nif (a) { *b* }\nhttps://x.example/\n```after', '<pre><code>if (a) { *b* }\nhttps://x.example/\n</code></pre>after'],
	['an `unclosed one', 'an `unclosed one'],
	['``` never closed', '``` never closed'],
	['mailto:bob@example.com!', '<a href="mailto:bob@example.com">mailto:bob@example.com</a>!'],
	['(see https://en.wikipedia.org/wiki/Foo_(bar))', '(see <a href="https://en.wikipedia.org/wiki/Foo_(bar)">https://en.wikipedia.org/wiki/Foo_(bar)</a>)'],
	['*https://example.com/x*', '<strong><a href="https://example.com/x">https://example.com/x</a></strong>'],
	['HTTPS://EXAMPLE.COM/Up', '<a href="https://example.com/Up">HTTPS://EXAMPLE.COM/Up</a>'],
	// never links
	['javascript:alert(1)', 'javascript:alert(1)'],
	['JaVaScRiPt:alert(1) vbscript:x data:text/html,<script>alert(1)</script> file:///etc/passwd',
		'JaVaScRiPt:alert(1) vbscript:x data:text/html,&lt;script&gt;alert(1)&lt;/script&gt; file:///etc/passwd'],
	['[click](javascript:alert(1))', '[click](javascript:alert(1))'],
	['xhttps://example.com/ http:// https://', 'xhttps://example.com/ http:// https://'],
	['https://example.com/<script>alert(1)</script>', '<a href="https://example.com/">https://example.com/</a>&lt;script&gt;alert(1)&lt;/script&gt;'],
	['https://example.com/"onmouseover="alert(1)', '<a href="https://example.com/">https://example.com/</a>"onmouseover="alert(1)'],
	['"><img src=x onerror=alert(1)><b>b</b>', '"&gt;&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;b&lt;/b&gt;'],
	['&lt;b&gt;x&lt;/b&gt; &amp; &#106;avascript:', '&amp;lt;b&amp;gt;x&amp;lt;/b&amp;gt; &amp;amp; &amp;#106;avascript:'],
	['https://example.com/%3Cscript%3E', '<a href="https://example.com/%3Cscript%3E">https://example.com/%3Cscript%3E</a>'],
	// bidi: an override cannot turn an address around or leak into it
	['https://evil.example/\u202Egnp.exe', '<a href="https://evil.example/gnp.exe">https://evil.example/gnp.exe</a>'],
	['\u202Eabc https://x.example/ def', '\u202Eabc <a href="https://x.example/">https://x.example/</a> def'],
	['line one\nline two', 'line one\nline two'],
];

await run('browser_format', 90, async (T, logs) => {
	const src = fs.readFileSync(path.join(SRC, 'web/format.js'), 'utf8');
	const browser = await launch();
	try {
		const page = await browser.newPage();
		page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
		page.on('dialog', (d) => {
			logs.push(`[dialog] ${d.message()}`);
			d.dismiss().catch(() => {});
		});
		await page.setContent('<!doctype html><meta charset="utf-8"><div id="out"></div>');
		await page.addScriptTag({ content: src });
		const got = await page.evaluate((cases) => {
			const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
			const ser = (n) => {
				if (n.nodeType === 3)
					return esc(n.data);
				const tag = n.nodeName.toLowerCase();
				const inner = Array.from(n.childNodes).map(ser).join('');
				return tag === 'a' ? `<a href="${n.getAttribute('href')}">${inner}</a>` : `<${tag}>${inner}</${tag}>`;
			};
			const out = document.getElementById('out');
			return cases.map(([text]) => {
				out.textContent = '';
				out.appendChild(window.crosstalkFormat.render(text, document));
				const els = Array.from(out.querySelectorAll('*'));
				return {
					dom: Array.from(out.childNodes).map(ser).join(''),
					tags: [...new Set(els.map((e) => e.nodeName.toLowerCase()))],
					links: Array.from(out.querySelectorAll('a')).map((a) => ({
						protocol: a.protocol, target: a.target, rel: a.rel, dir: a.getAttribute('dir'),
						bidi: /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(a.textContent + a.href),
						attrs: a.getAttributeNames().sort().join(','),
					})),
					attrs: els.flatMap((e) => e.getAttributeNames()).filter((a) => /^on/i.test(a) || a === 'style'),
				};
			});
		}, CASES);
		CASES.forEach(([text, want], i) => {
			const g = got[i];
			T.eq(g.dom, want, `renders ${JSON.stringify(text)}`);
			T.ok(g.tags.every((t) => ['a', 'strong', 'em', 'code', 'pre'].includes(t)),
				`only a, strong, em, code, pre from ${JSON.stringify(text)}`, g.tags.join(','));
			T.ok(g.attrs.length === 0, `no event handler or style attribute from ${JSON.stringify(text)}`, g.attrs.join(','));
			for (const a of g.links) {
				T.ok(['http:', 'https:', 'mailto:'].includes(a.protocol), `link scheme http(s)/mailto only (${text})`, a.protocol);
				T.ok(a.target === '_blank' && a.rel === 'noopener noreferrer' && a.dir === 'ltr' &&
					a.attrs === 'class,dir,href,rel,target',
				`link opens apart, without opener or referrer, isolated (${JSON.stringify(text)})`, JSON.stringify(a));
				T.ok(!a.bidi, `no bidi control in a link (${JSON.stringify(text)})`);
			}
		});
		// 2,000 openers without a closer stay text (each looks once ahead)
		const long = await page.evaluate(() => {
			const s = '*a'.repeat(2000);
			const out = document.getElementById('out');
			out.textContent = '';
			out.appendChild(window.crosstalkFormat.render(s, document));
			return out.textContent === s;
		});
		T.ok(long, '2,000 unclosed markers come back as the same text');
		T.ok(!logs.some((l) => l.includes('[dialog]') || l.includes('[pageerror]')), 'nothing ran, no page error',
			logs.join('; '));
	} finally {
		await browser.close();
	}
});
